"""Ruler (mm) and ellipse ROI (mean / SD / min / max / area in native units) on a viewer panel.

The numbers come from :mod:`medadv_desktop.engine.measurements` on the values
the panel shows (the original or the adversarial slice), with the study's
pixel spacing; lengths and areas are in pixels when the file gives no spacing.
Shapes are pyqtgraph ROIs in the panel's view (mm-scaled image coordinates):
drag them, or their handles, to measure.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QToolButton

from medadv_desktop.engine.measurements import Roi, RoiStatistics, RulerLength, roi_statistics, ruler_length
from medadv_desktop.ui import theme

RULER, ELLIPSE = "ruler", "ellipse"


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def roi_text(stats: RoiStatistics) -> str:
    units = f" {stats.units}" if stats.units else ""
    return (f"mean {_fmt(stats.mean)}{units}  SD {_fmt(stats.sd)}\n"
            f"min {_fmt(stats.min)}  max {_fmt(stats.max)}\n"
            f"area {stats.area_mm2:.1f} {stats.units_area}  ({stats.pixel_count} px)")


def ruler_text(length: RulerLength) -> str:
    return f"{length.length:.1f} {length.units}"


def measure_button(kind: str) -> QToolButton:
    """The checkable tool button that shows / removes one measurement."""
    text, tip = {RULER: ("Ruler", "Measure a distance (mm; pixels without spacing): drag its ends"),
                 ELLIPSE: ("Ellipse", "Ellipse ROI: mean, SD, min, max and area in native units")}[kind]
    button = QToolButton()
    button.setText(text)
    button.setObjectName(f"measure_{kind}")
    button.setToolTip(tip)
    button.setCheckable(True)
    return button


def axis_aligned_ellipse(pos: tuple[float, float], size: tuple[float, float]) -> pg.EllipseROI:
    """An ellipse ROI that moves and resizes but never rotates (its statistics use the axis-aligned
    bounding box): pyqtgraph's rotate handle is replaced by a width handle (right) and a height handle
    (bottom); the diagonal handle scales both, all about the centre."""
    roi = pg.EllipseROI(pos, size, pen=pg.mkPen(theme.ACCENT, width=2), rotatable=False)
    for handle in list(roi.getHandles()):
        if handle.typ in ("r", "sr"):
            roi.removeHandle(handle)
    roi.addScaleHandle([1.0, 0.5], [0.5, 0.5])
    roi.addScaleHandle([0.5, 1.0], [0.5, 0.5])
    return roi


class MeasureTools(QObject):
    """One ruler and one ellipse ROI at most on ``panel``; ``sig_measured(kind, text)`` after every change."""

    sig_measured = Signal(str, str)

    def __init__(self, panel: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.panel = panel
        self.study: Any = None
        self.scale = (1.0, 1.0)                 # (row, col) mm per pixel of the panel's image
        self.ruler: pg.LineSegmentROI | None = None
        self.ellipse: pg.EllipseROI | None = None
        self.labels: dict[str, pg.TextItem] = {}
        self.results: dict[str, Any] = {}       # kind -> RulerLength / RoiStatistics

    # -- shapes -------------------------------------------------------------
    def set_study(self, study: Any, scale: tuple[float, float]) -> None:
        self.clear()
        self.study, self.scale = study, scale

    def clear(self) -> None:
        for kind in (RULER, ELLIPSE):
            self.remove(kind)

    def remove(self, kind: str) -> None:
        item = self.ruler if kind == RULER else self.ellipse
        if item is not None:
            self.panel.view.removeItem(item)
        label = self.labels.pop(kind, None)
        if label is not None:
            self.panel.view.removeItem(label)
        self.results.pop(kind, None)
        if kind == RULER:
            self.ruler = None
        else:
            self.ellipse = None

    def _extent(self) -> tuple[float, float]:
        data = self.panel.data
        rows, cols = (data.shape[0], data.shape[1]) if data is not None else (1, 1)
        return rows * self.scale[0], cols * self.scale[1]      # height, width in view units

    def add_ruler(self, p0: tuple[float, float] | None = None, p1: tuple[float, float] | None = None
                  ) -> pg.LineSegmentROI:
        """A ruler between view points (x, y); by default across the middle third of the image."""
        self.remove(RULER)
        h, w = self._extent()
        p0 = p0 or (w / 3, h / 2)
        p1 = p1 or (2 * w / 3, h / 2)
        self.ruler = pg.LineSegmentROI([p0, p1], pen=pg.mkPen(theme.WARNING, width=2))
        self.panel.view.addItem(self.ruler)
        self.ruler.sigRegionChanged.connect(lambda *_a: self.update(RULER))
        self.update(RULER)
        return self.ruler

    def add_ellipse(self, pos: tuple[float, float] | None = None, size: tuple[float, float] | None = None
                    ) -> pg.EllipseROI:
        """An ellipse ROI at view position ``pos`` (x, y of its bounding box) and ``size`` (w, h)."""
        self.remove(ELLIPSE)
        h, w = self._extent()
        size = size or (w / 4, h / 4)
        pos = pos or (w / 2 - size[0] / 2, h / 2 - size[1] / 2)
        self.ellipse = axis_aligned_ellipse(pos, size)
        self.panel.view.addItem(self.ellipse)
        self.ellipse.sigRegionChanged.connect(lambda *_a: self.update(ELLIPSE))
        self.update(ELLIPSE)
        return self.ellipse

    # -- numbers ------------------------------------------------------------
    def _spacing(self) -> tuple[tuple[float, float], bool]:
        known = bool(getattr(self.study, "spacing_known", True))
        return (float(self.scale[0]), float(self.scale[1])), known

    def ruler_points(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """The ruler's end points as (row, col) pixel-edge coordinates of the slice."""
        if self.ruler is None:
            return None
        a, b = (self.ruler.mapToParent(point) for point in self.ruler.listPoints()[:2])   # view coordinates
        return ((a.y() / self.scale[0], a.x() / self.scale[1]), (b.y() / self.scale[0], b.x() / self.scale[1]))

    def ellipse_roi(self) -> Roi | None:
        """The ellipse as an engine :class:`Roi` in pixel-edge coordinates of the slice."""
        if self.ellipse is None:
            return None
        x, y = float(self.ellipse.pos().x()), float(self.ellipse.pos().y())
        w, h = float(self.ellipse.size().x()), float(self.ellipse.size().y())
        return Roi("ellipse", top=y / self.scale[0], left=x / self.scale[1],
                   bottom=(y + h) / self.scale[0], right=(x + w) / self.scale[1])

    def update(self, kind: str | None = None) -> None:
        """Measure again (after a move, a new slice or another view)."""
        for k in ((kind,) if kind else (RULER, ELLIPSE)):
            text = self._measure(k)
            if text is None:
                continue
            label = self.labels.get(k)
            if label is None:
                label = pg.TextItem(color=theme.TEXT, fill=pg.mkBrush(0, 0, 0, 160), anchor=(0, 0))
                self.panel.view.addItem(label)
                self.labels[k] = label
            label.setText(text)
            anchor = self._anchor(k)
            if anchor is not None:
                label.setPos(*anchor)
            self.sig_measured.emit(k, text)

    def _measure(self, kind: str) -> str | None:
        spacing, known = self._spacing()
        if kind == RULER:
            points = self.ruler_points()
            if points is None:
                return None
            length = ruler_length(points[0], points[1], pixel_spacing=spacing, spacing_known=known)
            self.results[RULER] = length
            return ruler_text(length)
        roi = self.ellipse_roi()
        data = self.panel.data
        if roi is None or data is None:
            return None
        units = str(getattr(self.study, "units", "") or "")
        stats = roi_statistics(np.asarray(data), roi, pixel_spacing=spacing, spacing_known=known, units=units)
        self.results[ELLIPSE] = stats
        return roi_text(stats)

    def _anchor(self, kind: str) -> tuple[float, float] | None:
        if kind == RULER and self.ruler is not None:
            points = self.ruler_points()
            if points is None:
                return None
            (r0, c0), (r1, c1) = points
            return max(c0, c1) * self.scale[1], max(r0, r1) * self.scale[0]
        if kind == ELLIPSE and self.ellipse is not None:
            return (float(self.ellipse.pos().x()),
                    float(self.ellipse.pos().y() + self.ellipse.size().y()))
        return None
