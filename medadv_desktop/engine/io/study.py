"""The :class:`Study`: pixels in their own units plus de-identified metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class WindowPreset:
    """A display window in the study's native units (HU for CT)."""

    name: str
    center: float
    width: float

    @property
    def low(self) -> float:
        return self.center - self.width / 2

    @property
    def high(self) -> float:
        return self.center + self.width / 2


@dataclass(frozen=True)
class HeaderElement:
    """One header entry for the tag browser. ``is_phi`` marks identifying fields."""

    tag: str          # "(0010,0010)" for DICOM, field name for NIfTI
    keyword: str      # "PatientName"
    vr: str           # DICOM VR, or "" for other formats
    value: str        # display text (truncated for long values)
    is_phi: bool = False
    depth: int = 0    # nesting level inside sequences


@dataclass
class Study:
    """An opened image study.

    ``pixels`` has shape (slices, rows, cols) or (slices, rows, cols, channels)
    and holds float32 values in the study's native units after the Modality
    LUT (HU for CT; MONOCHROME1 already inverted so bright = dense).
    A 2-D image is one slice. ``spacing`` is (slice, row, col) in mm.
    """

    pixels: np.ndarray
    spacing: tuple[float, float, float]
    modality: str                      # DICOM modality ("CT", "MR", ...) or "OT"
    source_format: str                 # "dicom" | "nifti" | "image"
    source_paths: list[Path]
    presets: list[WindowPreset] = field(default_factory=list)
    units: str = ""                    # "HU" for CT, "" when unknown
    description: str = ""              # de-identified, e.g. "CT 3 slices 128x128"
    pseudonym: str = ""                # stable salted-hash name, safe to show/log
    header: list[HeaderElement] = field(default_factory=list)   # first slice / file
    orientation: tuple[str, str, str, str] | None = None  # labels (left, right, top, bottom)
    label: str | None = None           # class label when part of a labelled data set
    synthetic: bool = False            # True for MedAdv's synthetic demo data
    native: Any = field(default=None, repr=False)  # reader objects for writing outputs (pydicom datasets, nibabel image)

    @property
    def n_slices(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def is_color(self) -> bool:
        return self.pixels.ndim == 4

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[3]) if self.pixels.ndim == 4 else 1

    @property
    def shape2d(self) -> tuple[int, int]:
        return int(self.pixels.shape[1]), int(self.pixels.shape[2])

    def slice_chw(self, index: int) -> np.ndarray:
        """One slice as a (C, H, W) float32 array in native units."""
        s = self.pixels[index]
        if s.ndim == 2:
            return s[None].astype(np.float32, copy=False)
        return np.moveaxis(s, -1, 0).astype(np.float32, copy=False)

    def default_preset(self) -> WindowPreset:
        if self.presets:
            return self.presets[0]
        finite = self.pixels[np.isfinite(self.pixels)]
        lo, hi = (float(np.percentile(finite, 0.5)), float(np.percentile(finite, 99.5))) if finite.size else (0.0, 1.0)
        if hi <= lo:
            hi = lo + 1.0
        return WindowPreset("Auto", (lo + hi) / 2, hi - lo)

    def summary(self) -> dict[str, Any]:
        """De-identified summary: safe for logs, reports and the CLI."""
        return {
            "study": self.pseudonym,
            "format": self.source_format,
            "modality": self.modality,
            "shape": list(self.pixels.shape),
            "spacing_mm": [round(float(s), 4) for s in self.spacing],
            "units": self.units,
            "presets": [{"name": p.name, "center": p.center, "width": p.width} for p in self.presets],
            "synthetic": self.synthetic,
        }


@dataclass
class LoadReport:
    """Result of opening a path: the studies that loaded and the files that did not."""

    studies: list[Study] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)  # (path, reason in words)
