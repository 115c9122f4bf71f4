"""De-identified corner text over an image panel (modality, series, pseudonym, slice position, W/L, zoom).

The text comes from the study's de-identified display fields
(``Study.display_info()``: year-only dates, cleaned descriptions, the
pseudonym, never a name or ID) plus what the viewer knows (slice, position,
thickness, window, zoom). The overlay never takes mouse events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtWidgets import QLabel, QWidget

from medadv_desktop.ui import theme
from medadv_desktop.ui.widgets.window_presets import window_text


@dataclass(frozen=True)
class CornerTexts:
    top_left: str = ""
    top_right: str = ""
    bottom_left: str = ""
    bottom_right: str = ""


def study_lines(study: Any) -> tuple[str, str]:
    """(top left, top right) of a study: modality/series/body part, and pseudonym/year/labels.

    Uses ``study.display_info()`` (de-identified by default) when the engine has
    it, else only modality and pseudonym.
    """
    info_fn = getattr(study, "display_info", None)
    if info_fn is None:
        return (str(getattr(study, "modality", "") or ""), str(getattr(study, "pseudonym", "") or ""))
    info = info_fn()
    modality = info.modality + (f" ({info.modality_note})" if info.modality_note else "")
    left = "\n".join(p for p in (modality, info.series_description, info.body_part) if p)
    right_parts = [info.pseudonym, info.study_date]
    if info.synthetic:
        right_parts.append("SYNTHETIC DEMO DATA")
    if info.burned_in_annotation:
        right_parts.append("⚠ burned-in text")
    return left, "\n".join(p for p in right_parts if p)


def slice_line(study: Any, index: int) -> str:
    """``"Slice 8/14"`` with ``"pos 12.5 mm  th 5 mm"`` below it (position along the slice normal and
    thickness when the file states them) and the volume of a 4-D study."""
    text = f"Slice {index + 1}/{study.n_slices}"
    position = getattr(study, "slice_position", None)
    pos = position(index) if position is not None else None
    where = f"pos {pos:.1f} mm" if pos is not None else ""
    thickness = getattr(study, "slice_thickness", None)
    if isinstance(thickness, (int, float)) and thickness:
        where += f"{'  ' if where else ''}th {thickness:g} mm"
    if where:
        text += f"\n{where}"
    n_volumes = int(getattr(study, "n_volumes", 1) or 1)
    if n_volumes > 1:
        text += f"\nVolume {int(getattr(study, 'volume_index', 0)) + 1}/{n_volumes}"
    return text


class CornerOverlay(QWidget):
    """Four labels in the corners of ``host`` (kept over it as it resizes)."""

    MARGIN = 6

    def __init__(self, host: QWidget) -> None:
        super().__init__(host)
        self.setObjectName("corner_overlay")
        self.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WA_NoSystemBackground)
        self.labels: dict[str, QLabel] = {}
        self._texts = CornerTexts()
        self._area: QRect | None = None      # the image area inside the host (None: all of it)
        for corner, align in (("top_left", Qt.AlignLeft | Qt.AlignTop), ("top_right", Qt.AlignRight | Qt.AlignTop),
                              ("bottom_left", Qt.AlignLeft | Qt.AlignBottom),
                              ("bottom_right", Qt.AlignRight | Qt.AlignBottom)):
            label = QLabel(self)
            label.setObjectName(f"corner_{corner}")
            label.setAlignment(align)
            label.setStyleSheet(f"color: {theme.TEXT}; background: transparent; font-size: 9pt;")
            label.setAttribute(Qt.WA_TransparentForMouseEvents)
            self.labels[corner] = label
        host.installEventFilter(self)
        self._fit()

    def set_texts(self, texts: CornerTexts, area: QRect | None = None) -> None:
        """The four texts, kept inside ``area`` (the image's view box in host coordinates)."""
        self._texts, self._area = texts, area
        self._place()

    def text(self, corner: str) -> str:
        """The full text of a corner (what is drawn may be elided to fit)."""
        return str(getattr(self._texts, corner))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if watched is self.parent() and event.type() == QEvent.Resize:
            self._fit()
        return False

    def _fit(self) -> None:
        host = self.parentWidget()
        if host is not None:
            self.setGeometry(0, 0, host.width(), host.height())
        self._place()
        self.raise_()

    def _place(self) -> None:
        area = self._area if self._area is not None and self._area.isValid() else self.rect()
        m = self.MARGIN
        rooms = self._rooms(max(80, area.width() - 4 * m))
        for corner, label in self.labels.items():
            metrics = label.fontMetrics()
            lines = [metrics.elidedText(line, Qt.ElideRight, rooms[corner])
                     for line in getattr(self._texts, corner).split("\n")]
            shown = "\n".join(lines) if any(lines) else ""
            if label.text() != shown:
                label.setText(shown)
            label.setToolTip(getattr(self._texts, corner))
            label.adjustSize()
            size = label.sizeHint()
            x = area.left() + m if corner.endswith("left") else area.right() - size.width() - m
            y = area.top() + m if corner.startswith("top") else area.bottom() - size.height() - m
            label.setGeometry(x, y, size.width(), size.height())

    def _rooms(self, available: int) -> dict[str, int]:
        """Width for each corner's lines: both corners of a row whole when they fit side by side, else each
        at least half, a corner that needs less than half leaving the rest to its neighbour (a panel with
        only W/L and zoom bottom right shows them whole)."""
        rooms: dict[str, int] = {}
        half = available // 2
        for row in ("top", "bottom"):
            need = {}
            for side in ("left", "right"):
                corner = f"{row}_{side}"
                metrics = self.labels[corner].fontMetrics()
                lines = getattr(self._texts, corner).split("\n")
                need[side] = max((metrics.horizontalAdvance(line) for line in lines), default=0) + 2
            left, right = need["left"], need["right"]
            if left + right > available:
                if left < half:
                    right = available - left
                elif right < half:
                    left = available - right
                else:
                    left = right = half
            rooms[f"{row}_left"], rooms[f"{row}_right"] = max(40, left), max(40, right)
        return rooms


def position_text(study: Any, index: int, row: int, col: int, scale: tuple[float, float]) -> str:
    """Where pixel (row, col) of slice ``index`` is: patient coordinates in mm when the file places it
    (``"LPS (x, y, z) mm"``), else mm from the image corner when the spacing is known, else nothing."""
    place = getattr(study, "patient_position", None)
    point = place(index, row, col) if place is not None else None
    if point is not None:
        frame = getattr(study, "coordinate_frame", "") or ""
        return f"{frame} ({point[0]:.1f}, {point[1]:.1f}, {point[2]:.1f}) mm"
    if getattr(study, "spacing_known", False):
        return f"({col * scale[1]:.1f}, {row * scale[0]:.1f}) mm"
    return ""


def fill_corners(panel: Any, study: Any, index: int, scale: tuple[float, float],
                 study_corners: tuple[str, str] | None, window: tuple[float, float]) -> None:
    """Set ``panel.corners``: W/L and zoom bottom right; with ``study_corners`` (the first panel) also the
    study fields (top) and the slice (bottom left). Nothing without a study."""
    if study is None:
        panel.corners.set_texts(CornerTexts())
        return
    zoom = ""
    try:
        units_per_px = panel.view.viewPixelSize()[0]
        zoom = f"\nZoom {scale[1] / units_per_px * 100:.0f} %" if units_per_px > 0 else ""
    except Exception:  # noqa: BLE001 - a view without a size yet has no zoom to show
        zoom = ""
    units = f" {study.units}" if study.units else ""
    bottom_right = f"{window_text(round(window[0]), round(window[1]))}{units}{zoom}"
    area = panel.mapFromScene(panel.view.sceneBoundingRect()).boundingRect()
    if study_corners is None:
        panel.corners.set_texts(CornerTexts(bottom_right=bottom_right), area)
    else:
        panel.corners.set_texts(CornerTexts(study_corners[0], study_corners[1], slice_line(study, index),
                                            bottom_right), area)
