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
   (the attacked slices replaced), the perturbation map and the JSON summary;
5. with ``out_dir`` (or later, :func:`write_study_attack_outputs`), it is
   written there, never over an existing file:
   ``<pseudonym>_<attack>_adv`` like the input (DICOM series, NIfTI, PNG), the
   perturbation map (``_perturbation.png`` for one slice, ``.nii.gz`` for a
   series) and ``_summary.json`` (no PHI).

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
from medadv_desktop.errors import ModelInputError, OutputExistsError

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
                          out_dir: str | Path | None = None, cancel: CancelToken | None = None,
                          on_attack_progress: Callable[[Progress], None] | None = None,
                          strict_modality: bool = False) -> Job[StudyAttackOutcome]:
    """Attack ``slices`` of ``study`` with ``attack`` (see the module doc); yields stage ``"attack"`` events."""
    from medadv_desktop.engine.attacks import get_attack
    from medadv_desktop.engine.evaluation.study_attack import attack_study_job

    card = getattr(classifier, "card", None)
    if card is None:
        raise ModelInputError("Attacking a study needs a model loaded from a model card.")
    attack_cls = get_attack(attack)
    name = attack_cls.name
    parsed = attack_cls.parse_params(params, card.intensity.native_per_unit(), study.units)
    stem = f"{study.pseudonym or 'STUDY'}_{name}"
    targets = _output_paths(study, stem, Path(out_dir)) if out_dir is not None else []
    for path in targets:            # refuse before the (possibly long) attack
        if path.exists():
            raise OutputExistsError(path)
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise OutputExistsError(Path(out_dir))
    from medadv_desktop.engine.models.guard import guard_job

    warnings = yield from guard_job(card, [study], "attack", strict=strict_modality)

    result = yield from attack_study_job(classifier, study, slices, name, parsed, batch_size=batch_size,
                                         cancel=cancel, on_attack_progress=on_attack_progress)
    result.warnings = list(warnings)
    outcome = StudyAttackOutcome(result=result, study=study, attack=name, label=attack_cls.label or name,
                                 stem=stem, model_name=card.name)
    if out_dir is not None:
        yield Progress("attack", 1, 1, "Writing the adversarial study", {"kind": "write"})
        write_study_attack_outputs(outcome, Path(out_dir))
    else:
        outcome.summary = _make_summary(outcome)
    return outcome


def write_study_attack_outputs(outcome: StudyAttackOutcome, out_dir: str | Path) -> list[Path]:
    """Write ``outcome`` into ``out_dir`` (the adversarial study like the input, the perturbation map,
    ``<stem>_summary.json``); never over an existing file. Returns (and records in
    ``outcome.written``) the files written. The GUI's export calls this after the attack."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(out_dir)
    for path in _output_paths(outcome.study, outcome.stem, out_dir):
        if path.exists():
            raise OutputExistsError(path)
    outcome.written = _write_outputs(outcome, out_dir)
    outcome.summary = _make_summary(outcome)
    outcome.written.append(outcome.summary.save(out_dir / f"{outcome.stem}_summary.json"))
    return list(outcome.written)


def _make_summary(outcome: StudyAttackOutcome) -> StudyAttackSummary:
    return outcome.result.summary(model=outcome.model_name, outputs=[p.name for p in outcome.written],
                                  synthetic=bool(getattr(outcome.study, "synthetic", False)))


def _output_paths(study: Any, stem: str, out_dir: Path) -> list[Path]:
    """The files that are known before the attack (the writers refuse any other existing file)."""
    perturbation = f"{stem}_perturbation.png" if study.n_slices == 1 else f"{stem}_perturbation.nii.gz"
    return [out_dir / f"{stem}_summary.json", out_dir / perturbation]


def _write_outputs(outcome: StudyAttackOutcome, out_dir: Path) -> list[Path]:
    from medadv_desktop.engine.io.writers import write_float_map, write_study_like
    from medadv_desktop.engine.reports.formatting import budget_text

    study, stem = outcome.study, outcome.stem
    adversarial = outcome.adversarial_pixels()
    description = f"MedAdv adversarial ({outcome.attack}, eps {budget_text(outcome.result.eps)})"
    written = write_study_like(study, adversarial, out_dir, stem=f"{stem}_adv", description=description)
    delta = outcome.perturbation_map(adversarial)
    if study.n_slices == 1:
        written += write_float_map(delta[0], out_dir / f"{stem}_perturbation.png", units=study.units,
                                   description="adversarial minus original")
    else:
        written += write_float_map(delta, out_dir / f"{stem}_perturbation.nii.gz", spacing=study.spacing,
                                   units=study.units, description="adversarial minus original")
    return written

