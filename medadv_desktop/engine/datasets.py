"""Labelled data sets for evaluation and adversarial training.

Two layouts of a folder are understood:

* **class sub-folders**: ``DIR/<class name>/...`` where every sub-folder name
  is one of the model's class names (other names raise :class:`DatasetError`
  listing the expected ones; hidden folders are ignored). A sub-folder may hold
  2-D images, DICOM series, NIfTI volumes, in nested folders.
* **labels.csv** in ``DIR``: a header ``path,label`` then one row per file or
  folder; ``path`` is relative to ``DIR`` (or absolute); ``label`` is a class
  name or a class index (0-based).

Each *sample* is one 2-D image or one slice of a volume. Files that cannot be
read are listed in :attr:`LabelledDataset.failures` (path, reason) and skipped;
they never stop the data set from loading.

Sample ids are pseudonyms (``STUDY-3F2A9C`` or ``STUDY-3F2A9C/slice-004``),
never file names or header values, so they are safe in logs and reports.
Slices are numbered from 1, as the viewer numbers them (:func:`slice_sample_id`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medadv_desktop.engine.hashing import sha256_bytes, sha256_file
from medadv_desktop.engine.io.labels import LABELS_CSV, LabelRow, read_labels_csv
from medadv_desktop.errors import DatasetError, MedAdvError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from medadv_desktop.engine.io.study import Study
    from medadv_desktop.engine.models.card import ModelCard

__all__ = ["LABELS_CSV", "DatasetSample", "LabelRow", "LabelledDataset", "read_labels_csv"]


def slice_sample_id(name: str, index: int) -> str:
    """The sample id of slice ``index`` (0-based) of a multi-slice study: ``NAME/slice-NNN``, numbered
    from 1 like the viewer's "Slice N / M" (slice 0 is ``slice-001``)."""
    return f"{name}/slice-{index + 1:03d}"


@dataclass
class DatasetSample:
    """One sample: a slice of a loaded study, or a row of in-memory arrays."""

    sample_id: str            # pseudonym (+ "/slice-NNN" for volumes); never PHI
    label: int
    study_index: int = -1     # index into LabelledDataset.studies (-1: in-memory arrays)
    slice_index: int = 0


@dataclass
class LabelledDataset:
    """Labelled samples (2-D images or volume slices) with their classes."""

    class_names: list[str]
    samples: list[DatasetSample] = field(default_factory=list)
    studies: list[Any] = field(default_factory=list, repr=False)   # list[Study]
    failures: list[tuple[Path, str]] = field(default_factory=list)
    name: str = "dataset"              # pseudonymous name, safe to show
    synthetic: bool = False            # True when made by MedAdv's demo generator
    root: Path | None = field(default=None, repr=False)   # never written to results
    # in-memory form (from_arrays): [0, 1] images and native units per [0, 1] unit
    _unit: np.ndarray | None = field(default=None, repr=False)
    _native_per_unit: np.ndarray | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_folder(cls, path: str | Path, class_names: Sequence[str], *,
                    modality: str | None = None) -> LabelledDataset:
        """Read a folder of class sub-folders or a folder with ``labels.csv`` (see module doc).

        ``modality``: set every study's modality (e.g. ``"CT"`` for NIfTI CT volumes), as on open.
        """
        from medadv_desktop.engine.io import normalize_modality, open_path
        from medadv_desktop.engine.io.deid import pseudonym

        modality = normalize_modality(modality) if modality else None
        root = Path(path)
        class_names = [str(c) for c in class_names]
        if not root.is_dir():
            raise DatasetError(f"The data set folder '{root.name}' does not exist or is not a folder.",
                               hint="Pick a folder with one sub-folder per class, or with a labels.csv file.")
        ds = cls(class_names=class_names, root=root, name=pseudonym(str(root.resolve()), prefix="DATASET"))
        entries: list[tuple[Path, int]] = []
        csv_path = root / LABELS_CSV
        if csv_path.is_file():
            entries = _read_labels_csv(csv_path, root, class_names)
        else:
            subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
            unknown = [p.name for p in subdirs if p.name not in class_names]
            if unknown:
                raise DatasetError(
                    f"The data set folder has sub-folder(s) {', '.join(repr(u) for u in unknown)} that are not "
                    f"class names of the model; expected sub-folders named {', '.join(repr(c) for c in class_names)}.",
                    hint="Rename the sub-folders to the model's class names, or use a labels.csv (path,label).")
            if not subdirs:
                raise DatasetError(
                    f"The data set folder has no class sub-folders and no {LABELS_CSV}; expected sub-folders "
                    f"named {', '.join(repr(c) for c in class_names)}.",
                    hint="Put the images of each class in a sub-folder named after the class.")
            entries = [(p, class_names.index(p.name)) for p in subdirs]
        for target, label in entries:
            try:
                report = open_path(target, modality=modality)
            except MedAdvError as exc:
                ds.failures.append((target, str(exc)))
                continue
            ds.failures.extend((Path(p), str(r)) for p, r in report.failures)
            for study in report.studies:
                # a data set needs the pixels and the study's facts (modality, spacing, units, flags), not its
                # header elements or reader objects: thousands of files' pydicom elements (about 100 objects
                # per file) kept alive cost memory and a long garbage-collection pause in the GUI after a job
                study.header = []
                study.native = None
                ds._add_study(study, label, pseudonym)
        if not ds.samples:
            raise DatasetError(
                f"No readable images were found in the data set folder ({len(ds.failures)} file(s) failed).",
                hint="Check that the class folders hold DICOM, NIfTI or PNG/JPEG images.")
        return ds

    def _add_study(self, study: Study, label: int, pseudonym) -> None:
        index = len(self.studies)
        self.studies.append(study)
        name = study.pseudonym or pseudonym(*(str(p) for p in study.source_paths[:1]), prefix="STUDY")
        if study.synthetic:                # set by the reader from the demo generator's marker
            self.synthetic = True
        for s in range(study.n_slices):
            sid = name if study.n_slices == 1 else slice_sample_id(name, s)
            self.samples.append(DatasetSample(sid, int(label), index, s))

    @classmethod
    def from_studies(cls, studies: Sequence[Study], labels: Sequence[int], class_names: Sequence[str],
                     *, name: str = "studies") -> LabelledDataset:
        """A data set from studies already opened (e.g. in the GUI), one label per study."""
        from medadv_desktop.engine.io.deid import pseudonym

        ds = cls(class_names=list(class_names), name=name)
        for study, label in zip(studies, labels):
            ds._add_study(study, int(label), pseudonym)
        return ds

    @classmethod
    def from_arrays(cls, images: np.ndarray, labels: Sequence[int], class_names: Sequence[str], *,
                    sample_ids: Sequence[str] | None = None, native_per_unit: Sequence[float] | float | None = None,
                    name: str = "arrays", synthetic: bool = False) -> LabelledDataset:
        """A data set from [0, 1] images (N, C, H, W) already mapped (tests, training splits)."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4:
            raise DatasetError(f"Images must be (N, C, H, W), got shape {list(images.shape)}.")
        n = images.shape[0]
        ids = list(sample_ids) if sample_ids is not None else [f"{name}-{i:05d}" for i in range(n)]
        npu = None if native_per_unit is None else np.broadcast_to(
            np.asarray(native_per_unit, dtype=np.float64), (n,)).copy()
        ds = cls(class_names=list(class_names), name=name, synthetic=synthetic,
                 _unit=images, _native_per_unit=npu)
        ds.samples = [DatasetSample(ids[i], int(labels[i])) for i in range(n)]
        return ds

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> list[int]:
        return [s.label for s in self.samples]

    @property
    def units(self) -> str:
        """The native units every study shares ("HU"), or "" (no units, mixed units, in-memory arrays)."""
        found = {getattr(s, "units", "") or "" for s in self.studies}
        return found.pop() if len(found) == 1 else ""

    def class_counts(self) -> dict[str, int]:
        """Samples per class name (every class listed, zero included)."""
        counts = Counter(s.label for s in self.samples)
        return {c: int(counts.get(i, 0)) for i, c in enumerate(self.class_names)}

    def subset(self, indices: Sequence[int]) -> LabelledDataset:
        """A data set of the chosen samples (same studies, failures and name)."""
        ds = LabelledDataset(class_names=self.class_names, samples=[self.samples[i] for i in indices],
                             studies=self.studies, failures=list(self.failures), name=self.name,
                             synthetic=self.synthetic, root=self.root)
        if self._unit is not None:
            ds._unit = self._unit[list(indices)]
            ds._native_per_unit = None if self._native_per_unit is None else self._native_per_unit[list(indices)]
        return ds

    def head(self, n: int, *, seed: int = 0, stratified: bool = True) -> LabelledDataset:
        """At most ``n`` samples: a seeded, class-balanced pick (round robin over classes)."""
        if n >= len(self):
            return self
        rng = np.random.default_rng(seed)
        by_class: dict[int, list[int]] = {}
        for i, s in enumerate(self.samples):
            by_class.setdefault(s.label if stratified else 0, []).append(i)
        queues = [list(rng.permutation(v)) for _, v in sorted(by_class.items())]
        chosen: list[int] = []
        while len(chosen) < n:
            for q in queues:
                if q and len(chosen) < n:
                    chosen.append(int(q.pop(0)))
        return self.subset(sorted(chosen))

    def summary(self) -> dict[str, Any]:
        """De-identified summary for results and reports."""
        studies = {s.study_index for s in self.samples if s.study_index >= 0}
        return {"name": self.name, "n_samples": len(self), "n_studies": len(studies),
                "counts": self.class_counts(), "synthetic": self.synthetic,
                "n_failures": len(self.failures), "fingerprint": self.fingerprint()}

    def fingerprint(self) -> str:
        """SHA-256 identifying exactly the samples evaluated and their labels, independent of paths,
        names and order: one line per sample, ``<content hash>[#slice] <label index>``, the lines
        sorted and joined by newlines. The content hash is the SHA-256 of the study's files (each
        file hashed, the hashes sorted and hashed), or of the sample's [0, 1] array for in-memory
        data sets; ``#slice`` is added for volumes. The same files with the same labels give the
        same fingerprint on any machine; one changed pixel or label gives another."""
        study_hashes: dict[int, str] = {}
        lines = []
        for i, s in enumerate(self.samples):
            if s.study_index < 0 or s.study_index >= len(self.studies):
                content = sha256_bytes(np.ascontiguousarray(self._unit[i]).tobytes()) if self._unit is not None \
                    else sha256_bytes(s.sample_id.encode("utf-8"))
                lines.append(f"{content} {s.label}")
                continue
            if s.study_index not in study_hashes:
                study = self.studies[s.study_index]
                files = sorted(sha256_file(p) for p in getattr(study, "source_paths", []) if Path(p).is_file())
                study_hashes[s.study_index] = sha256_bytes("\n".join(files).encode("ascii"))
            content = study_hashes[s.study_index]
            n_slices = int(getattr(self.studies[s.study_index], "n_slices", 1) or 1)
            lines.append(f"{content}{'#' + str(s.slice_index) if n_slices > 1 else ''} {s.label}")
        return sha256_bytes("\n".join(sorted(lines)).encode("ascii"))

    # ---------------------------------------------------------------- tensors
    def to_tensors(self, card: ModelCard | None = None, *, studies: Mapping[int, Study] | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, list[str], np.ndarray]:
        """``(x, y, sample_ids, native_per_unit)`` for the whole data set.

        ``studies``: replacements read instead of ``self.studies[i]`` for the indices given
        (e.g. corrupted copies of the same shape), so they are mapped exactly as the originals.

        ``x``: float32 (N, C, H, W) in [0, 1] through the card's intensity
        mapping, C = the studies' channels (1 grey, 3 RGB); when a set mixes
        grey and RGB samples, RGB ones become grey with BT.601 luma.
        Resolution: the studies' own (the threat model perturbs the image the
        reader sees) when every sample has the same size; otherwise every
        sample is resized (bilinear, antialiased) to ``card.input_size`` and
        the perturbation then lives at that resolution.
        ``y``: int64 (N,). ``native_per_unit``: float64 (N,), native units per
        [0, 1] unit of each sample (window width, or the slice's own range).
        """
        import torch
        import torch.nn.functional as F

        ids = [s.sample_id for s in self.samples]
        y = torch.tensor([s.label for s in self.samples], dtype=torch.int64)
        if self._unit is not None:
            npu = self._native_per_unit if self._native_per_unit is not None else np.full(len(self), np.nan)
            return torch.from_numpy(np.ascontiguousarray(self._unit)), y, ids, np.asarray(npu, dtype=np.float64)
        if card is None:
            raise DatasetError("A model card is needed to map the study intensities to [0, 1].")
        from medadv_desktop.engine.models.wrapper import BT601_LUMA, study_to_unit

        per_study: dict[int, list[int]] = {}
        for s in self.samples:
            per_study.setdefault(s.study_index, []).append(s.slice_index)
        cache: dict[tuple[int, int], tuple[np.ndarray, float]] = {}
        for si, slices in per_study.items():
            study = studies[si] if studies is not None and si in studies else self.studies[si]
            unit, bounds = study_to_unit(study, card, slices)
            for k, sl in enumerate(slices):
                lo, hi = bounds[k]
                cache[(si, sl)] = (unit[k], float(hi - lo))
        images = [cache[(s.study_index, s.slice_index)][0] for s in self.samples]
        npu = np.array([cache[(s.study_index, s.slice_index)][1] for s in self.samples], dtype=np.float64)
        if len({im.shape[0] for im in images}) > 1:
            luma = np.asarray(BT601_LUMA, dtype=np.float32).reshape(3, 1, 1)
            images = [im if im.shape[0] == 1 else (im * luma).sum(axis=0, keepdims=True) for im in images]
        if len({im.shape for im in images}) == 1:
            x = torch.from_numpy(np.stack(images, axis=0))
        else:
            size = tuple(int(v) for v in card.input_size[-2:])
            x = torch.cat([F.interpolate(torch.from_numpy(im)[None], size=size, mode="bilinear",
                                         align_corners=False, antialias=True) for im in images], dim=0)
            x = x.clamp_(0.0, 1.0)
        return x.contiguous(), y, ids, npu


def _read_labels_csv(csv_path: Path, root: Path, class_names: list[str]) -> list[tuple[Path, int]]:
    """(file or folder, label) pairs of a data set folder's ``labels.csv``."""
    entries = []
    for row in read_labels_csv(csv_path, class_names):
        if row.path is None:
            raise DatasetError(f"{csv_path.name} line {row.line}: a data set folder's {LABELS_CSV} needs a "
                               "'path' column naming each file or folder.")
        target = Path(row.path) if Path(row.path).is_absolute() else root / row.path
        entries.append((target, row.label))
    return entries
