"""Study attack: attack one opened study and (optionally) write what came out.

    outcome = yield from study_attack_workflow(classifier, study, "pgd", {"eps": "6HU", "steps": 10},
                                               out_dir="adv/")

1. the parameters typed by the user are parsed against the model card and the
   study (``eps="6HU"`` through the card's intensity window and the study's
   units; ``4/255``; fractions), before any work;
2. the modality guard (:func:`~medadv_desktop.engine.models.guard.modality_warnings`)
   compares the study with the model card: each warning is yielded as a
   ``Progress`` event with ``data["kind"] == "warning"`` (``data["warning"]``
   the :class:`~medadv_desktop.engine.results.modality.ModalityWarning`)
   before any attack step, and kept in ``result.warnings``; with
   ``strict_modality=True`` a warning stops the workflow with a
   :class:`~medadv_desktop.errors.ModalityMismatchError` instead;
3. the attack job (:func:`~medadv_desktop.engine.evaluation.study_attack.attack_study_job`)
   runs on the chosen slices (all when ``slices`` is None);
4. the outcome holds the engine result, the adversarial study in native units
   (the attacked slices replaced), the perturbation map, the JSON summary and
   (2-D models, when ``attribution`` is asked for) ``input_gradient``: d loss / d
   input at the original image of each attacked slice in native units
   (:func:`input_gradient`), computed here on the worker so a viewer can show
   ``|delta x gradient|`` without the model;
5. with ``out_dir`` (or later, :func:`write_study_attack_outputs`), it is
   written there, never over an existing file:
   ``<pseudonym>_<attack>_adv`` like the input (DICOM series, NIfTI, PNG;
   de-identified unless ``keep_identity``), the perturbation map
   (``_perturbation.png`` for one slice, ``.nii.gz`` for a series) and
   ``_summary.json`` (no PHI). The files appear all together or not at all.
   ``out_dir`` must not be an input (the study's files or folder, the model
   card and its weights): refused before the attack. On a full or read-only
   disk the :class:`~medadv_desktop.errors.OutputWriteError` carries the
   finished outcome (``unsaved``); :func:`save_outputs` writes it elsewhere.
6. what is written is what is reported: the adversarial file is read back and
   re-scored (:mod:`~medadv_desktop.engine.evaluation.rescore`), the result, the
   perturbation map and the summary come from the written pixels, and
   ``outcome.rounding_undid`` lists the slices where rounding to the file's
   stored type undid the attack.

``medadv attack`` and the GUI's attack scopes (current slice, whole volume,
all loaded studies) call this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medadv_desktop.engine.jobs import CancelToken, Job, Progress
from medadv_desktop.engine.results.study_attack import StudyAttackResult, StudyAttackSummary
from medadv_desktop.errors import AttackConfigError, MedAdvError, ModelInputError, OutputExistsError, OutputWriteError

DEFAULT_BATCH = 16


@dataclass
class StudyAttackOutcome:
    """What a study attack produced (arrays in the study's native units)."""

    result: StudyAttackResult
    study: Any                                     # the Study that was attacked
    attack: str                                    # registry name, e.g. "pgd"
    label: str                                     # the attack's display label
    stem: str                                      # "<pseudonym>_<attack>": the output file names' stem
    summary: StudyAttackSummary | None = None      # what <stem>_summary.json holds
    written: list[Path] = field(default_factory=list)
    model_name: str = ""                           # the model card's name (for the summary)
    keep_identity: bool = False                    # the adversarial DICOM keeps the source's identity
    #: slices whose float adversarial image fooled the model but whose written file does not (rounding undid it)
    rounding_undid: list[int] = field(default_factory=list)
    #: the result was re-scored on the pixels read back from the written file
    rescored: bool = False
    #: the model that was attacked, kept to re-score the written file when it is exported later
    classifier: Any = field(default=None, repr=False, compare=False)
    batch_size: int = DEFAULT_BATCH
    #: d loss / d input at the ORIGINAL image, per attacked slice, native units, laid out like
    #: ``result.adv_native`` (None for a 3-D model): the gradient of :func:`input_gradient`
    input_gradient: np.ndarray | None = field(default=None, repr=False, compare=False)

    def adversarial_pixels(self) -> np.ndarray:
        """The whole study's pixels (float32, native units) with the attacked slices replaced."""
        adv = self.study.pixels.astype(np.float32).copy()
        for k, s in enumerate(self.result.slices):
            adv[s] = self.result.adv_native[k]
        return adv

    def perturbation_map(self, adversarial: np.ndarray | None = None) -> np.ndarray:
        """adversarial - original per slice, (S, H, W) in native units (colour: the largest channel change)."""
        adv = self.adversarial_pixels() if adversarial is None else adversarial
        delta = adv - self.study.pixels.astype(np.float32)
        if delta.ndim == 4:                       # colour: largest channel change, signed
            idx = np.abs(delta).argmax(axis=-1)[..., None]
            delta = np.take_along_axis(delta, idx, axis=-1)[..., 0]
        return delta


def study_attack_workflow(classifier: Any, study: Any, attack: str, params: Mapping[str, Any], *,
                          slices: Sequence[int] | None = None, batch_size: int = DEFAULT_BATCH,
                          out_dir: str | Path | None = None, keep_identity: bool = False,
                          inputs: Sequence[str | Path] = (), device: str | None = None,
                          cancel: CancelToken | None = None,
                          on_attack_progress: Callable[[Progress], None] | None = None,
                          strict_modality: bool = False, attribution: bool = False) -> Job[StudyAttackOutcome]:
    """Attack ``slices`` of ``study`` with ``attack`` (see the module doc); yields stage ``"attack"`` events.

    ``classifier``: a loaded classifier, or a model card / its path, then loaded on ``device`` only
    after every check (parameters, units, output folder) has passed. ``keep_identity``: write the
    adversarial DICOM/NIfTI with the source's identifying header (an explicit opt-in the caller
    logs; recorded in the summary). ``inputs``: further paths the outputs must stay out of (the file
    or folder the user opened). ``attribution``: also compute :func:`input_gradient` for the
    viewer's |delta x gradient| overlay (one extra backward pass; the GUI asks for it, the CLI
    writes nothing that uses it).
    """
    from medadv_desktop.engine.attacks import check_budget_units, get_attack
    from medadv_desktop.engine.evaluation.study_attack import attack_study_job
    from medadv_desktop.engine.models.card import ModelCard

    card = ModelCard.load(classifier) if isinstance(classifier, (str, Path)) else \
        classifier if isinstance(classifier, ModelCard) else getattr(classifier, "card", None)
    if card is None:
        raise ModelInputError("Attacking a study needs a model loaded from a model card.")
    check_batch_size(batch_size)
    attack_cls = get_attack(attack)
    name = attack_cls.name
    for spec in attack_cls.schema():         # "6HU" on an image without units, "6mm" on a CT: refused
        if spec.is_budget and isinstance(params.get(spec.name), str):
            check_budget_units(params[spec.name], study.units, parameter=spec.name)
    parsed = attack_cls.parse_params(params, card.intensity.native_per_unit(), study.units)
    attack_cls.check_params(parsed)
    stem = f"{study.pseudonym or 'STUDY'}_{name}"
    if out_dir is not None:                  # refuse before the (possibly long) attack
        check_output_dir(out_dir, study, card, inputs)
        for path in _output_paths(study, stem, Path(out_dir)):
            if path.exists():
                raise OutputExistsError(path)
    from medadv_desktop.engine.models.guard import guard_job

    warnings = yield from guard_job(card, [study], "attack", strict=strict_modality)

    if isinstance(classifier, (str, Path, ModelCard)):
        from medadv_desktop.engine.models import load_classifier

        yield Progress("attack", 0, 0, "Loading the model", {"kind": "load"})
        classifier = load_classifier(card, device=device)
    result = yield from attack_study_job(classifier, study, slices, name, parsed, batch_size=batch_size,
                                         cancel=cancel, on_attack_progress=on_attack_progress)
    result.warnings = list(warnings)
    outcome = StudyAttackOutcome(result=result, study=study, attack=name, label=attack_cls.label or name,
                                 stem=stem, model_name=card.name, keep_identity=keep_identity,
                                 classifier=classifier, batch_size=batch_size)
    if attribution and getattr(card, "spatial_dims", 2) != 3:
        cancel = cancel or CancelToken()
        cancel.raise_if_cancelled()
        outcome.input_gradient = input_gradient(classifier, result, batch_size=batch_size)
    outcome.summary = _summary(outcome)
    if out_dir is not None:
        yield Progress("attack", 1, 1, "Writing the adversarial study", {"kind": "write"})
        try:
            save_outputs(outcome, out_dir)
        except OutputWriteError as exc:      # the finished attack is still here: the caller saves it elsewhere
            exc.unsaved = outcome
            raise
        if outcome.rounding_undid:
            n = len(outcome.rounding_undid)
            yield Progress("attack", 1, 1, f"Rounding to the written file's stored values undid the attack on {n} "
                           f"slice(s): {', '.join(map(str, outcome.rounding_undid))}; the results are those of "
                           "the written file", {"kind": "rounding", "slices": list(outcome.rounding_undid)})
    return outcome


def input_gradient(classifier: Any, result: StudyAttackResult, *, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
    """d loss / d input at the original image of each attacked slice of ``result``, in native units.

    The loss is the attack's: cross-entropy of the model's logits against the
    clean prediction (``result.clean_probs.argmax``), in eval mode. The gradient
    with respect to the model's [0, 1] input is divided by each slice's native
    width ``high - low``, so ``delta_native * gradient`` equals ``delta_unit *
    d loss / d unit`` (the first-order change of the loss, see
    :func:`medadv_desktop.engine.perturbation.attribution_map`). Returned laid out
    like ``result.adv_native``: (S, H, W), or (S, H, W, C) for colour. 2-D models only.
    """
    import torch

    from medadv_desktop.engine.evaluation.common import model_device
    from medadv_desktop.engine.metrics import as_two_class_logits

    x_all = torch.from_numpy(np.ascontiguousarray(result.clean_unit, dtype=np.float32))     # (S, C, H, W)
    if x_all.ndim != 4:
        raise ValueError(f"expected (S, C, H, W) model inputs, got shape {tuple(x_all.shape)}")
    y_all = torch.from_numpy(np.asarray(result.clean_probs).argmax(axis=1)).long()
    dev = model_device(classifier)
    parts: list[np.ndarray] = []
    was_training = classifier.training
    classifier.eval()
    try:
        for b0 in range(0, x_all.shape[0], batch_size):
            xb = x_all[b0:b0 + batch_size].to(dev).requires_grad_(True)
            logits = as_two_class_logits(classifier(xb)).float()
            loss = torch.nn.functional.cross_entropy(logits, y_all[b0:b0 + batch_size].to(dev), reduction="sum")
            (grad,) = torch.autograd.grad(loss, xb)
            parts.append(grad.detach().float().cpu().numpy())
    finally:
        classifier.train(was_training)
    grad_unit = np.concatenate(parts)
    widths = np.array([hi - lo for lo, hi in result.bounds], dtype=np.float32).reshape(-1, 1, 1, 1)
    grad_native = grad_unit / np.where(widths > 0, widths, 1.0)
    return (np.moveaxis(grad_native, 1, -1) if result.adv_native.ndim == 4 else grad_native[:, 0]).astype(np.float32)


def check_batch_size(batch_size: Any, parameter: str = "batch_size") -> int:
    """A batch size is a whole number of at least 1 (AttackConfigError otherwise)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise AttackConfigError(f"{batch_size!r} is not a whole number of at least 1", parameter=parameter)
    return batch_size


def check_output_dir(out_dir: str | Path, study: Any, card: Any = None, inputs: Sequence[str | Path] = ()) -> None:
    """``out_dir`` is a folder (or does not exist yet) and lies outside every input: the study's files
    (and their folder when the study is a series of files), the model card and its weights, ``inputs``."""
    from medadv_desktop.engine.safe_write import refuse_output_over_input

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(out)
    sources = [Path(p) for p in getattr(study, "source_paths", [])]
    taken: list[str | Path] = [*sources, *inputs]
    if len(sources) > 1:
        taken.extend({p.parent for p in sources})
    if card is not None and getattr(card, "path", None) is not None:
        taken.append(card.path)
        try:
            taken.append(card.weights_path)
        except MedAdvError:
            pass
    refuse_output_over_input([out], taken)


def save_outputs(outcome: StudyAttackOutcome, out_dir: str | Path) -> list[Path]:
    """Write the adversarial study, the perturbation map and the summary into ``out_dir``: all of them
    or none (never over an existing file). Returns the written paths (also in ``outcome.written``).
    Raises OutputWriteError / OutputExistsError with nothing of this output left behind."""
    from medadv_desktop.engine.safe_write import all_or_nothing

    out_dir = Path(out_dir)
    with all_or_nothing() as written:
        _write_outputs(outcome, out_dir, written)
        outcome.written = list(written)
        summary = _summary(outcome)
        written.append(summary.save(out_dir / f"{outcome.stem}_summary.json"))
    outcome.summary = summary
    outcome.written = list(written)
    return outcome.written


def write_study_attack_outputs(outcome: StudyAttackOutcome, out_dir: str | Path) -> list[Path]:
    """Write ``outcome`` into ``out_dir`` (the adversarial study like the input, the perturbation map,
    ``<stem>_summary.json``); never over an existing file, all or nothing. Returns (and records in
    ``outcome.written``) the files written. The GUI's export calls this after the attack; the written
    file is re-scored with the attacked model as in the workflow."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(out_dir)
    for path in _output_paths(outcome.study, outcome.stem, out_dir):
        if path.exists():
            raise OutputExistsError(path)
    return save_outputs(outcome, out_dir)


def _output_paths(study: Any, stem: str, out_dir: Path) -> list[Path]:
    """The files that are known before the attack (the writers refuse any other existing file)."""
    perturbation = f"{stem}_perturbation.png" if study.n_slices == 1 else f"{stem}_perturbation.nii.gz"
    return [out_dir / f"{stem}_summary.json", out_dir / perturbation]


def _write_outputs(outcome: StudyAttackOutcome, out_dir: Path, written: list[Path]) -> None:
    """The adversarial study, then (when the attacked model is known) the re-score from the written
    file, then the perturbation map of the written pixels; each file appended to ``written`` once on disk."""
    written += _write_adversarial(outcome, out_dir)
    if outcome.classifier is not None:
        _rescore_written(outcome, list(written))
    written += _write_perturbation(outcome, out_dir)


def _write_adversarial(outcome: StudyAttackOutcome, out_dir: Path) -> list[Path]:
    from medadv_desktop.engine.io.writers import write_study_like
    from medadv_desktop.engine.reports.formatting import budget_text

    description = f"MedAdv adversarial ({outcome.attack}, eps {budget_text(outcome.result.eps)})"
    return write_study_like(outcome.study, outcome.adversarial_pixels(), out_dir, stem=f"{outcome.stem}_adv",
                            description=description, keep_identity=outcome.keep_identity)


def _rescore_written(outcome: StudyAttackOutcome, files: list[Path]) -> None:
    """Re-score the result on the written file's pixels (see the module doc, step 6)."""
    from medadv_desktop.engine.evaluation.rescore import read_back, rescore_study_attack

    pixels = read_back(files, outcome.study.pixels.shape)
    outcome.result, outcome.rounding_undid = rescore_study_attack(outcome.classifier, outcome.study, outcome.result,
                                                                  pixels, batch_size=outcome.batch_size)
    outcome.rescored = True


def _write_perturbation(outcome: StudyAttackOutcome, out_dir: Path) -> list[Path]:
    """The perturbation map of the written file (written adversarial pixels minus the original)."""
    from medadv_desktop.engine.io.writers import write_float_map

    study, stem = outcome.study, outcome.stem
    delta = outcome.perturbation_map()
    if study.n_slices == 1:
        return write_float_map(delta[0], out_dir / f"{stem}_perturbation.png", units=study.units,
                               description="adversarial minus original")
    return write_float_map(delta, out_dir / f"{stem}_perturbation.nii.gz", spacing=study.spacing,
                           units=study.units, description="adversarial minus original")


def _summary(outcome: StudyAttackOutcome) -> StudyAttackSummary:
    """The summary JSON (no PHI) of ``outcome``, listing the files written so far."""
    summary = outcome.result.summary(model=outcome.model_name, outputs=[p.name for p in outcome.written],
                                     synthetic=bool(getattr(outcome.study, "synthetic", False)))
    summary.keep_identity = outcome.keep_identity
    summary.rescored_from_written_file = outcome.rescored
    summary.rounding_undid_slices = list(outcome.rounding_undid)
    return summary
