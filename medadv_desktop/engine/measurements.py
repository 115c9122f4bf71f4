"""Viewer measurements on a slice: ROI statistics (ellipse, rectangle) and ruler lengths.

Coordinates are **pixel-edge coordinates** of the displayed slice, as an image
item places pixels: pixel (row r, column c) covers ``[c, c + 1) x [r, r + 1)``
and its centre is ``(r + 0.5, c + 0.5)``. A pixel belongs to an ROI when its
centre lies inside the shape (boundary included). Values are the study's
native units (HU for CT); a colour slice is measured on its BT.601 luminance.

Lengths and areas are in mm from the pixel spacing (rows and columns may
differ); when the file gives no pixel spacing (``Study.spacing_known`` False:
PNG/JPEG/TIFF, ultrasound without calibration) they are in pixels and
``units_length`` says ``"px"``. The standard deviation is the population SD
(``ddof=0``), as OHIF/Cornerstone report it.

    roi = Roi("ellipse", top=10, left=12, bottom=30, right=40)
    stats = study_roi_statistics(study, slice_index=4, roi=roi)   # mean, sd, min, max, area_mm2, ...
    length = study_ruler(study, (10.5, 12.5), (30.5, 40.5))        # mm
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from medadv_desktop.errors import MedAdvError

ROI_KINDS = ("ellipse", "rectangle")
BT601_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class Roi:
    """An axis-aligned ellipse or rectangle given by its bounding box (pixel-edge coordinates)."""

    kind: str          # "ellipse" | "rectangle"
    top: float
    left: float
    bottom: float
    right: float

    def __post_init__(self) -> None:
        if self.kind not in ROI_KINDS:
            raise MedAdvError(f"'{self.kind}' is not an ROI shape; use ellipse or rectangle")
        if not all(math.isfinite(v) for v in (self.top, self.left, self.bottom, self.right)):
            raise MedAdvError("ROI corners must be finite numbers")

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(top, left, bottom, right) with top <= bottom and left <= right (corners may come in any order)."""
        return (min(self.top, self.bottom), min(self.left, self.right),
                max(self.top, self.bottom), max(self.left, self.right))

    def shape_area_px(self) -> float:
        """The geometric area of the shape in pixels (pi a b for an ellipse)."""
        top, left, bottom, right = self.box
        h, w = bottom - top, right - left
        return math.pi * h * w / 4 if self.kind == "ellipse" else h * w


@dataclass(frozen=True)
class RoiStatistics:
    """Statistics of the pixels inside an ROI, in native units.

    ``area_mm2``: the shape's geometric area (pi a b for an ellipse) in mm²
    (pixels² when the spacing is unknown, see ``units_area``);
    ``pixel_area_mm2``: ``pixel_count`` x the area of one pixel. ``mean``,
    ``sd`` (population), ``min``, ``max`` are None when no pixel centre lies inside.
    """

    kind: str
    pixel_count: int
    mean: float | None
    sd: float | None
    min: float | None
    max: float | None
    area_mm2: float
    pixel_area_mm2: float
    units: str             # native units of the values ("HU", "" unknown)
    units_area: str        # "mm²" or "px²"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RulerLength:
    """A straight distance on a slice: ``length`` in ``units`` ("mm" or "px"), and in pixels."""

    length: float
    length_px: float
    units: str


def roi_mask(shape2d: tuple[int, int], roi: Roi) -> np.ndarray:
    """Boolean (rows, cols) mask of the pixels whose centres lie inside ``roi`` (boundary included)."""
    rows, cols = int(shape2d[0]), int(shape2d[1])
    top, left, bottom, right = roi.box
    r = np.arange(rows, dtype=np.float64)[:, None] + 0.5
    c = np.arange(cols, dtype=np.float64)[None, :] + 0.5
    if roi.kind == "rectangle":
        return (r >= top) & (r <= bottom) & (c >= left) & (c <= right)
    cy, cx = (top + bottom) / 2, (left + right) / 2
    ay, ax = (bottom - top) / 2, (right - left) / 2
    if ay <= 0 or ax <= 0:
        return np.zeros((rows, cols), dtype=bool)
    # a small tolerance keeps centres that sit exactly on the boundary inside despite rounding
    return ((r - cy) / ay) ** 2 + ((c - cx) / ax) ** 2 <= 1.0 + 1e-9


def _luminance(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3:
        if image.shape[-1] != 3:
            raise MedAdvError(f"a colour slice needs 3 channels, got {image.shape[-1]}")
        return image.astype(np.float64) @ np.asarray(BT601_LUMA)
    if image.ndim != 2:
        raise MedAdvError(f"ROI statistics need a 2-D slice, got shape {list(image.shape)}")
    return image.astype(np.float64)


def roi_statistics(image: np.ndarray, roi: Roi, *, pixel_spacing: tuple[float, float] = (1.0, 1.0),
                   spacing_known: bool = True, units: str = "") -> RoiStatistics:
    """Statistics of ``image`` (a 2-D slice in native units, or (H, W, 3) colour) inside ``roi``.

    ``pixel_spacing``: (between rows, between columns) in mm.
    """
    values2d = _luminance(np.asarray(image))
    mask = roi_mask(values2d.shape, roi)
    values = values2d[mask]
    values = values[np.isfinite(values)]
    dr, dc = (float(pixel_spacing[0]), float(pixel_spacing[1])) if spacing_known else (1.0, 1.0)
    count = int(values.size)
    stats = (float(values.mean()), float(values.std()), float(values.min()), float(values.max())) if count else \
        (None, None, None, None)
    return RoiStatistics(kind=roi.kind, pixel_count=count, mean=stats[0], sd=stats[1], min=stats[2], max=stats[3],
                         area_mm2=roi.shape_area_px() * dr * dc, pixel_area_mm2=count * dr * dc, units=units,
                         units_area="mm²" if spacing_known else "px²")


def ruler_length(p0: tuple[float, float], p1: tuple[float, float], *,
                 pixel_spacing: tuple[float, float] = (1.0, 1.0), spacing_known: bool = True) -> RulerLength:
    """Distance between two points (row, col) in pixel coordinates of one slice: mm from the
    spacing (rows and columns scaled separately), or pixels when the spacing is unknown."""
    if not all(math.isfinite(float(v)) for v in (*p0, *p1)):
        raise MedAdvError("ruler end points must be finite numbers")
    d_rows, d_cols = float(p1[0]) - float(p0[0]), float(p1[1]) - float(p0[1])
    px = math.hypot(d_rows, d_cols)
    if not spacing_known:
        return RulerLength(px, px, "px")
    return RulerLength(math.hypot(d_rows * float(pixel_spacing[0]), d_cols * float(pixel_spacing[1])), px, "mm")


def study_roi_statistics(study: Any, slice_index: int, roi: Roi, *, pixels: np.ndarray | None = None
                         ) -> RoiStatistics:
    """:func:`roi_statistics` on slice ``slice_index`` of ``study`` (or of ``pixels``, e.g. the
    adversarial study, shaped like the study's pixels) with the study's spacing and units."""
    source = study.pixels if pixels is None else pixels
    if not 0 <= int(slice_index) < source.shape[0]:
        raise MedAdvError(f"slice {slice_index} does not exist; the study has slices 0 to {source.shape[0] - 1}")
    return roi_statistics(source[int(slice_index)], roi, pixel_spacing=study.pixel_spacing,
                          spacing_known=study.spacing_known, units=study.units)


def study_ruler(study: Any, p0: tuple[float, float], p1: tuple[float, float]) -> RulerLength:
    """:func:`ruler_length` with the study's pixel spacing."""
    return ruler_length(p0, p1, pixel_spacing=study.pixel_spacing, spacing_known=study.spacing_known)
