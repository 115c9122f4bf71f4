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
   every attack at the training eps and over the eps grid) and, unless
   switched off, the same for a few acquisition and archive corruptions at a
   middle severity (:func:`retest_corruptions`: hardening for attacks can cost
   natural robustness; the table shows the paired change), saved as
   ``before_after.json`` in ``out_dir`` (never over an existing file), and the
   full result with both evaluations' per-sample outcomes as
   ``before_after_result.json`` (what the paired McNemar test of
   ``medadv report before_after_result.json --before-after-report`` needs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from medadv_desktop.engine.jobs import CancelToken, Job, Progress, relay
from medadv_desktop.engine.results.before_after import BeforeAfterResult
from medadv_desktop.engine.results.training import TrainingResult
from medadv_desktop.engine.training.config import TrainingConfig
from medadv_desktop.errors import AttackConfigError, DatasetError, OutputExistsError, OutputWriteError

DEFAULT_EPS_GRID = "1/255,2/255,4/255"
TABLE_FILE = "before_after.json"
RESULT_FILE = "before_after_result.json"

RETEST_TEST_FOLDER = "test/ folder"
RETEST_VALIDATION = "held-out validation split"
RETEST_TRAINING = "training data (no validation split: optimistic)"

#: the corruption re-test by default: the modality's noise (CT dose in HU, MR Rician), blur and JPEG 2000
#: (the archive artefact the demo model is known to fail), those of them whose physics fits the data
SMALL_CORRUPTIONS = "small"
SMALL_CORRUPTION_SET = ("ct_dose", "rician", "blur", "jpeg2000")
DEFAULT_CORRUPTION_SEVERITIES = "3"
CORRUPTIONS_OFF = ("none", "off", "no", "")


@dataclass
class AdversarialTrainingRequest:
    """A training run and its re-test. ``eps_grid`` and the attacks' parameters may be text."""

    data: str | Path                                 # labelled folder; with train/ + test/ sub-folders
    out_dir: str | Path                              # new or empty folder (or this run's, to resume)
    config: TrainingConfig
    attacks: Sequence[str | tuple[str, Mapping[str, Any]]] = ()   # re-test attacks or a suite; () = "quick"
    eps_grid: str | Sequence[str | float] = DEFAULT_EPS_GRID        # the training eps is always added
    max_eval_samples: int | None = None              # re-test a seeded, class-balanced subset
    max_train_samples: int | None = None             # train on a seeded, class-balanced subset
    eval_batch_size: int = 32
    resume: bool = True
    device: str | None = None                        # where the hardened model is loaded for the re-test
    # re-tested corruptions: "small" (SMALL_CORRUPTION_SET), "default", "all", names, or "none" / None (off)
    corruptions: str | Sequence[str | tuple[str, Mapping[str, Any]]] | None = SMALL_CORRUPTIONS
    corruption_severities: str | Sequence[int] = DEFAULT_CORRUPTION_SEVERITIES
    #: the training budgets as the user typed them ({"eps": "6HU", "alpha": "1HU"}): a native-unit
    #: budget must be in the training data's units (checked once the data are read)
    typed_budgets: Mapping[str, str] = field(default_factory=dict)


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
    original: Any = None                             # the original classifier (loaded here when given a card)


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


def corruptions_off(choice: Any) -> bool:
    return choice is None or (isinstance(choice, str) and choice.strip().lower() in CORRUPTIONS_OFF)


def check_corruption_request(request: AdversarialTrainingRequest) -> None:
    """Severities and corruption names fail before training (whether they fit the data is known only
    once the re-test set is chosen: see :func:`retest_corruptions`)."""
    from medadv_desktop.engine.corruptions import get_corruption
    from medadv_desktop.engine.workflows.corruption import _choices, parse_severities

    if corruptions_off(request.corruptions):
        return
    parse_severities(request.corruption_severities)
    choice = request.corruptions
    if isinstance(choice, str) and choice.strip().lower() == SMALL_CORRUPTIONS:
        return
    assert choice is not None
    names = _choices(choice)
    if not isinstance(names, str):
        for name, _ in names:
            get_corruption(name)


def retest_corruptions(choice: Any, dataset: Any, seed: int = 0) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """(the corruptions to re-test on ``dataset``, a note in words when some or all were left out).

    Never raises for a misfit: the hardened model is already written, so a corruption that does not
    fit the re-test data is left out with the reason (the attack table is still made)."""
    from medadv_desktop.engine.corruptions import CorruptionConfigError
    from medadv_desktop.engine.workflows.corruption import resolve_corruptions

    if corruptions_off(choice):
        return [], "Corruptions not re-tested (switched off)."
    if not getattr(dataset, "studies", None) or any(s.study_index < 0 for s in dataset.samples):
        return [], "Corruptions not re-tested: the re-test set holds [0, 1] images, not the studies' native pixels."
    from medadv_desktop.engine.workflows.corruption import _choices

    small = isinstance(choice, str) and choice.strip().lower() == SMALL_CORRUPTIONS
    named = None if small else _choices(choice)
    if isinstance(named, list):                 # each named corruption on its own: the ones that fit are kept
        chosen, skipped = [], []
        for name, params in named:
            try:
                chosen.extend(resolve_corruptions([(name, params)], dataset, seed)[0])
            except CorruptionConfigError as exc:
                skipped.append((name, str(exc)))
        left = "; ".join(f"{name}: {why}" for name, why in skipped)
        if not chosen:
            return [], f"Corruptions not re-tested: {left}"
        return chosen, (f"Not re-tested: {left}" if left else "")
    try:
        chosen, skipped = resolve_corruptions("default" if small else choice, dataset, seed)
    except CorruptionConfigError as exc:
        return [], f"Corruptions not re-tested: {exc}"
    if small:
        chosen = [c for c in chosen if c[0] in SMALL_CORRUPTION_SET]
        if not chosen:
            return [], "Corruptions not re-tested: none of the small set fits this data."
        return chosen, ""
    left = "; ".join(f"{name}: {why}" for name, why in skipped)
    return chosen, (f"Not re-tested: {left}" if left else "")


def _card_of(classifier: Any) -> Any:
    from medadv_desktop.engine.models.card import ModelCard

    if isinstance(classifier, (str, Path)):
        return ModelCard.load(classifier)
    return classifier if isinstance(classifier, ModelCard) else classifier.card


def training_phase(classifier: Any, request: AdversarialTrainingRequest, *, cancel: CancelToken | None = None,
                   observe: Callable[[Progress], None] | None = None) -> Job[TrainingPhaseOutcome]:
    """Read the data, train, choose the re-test set. ``classifier``: a loaded classifier, or a model
    card / its path, then loaded (on ``request.device``) only after the data are read and checked.
    Events (stage ``"train"``): ``data["kind"]`` ``"data"`` (training set read: name, n_samples,
    synthetic, n_failures), then the training job's (``"baseline"``, ``"batch"``, ``"epoch"``,
    ``"resume"``, ``"save"``; each also passed to ``observe``)."""
    from medadv_desktop.engine.attacks import check_budget_units
    from medadv_desktop.engine.datasets import LabelledDataset
    from medadv_desktop.engine.training.job import adversarial_training_job, resolve_split_dirs
    from medadv_desktop.engine.workflows.evaluation import check_units

    card = _card_of(classifier)
    check_request(request, card)
    yield Progress("train", 0, 0, "Reading the labelled data set", {"kind": "read"})
    train_dir, test_dir = resolve_split_dirs(request.data)
    class_names = list(card.class_names)
    train_set = LabelledDataset.from_folder(train_dir, class_names)
    if request.max_train_samples is not None and len(train_set) > request.max_train_samples:
        train_set = train_set.head(int(request.max_train_samples), seed=request.config.seed)
    for parameter, text in request.typed_budgets.items():   # "6HU" on PNGs, "6mm" on CT: refused
        check_budget_units(text, train_set.units, parameter=parameter, what="data set")
    check_units(request.eps_grid, list(request.attacks), train_set.units)
    yield Progress("train", 0, 0, f"Training data: {len(train_set)} samples",
                   {"kind": "data", "name": train_set.name, "n_samples": len(train_set),
                    "synthetic": bool(train_set.synthetic), "n_failures": len(train_set.failures)})
    if isinstance(classifier, (str, Path)) or classifier is card:
        from medadv_desktop.engine.models import load_classifier

        yield Progress("train", 0, 0, "Loading the model", {"kind": "load"})
        classifier = load_classifier(card, device=request.device)
    job = adversarial_training_job(classifier, train_set, request.config, request.out_dir, resume=request.resume,
                                   cancel=cancel)
    result = yield from relay(job, observe=observe)
    return TrainingPhaseOutcome(result, retest_set(train_set, test_dir, request.config, class_names), train_set,
                                original=classifier)


def retest_phase(original: Any, phase: TrainingPhaseOutcome, request: AdversarialTrainingRequest, *,
                 cancel: CancelToken | None = None) -> Job[RetestOutcome]:
    """The before/after table of ``original`` and the hardened model on the re-test set, saved in
    ``out_dir``. Events: stage ``"evaluate"`` (0..2, one unit per model), after a first one with
    ``data["kind"] == "retest"`` (source, n_samples, attacks)."""
    from medadv_desktop.engine.attacks import parse_budget_list
    from medadv_desktop.engine.attacks.spec import SUITE_QUICK
    from medadv_desktop.engine.reports.formatting import seconds as seconds_text
    from medadv_desktop.engine.training.before_after import before_after_job
    from medadv_desktop.engine.workflows.evaluation import attack_specs

    card = original.card
    npu = card.intensity.native_per_unit()
    attacks = attack_specs(list(request.attacks) or [SUITE_QUICK], npu)   # the quick suite: an upper bound
    grid = parse_budget_list(request.eps_grid, npu)
    eval_set = phase.retest.dataset
    n = min(len(eval_set), request.max_eval_samples or len(eval_set))
    upper_s = retest_seconds_upper_bound(original, eval_set, attacks, request, n, grid)
    yield Progress("evaluate", 0, 2, f"Re-testing on the {phase.retest.source}: {n} samples; "
                   f"at most {seconds_text(upper_s)} (an upper bound: attacks stop early on fooled samples)",
                   {"kind": "retest", "source": phase.retest.source, "n_samples": n,
                    "attacks": [name for name, _ in attacks], "upper_bound_s": upper_s}, milestone=True)
    result = phase.result
    table = yield from before_after_job(
        original, result.model_card_path, eval_set, attacks, request.config.eps, grid, training=result,
        batch_size=request.eval_batch_size, seed=request.config.seed, max_samples=request.max_eval_samples,
        device=request.device, cancel=cancel)
    yield from _retest_corruptions(original, phase, request, table, cancel)
    try:
        path: Path | None = table.save_table(Path(result.out_dir) / TABLE_FILE)
    except OutputExistsError:               # already there: never overwritten
        path = None
    except OutputWriteError as exc:         # the finished table is still here: the caller saves it elsewhere
        exc.unsaved = table
        raise
    try:
        table.save(Path(result.out_dir) / RESULT_FILE)
    except OutputExistsError:
        pass
    return RetestOutcome(table, path)


def retest_seconds_upper_bound(original: Any, eval_set: Any, attacks: list[tuple[str, dict[str, Any]]],
                               request: AdversarialTrainingRequest, n_samples: int, grid: list[float]) -> float:
    """At most how long the before/after attack table takes (both models, every attack on every sample,
    the training eps added to the grid), from a few measured samples of the re-test set on ``original``."""
    from medadv_desktop.engine.evaluation.estimate import dataset_seconds_upper_bound
    from medadv_desktop.engine.training.before_after import merge_eps_grid

    return dataset_seconds_upper_bound(original, eval_set, attacks, n_samples=n_samples,
                                       n_eps=len(merge_eps_grid(request.config.eps, grid)),
                                       batch_size=request.eval_batch_size, seed=request.config.seed, n_models=2)


def _retest_corruptions(original: Any, phase: TrainingPhaseOutcome, request: AdversarialTrainingRequest,
                        table: BeforeAfterResult, cancel: CancelToken | None) -> Job[None]:
    """Fill ``table``'s corruption rows: both models under the re-test corruptions, on the same samples
    as the attack table. Events: stage ``"corruption"``, ``data["model"]`` = ``"before"``/``"after"``."""
    from medadv_desktop.engine.evaluation.corruption import corruption_evaluation_job
    from medadv_desktop.engine.models import load_classifier
    from medadv_desktop.engine.training.before_after import pair_corruption_results
    from medadv_desktop.engine.workflows.corruption import parse_severities

    seed = request.config.seed
    eval_set = phase.retest.dataset
    if request.max_eval_samples is not None and len(eval_set) > request.max_eval_samples:
        eval_set = eval_set.head(int(request.max_eval_samples), seed=seed)   # the attack table's samples
    corruptions, note = retest_corruptions(request.corruptions, eval_set, seed)
    if corruptions and getattr(original, "card", None) is None:
        corruptions, note = [], "Corruptions not re-tested: the original model has no model card (intensity mapping)."
    table.corruption_note = note
    if not corruptions:
        return
    severities = parse_severities(request.corruption_severities)
    hardened = load_classifier(phase.result.model_card_path, device=request.device)
    results = []
    for label, model in (("before", original), ("after", hardened)):
        name = "original" if label == "before" else "hardened"
        job = corruption_evaluation_job(model, eval_set, corruptions, severities, seed=seed,
                                        batch_size=request.eval_batch_size, cancel=cancel)
        results.append((yield from relay(job, transform=partial(_corruption_event, name, label))))
    table.corruption_before, table.corruption_after = results
    table.corruption_severities = severities
    table.corruption_rows = pair_corruption_results(results[0], results[1])


def _corruption_event(name: str, label: str, event: Progress) -> Progress:
    return Progress("corruption", event.done, event.total, f"{name} model: {event.message}",
                    {**event.data, "model": label})


def adversarial_training_workflow(classifier: Any, request: AdversarialTrainingRequest, *,
                                  cancel: CancelToken | None = None,
                                  observe: Callable[[Progress], None] | None = None
                                  ) -> Job[AdversarialTrainingOutcome]:
    """Both phases, one after the other (``medadv train-adv``); ``classifier`` as in :func:`training_phase`."""
    check_request(request, _card_of(classifier))            # bad names or options fail before anything loads
    phase = yield from training_phase(classifier, request, cancel=cancel, observe=observe)
    yield Progress("train", 1, 1, "Hardened model written", {"kind": "trained",
                                                               "model_card_path": phase.result.model_card_path})
    retest = yield from retest_phase(phase.original, phase, request, cancel=cancel)
    return AdversarialTrainingOutcome(phase, retest)


def check_request(request: AdversarialTrainingRequest, card: Any) -> None:
    """Cheap checks before anything is loaded or trained (MedAdvError otherwise): the re-test attacks and
    eps grid against ``card`` (a ModelCard), the re-test numbers, the data set folder exists, and the output
    folder, which must not be an input (the data set folder, the card, its weights) nor lie inside one."""
    from medadv_desktop.engine.attacks import parse_budget_list
    from medadv_desktop.engine.safe_write import refuse_output_over_input
    from medadv_desktop.engine.workflows.evaluation import _input_paths, attack_specs
    from medadv_desktop.engine.workflows.study_attack import check_batch_size

    npu = card.intensity.native_per_unit()
    attack_specs(list(request.attacks) or ["fgsm"], npu)
    parse_budget_list(request.eps_grid, npu)
    check_corruption_request(request)
    check_batch_size(request.eval_batch_size, "eval_batch_size")
    m = request.max_eval_samples
    if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
        raise AttackConfigError(f"{m!r} is not a whole number of at least 1", parameter="max_eval_samples")
    if isinstance(request.data, (str, Path)) and not Path(request.data).is_dir():
        raise DatasetError(f"The data set folder '{Path(request.data).name}' does not exist or is not a folder.",
                           hint="Pick a folder with one sub-folder per class, or with a labels.csv file.")
    refuse_output_over_input([request.out_dir], _input_paths(card, request.data))


def save_table(table: BeforeAfterResult, folder: str | Path) -> Path:
    """Write the before/after table as ``before_after.json`` into ``folder`` (never over a file)."""
    return table.save_table(Path(folder) / TABLE_FILE)
