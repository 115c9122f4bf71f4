"""Prediction: class probabilities per image or slice of a study, a folder, or a labelled data set.

    run = predict_path("resources/demo_model", "demo/test")     # PredictionRun
    run.overall()["accuracy"]                                  # for a labelled folder

A labelled folder (class sub-folders named after the card's classes, or a
``labels.csv``) is read as a data set and scored against its labels. Samples
are named by their pseudonym, never by header values or file names.
``medadv predict`` calls this.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medadv_desktop.errors import MedAdvError


@dataclass
class Prediction:
    """One classified image, slice or volume."""

    sample: str                        # pseudonym (+ /slice-NNN, from 1); never PHI
    probabilities: list[float]
    predicted: str
    label: str | None = None           # the folder label, for labelled data sets

    @property
    def correct(self) -> bool | None:
        return None if self.label is None else self.label == self.predicted


@dataclass
class PredictionRun:
    model: dict[str, Any]
    device: str
    class_names: list[str]
    predictions: list[Prediction] = field(default_factory=list)
    n_studies: int = 0
    labelled: bool = False
    synthetic: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)   # (file name, reason)

    def overall(self) -> dict[str, Any]:
        n = len(self.predictions)
        probs = np.array([p.probabilities for p in self.predictions]) if n else np.zeros((0, len(self.class_names)))
        counts = {c: sum(p.predicted == c for p in self.predictions) for c in self.class_names}
        mean = {c: float(probs[:, i].mean()) if n else None for i, c in enumerate(self.class_names)}
        out: dict[str, Any] = {"n_images": n, "n_studies": self.n_studies, "predicted_counts": counts,
                               "mean_probabilities": mean}
        if self.labelled and n:
            correct = sum(bool(p.correct) for p in self.predictions)
            per_class = {}
            for c in self.class_names:
                members = [p for p in self.predictions if p.label == c]
                if members:
                    per_class[c] = {"correct": sum(bool(p.correct) for p in members), "total": len(members)}
            out["accuracy"] = {"value": correct / n, "correct": correct, "total": n, "per_class": per_class}
        return out


def _is_labelled_folder(path: Path, class_names: list[str]) -> bool:
    from medadv_desktop.engine.datasets import LABELS_CSV

    if not path.is_dir():
        return False
    if (path / LABELS_CSV).is_file():
        return True
    return any(p.is_dir() and p.name in class_names for p in path.iterdir())


def _predict_units(model, units: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
    """Probabilities for [0, 1] arrays of possibly different shapes (batched per shape)."""
    out: dict[int, np.ndarray] = {}
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, u in enumerate(units):
        by_shape.setdefault(tuple(u.shape), []).append(i)
    for indices in by_shape.values():
        probs = model.predict_proba(np.stack([units[i] for i in indices]), batch_size=batch_size).numpy()
        for k, i in enumerate(indices):
            out[i] = probs[k]
    return [out[i] for i in range(len(units))]


def predict_path(card_path: Any, path: str | Path, *, device: str | None = "auto",
                 batch_size: int = 32, modality: str | None = None) -> PredictionRun:
    """Load the model of ``card_path`` (a card path or a :class:`ModelCard`) and classify every image or
    slice under ``path``, which is read first: a path without images fails before the model is loaded
    (``modality``: set the studies' modality, as on open)."""
    from medadv_desktop.engine.datasets import slice_sample_id
    from medadv_desktop.engine.models import ModelCard, load_classifier, study_to_unit, study_to_unit_volume
    from medadv_desktop.engine.workflows.study_attack import check_batch_size

    check_batch_size(batch_size)
    card = card_path if isinstance(card_path, ModelCard) else ModelCard.load(card_path)
    if not os.path.lexists(path):
        raise MedAdvError(f"'{Path(path).name}' does not exist.",
                          hint="Give an image file, a study folder or a data set folder.")
    names = list(card.class_names)
    run = PredictionRun(model={"name": card.name, "format": card.format, "architecture": card.architecture,
                               "sha256": card.sha256, "input_size": list(card.input_size),
                               "intensity": card.intensity.describe(), "intended_use": card.intended_use},
                        device=str(device or "auto"), class_names=names)
    path = Path(path)
    volume = card.spatial_dims == 3

    # (sample id, [0,1] array, label or None)
    items: list[tuple[str, np.ndarray, str | None]] = []
    if _is_labelled_folder(path, names):
        from medadv_desktop.engine.datasets import LabelledDataset

        run.labelled = True
        ds = LabelledDataset.from_folder(path, names, modality=modality)
        run.failures = [(Path(p).name, r) for p, r in ds.failures]
        run.n_studies = len(ds.studies)
        run.synthetic = ds.synthetic
        by_study: dict[int, list] = {}
        for s in ds.samples:
            by_study.setdefault(s.study_index, []).append(s)
        for si, samples in by_study.items():
            study = ds.studies[si]
            if volume:
                unit, _ = study_to_unit_volume(study, card)
                items.append((study.pseudonym or samples[0].sample_id.split("/")[0], unit, names[samples[0].label]))
                continue
            unit, _ = study_to_unit(study, card, [s.slice_index for s in samples])
            items.extend((s.sample_id, unit[k], names[s.label]) for k, s in enumerate(samples))
    else:
        from medadv_desktop.engine.io import open_path
        from medadv_desktop.engine.io.deid import pseudonym

        report = open_path(path, modality=modality)
        run.failures = [(Path(p).name, str(r)) for p, r in report.failures]
        run.n_studies = len(report.studies)
        for study in report.studies:
            run.synthetic = run.synthetic or bool(study.synthetic)
            name = study.pseudonym or pseudonym(*(str(p) for p in study.source_paths[:1]), prefix="STUDY")
            if volume:
                unit, _ = study_to_unit_volume(study, card)
                items.append((name, unit, study.label))
                continue
            unit, _ = study_to_unit(study, card)
            for k in range(unit.shape[0]):
                items.append((name if unit.shape[0] == 1 else slice_sample_id(name, k), unit[k], study.label))
    if not items:
        raise MedAdvError(f"No image could be read from '{path.name}' ({len(run.failures)} file(s) failed).",
                          hint="Check that the path holds DICOM, NIfTI or PNG/JPEG/TIFF images.")
    model = load_classifier(card, device)
    run.device = str(model.device)
    probs = _predict_units(model, [u for _, u, _ in items], max(1, batch_size))
    for (sample, _, label), p in zip(items, probs):
        run.predictions.append(Prediction(sample, [float(v) for v in p], names[int(np.argmax(p))],
                                          label if label in names else None))
    return run


def prediction_document(run: PredictionRun) -> dict[str, Any]:
    """The JSON document of a run (``medadv predict --json``)."""
    return {
        "model": run.model, "device": run.device, "class_names": run.class_names,
        "labelled": run.labelled, "synthetic": run.synthetic,
        "predictions": [{"sample": p.sample, "probabilities": dict(zip(run.class_names, p.probabilities)),
                         "predicted": p.predicted, "label": p.label, "correct": p.correct}
                        for p in run.predictions],
        "overall": run.overall(),
        "failures": [{"file": f, "reason": r} for f, r in run.failures],
    }
