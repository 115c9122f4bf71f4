"""Adversarial training: harden a copy of a model, then re-test the original and the hardened model.

    outcome = yield from adversarial_training_workflow(classifier, AdversarialTrainingRequest(
        data="demo/", out_dir="hardened/", config=TrainingConfig(method="fgsm", eps=2/255, epochs=2),
        attacks=["fgsm", "pgd"], eps_grid="1/255,2/255,4/255"))

Two phases, which the GUI runs as two jobs (so the hardened model is kept and
shown when the re-test is cancelled) and ``medadv train-adv`` as one:

1. :func:`training_phase`: read the training data (``DIR/train`` when ``DIR``
   has ``train/`` and ``test/``), run
   :func:`~medadv_desktop.engine.training.job.adversarial_training_job`
   (checkpoints, resume, the hardened model and its card in ``out_dir``),
   and choose the re-test set (:func:`retest_set`, the one rule);
2. :func:`retest_phase`: the before/after table
   (:func:`~medadv_desktop.engine.training.before_after.before_after_job`,
   every attack at the training eps and over the eps grid), saved as
   ``before_after.json`` in ``out_dir`` (never over an existing file).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medadv_desktop.engine.jobs import CancelToken, Job, Progress, relay
from medadv_desktop.engine.results.before_after import BeforeAfterResult
from medadv_desktop.engine.results.training import TrainingResult
from medadv_desktop.engine.training.config import TrainingConfig
from medadv_desktop.errors import OutputExistsError

DEFAULT_EPS_GRID = "1/255,2/255,4/255"
TABLE_FILE = "before_after.json"

RETEST_TEST_FOLDER = "test/ folder"
RETEST_VALIDATION = "held-out validation split"
RETEST_TRAINING = "training data (no validation split: optimistic)"


@dataclass
class AdversarialTrainingRequest:
    """A training run and its re-test. ``eps_grid`` and the attacks' parameters may be text."""

    data: str | Path                                 # labelled folder; with train/ + test/ sub-folders
    out_dir: str | Path                              # new or empty folder (or this run's, to resume)
    config: TrainingConfig
    attacks: Sequence[str | tuple[str, Mapping[str, Any]]] = ()   # re-test attacks; () = default_attacks()
    eps_grid: str | Sequence[str | float] = DEFAULT_EPS_GRID        # the training eps is always added
    max_eval_samples: int | None = None              # re-test a seeded, class-balanced subset
    eval_batch_size: int = 32
    resume: bool = True
    device: str | None = None                        # where the hardened model is loaded for the re-test


@dataclass
class RetestSet:
    """The samples of the before/after re-test and where they come from (shown to the user)."""

    dataset: Any                                     # LabelledDataset
    source: str                                      # RETEST_TEST_FOLDER, RETEST_VALIDATION or RETEST_TRAINING


@dataclass
class TrainingPhaseOutcome:
    result: TrainingResult
    retest: RetestSet
    train_set: Any                                   # the LabelledDataset trained on


@dataclass
class RetestOutcome:
    table: BeforeAfterResult
    table_path: Path | None                          # None: before_after.json already existed (kept)


@dataclass
class AdversarialTrainingOutcome:
    training: TrainingPhaseOutcome
    retest: RetestOutcome


def retest_set(train_set: Any, test_dir: Path | None, config: TrainingConfig, class_names: Sequence[str]) -> RetestSet:
    """The re-test rule: the ``test/`` folder when there is one, else the validation split the
    training held out (same seed and fraction), else, without one, the training data (optimistic)."""
    from medadv_desktop.engine.datasets import LabelledDataset
    from medadv_desktop.engine.training.job import stratified_split

    if test_dir is not None:
        return RetestSet(LabelledDataset.from_folder(test_dir, list(class_names)), RETEST_TEST_FOLDER)
    _, val_idx = stratified_split(train_set.labels, config.val_split, config.seed)
    if val_idx:
        return RetestSet(train_set.subset(val_idx), RETEST_VALIDATION)
    return RetestSet(train_set, RETEST_TRAINING)


def training_phase(classifier: Any, request: AdversarialTrainingRequest, *, cancel: CancelToken | None = None,
                   observe: Callable[[Progress], None] | None = None) -> Job[TrainingPhaseOutcome]:
    """Read the data, train, choose the re-test set. Events (stage ``"train"``): ``data["kind"]``
    ``"data"`` (training set read: name, n_samples, synthetic, n_failures), then the training job's
    (``"baseline"``, ``"batch"``, ``"epoch"``, ``"resume"``, ``"save"``; each also passed to ``observe``)."""
    from medadv_desktop.engine.datasets import LabelledDataset
    from medadv_desktop.engine.training.job import adversarial_training_job, resolve_split_dirs

    yield Progress("train", 0, 0, "Reading the labelled data set", {"kind": "read"})
    train_dir, test_dir = resolve_split_dirs(request.data)
    class_names = list(classifier.card.class_names)
    train_set = LabelledDataset.from_folder(train_dir, class_names)
    yield Progress("train", 0, 0, f"Training data: {len(train_set)} samples",
                   {"kind": "data", "name": train_set.name, "n_samples": len(train_set),
                    "synthetic": bool(train_set.synthetic), "n_failures": len(train_set.failures)})
    job = adversarial_training_job(classifier, train_set, request.config, request.out_dir, resume=request.resume,
                                   cancel=cancel)
    result = yield from relay(job, observe=observe)
    return TrainingPhaseOutcome(result, retest_set(train_set, test_dir, request.config, class_names), train_set)


def retest_phase(original: Any, phase: TrainingPhaseOutcome, request: AdversarialTrainingRequest, *,
                 cancel: CancelToken | None = None) -> Job[RetestOutcome]:
    """The before/after table of ``original`` and the hardened model on the re-test set, saved in
    ``out_dir``. Events: stage ``"evaluate"`` (0..2, one unit per model), after a first one with
    ``data["kind"] == "retest"`` (source, n_samples, attacks)."""
    from medadv_desktop.engine.attacks import default_attacks, parse_budget_list
    from medadv_desktop.engine.training.before_after import before_after_job
    from medadv_desktop.engine.workflows.evaluation import attack_specs

    card = original.card
    npu = card.intensity.native_per_unit()
    attacks = attack_specs(list(request.attacks) or default_attacks(), npu)
    grid = parse_budget_list(request.eps_grid, npu)
    eval_set = phase.retest.dataset
    n = min(len(eval_set), request.max_eval_samples or len(eval_set))
    yield Progress("evaluate", 0, 2, f"Re-testing on the {phase.retest.source}: {n} samples",
                   {"kind": "retest", "source": phase.retest.source, "n_samples": n,
                    "attacks": [name for name, _ in attacks]})
    result = phase.result
    table = yield from before_after_job(
        original, result.model_card_path, eval_set, attacks, request.config.eps, grid, training=result,
        batch_size=request.eval_batch_size, seed=request.config.seed, max_samples=request.max_eval_samples,
        device=request.device, cancel=cancel)
    try:
        path: Path | None = table.save_table(Path(result.out_dir) / TABLE_FILE)
    except OutputExistsError:               # already there: never overwritten
        path = None
    return RetestOutcome(table, path)


def adversarial_training_workflow(classifier: Any, request: AdversarialTrainingRequest, *,
                                  cancel: CancelToken | None = None,
                                  observe: Callable[[Progress], None] | None = None
                                  ) -> Job[AdversarialTrainingOutcome]:
    """Both phases, one after the other (``medadv train-adv``)."""
    from medadv_desktop.engine.attacks import parse_budget_list
    from medadv_desktop.engine.workflows.evaluation import attack_specs

    npu = classifier.card.intensity.native_per_unit()
    attack_specs(list(request.attacks) or ["fgsm"], npu)    # bad names or options fail before training
    parse_budget_list(request.eps_grid, npu)
    phase = yield from training_phase(classifier, request, cancel=cancel, observe=observe)
    yield Progress("train", 1, 1, "Hardened model written", {"kind": "trained",
                                                               "model_card_path": phase.result.model_card_path})
    retest = yield from retest_phase(classifier, phase, request, cancel=cancel)
    return AdversarialTrainingOutcome(phase, retest)
