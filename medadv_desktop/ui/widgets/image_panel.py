"""One image panel of the viewer (pyqtgraph ViewBox + ImageItem), its view box and colour maps.

A panel shows one kind of image (original, adversarial, difference) with its
title, orientation labels, an optional overlay and one colour bar, whose map
and range the viewer sets for what the panel shows (the diverging difference
map, or the |perturbation| heatmap of the overlay).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QWidget

from medadv_desktop.ui import theme
from medadv_desktop.ui.widgets.corner_overlay import CornerOverlay

ORIGINAL, ADVERSARIAL, DIFFERENCE, SIDE_BY_SIDE = "original", "adversarial", "difference", "side_by_side"
VIEW_MODES = (ORIGINAL, ADVERSARIAL, DIFFERENCE, SIDE_BY_SIDE)
MODE_TITLES = {ORIGINAL: "Original", ADVERSARIAL: "Adversarial", DIFFERENCE: "Difference",
               SIDE_BY_SIDE: "Side by side"}


def difference_colormap() -> pg.ColorMap:
    """The diverging map of the signed difference (blue: lower, white: unchanged, red: higher)."""
    return pg.colormap.get("CET-D1")


def heatmap_colormap() -> pg.ColorMap:
    """'inferno' with a transparent zero so the overlay shows only where pixels changed."""
    base = pg.colormap.get("inferno")
    pos = np.linspace(0.0, 1.0, 9)
    colors = base.map(pos, mode="byte").astype(np.ubyte)
    colors[:, 3] = np.array([0, 170, 215, 240, 255, 255, 255, 255, 255], dtype=np.ubyte)
    return pg.ColorMap(pos, colors)


def perturbation_magnitude(clean: np.ndarray, adv: np.ndarray) -> np.ndarray:
    """|adv − clean| per pixel in native units; the maximum over channels for colour images."""
    diff = np.abs(adv.astype(np.float32) - clean.astype(np.float32))
    return diff.max(axis=-1) if diff.ndim == 3 else diff


class SliceViewBox(pg.ViewBox):
    """A ViewBox whose right drag sets window/level and whose wheel changes slice."""

    sig_window_drag = Signal(float, float)   # dx, dy in screen pixels
    sig_wheel_slice = Signal(int)            # +1 / -1

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.01)
        self.setBackgroundColor(theme.VIEWER_BACKGROUND)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - Qt naming
        if ev.button() == Qt.RightButton:
            ev.accept()
            delta = ev.screenPos() - ev.lastScreenPos()
            self.sig_window_drag.emit(float(delta.x()), float(delta.y()))
            return
        super().mouseDragEvent(ev, axis)

    def wheelEvent(self, ev, axis=None):  # noqa: N802
        if ev.modifiers() & Qt.ControlModifier:
            super().wheelEvent(ev, axis)
            return
        ev.accept()
        self.sig_wheel_slice.emit(-1 if ev.delta() > 0 else 1)


class PanelTitle(pg.LabelItem):
    """A panel's title, elided to the room it is given: ``text`` keeps the whole title (its tooltip too),
    so a long title never widens the panel past its share of the viewer (which pushed the image and the
    colour bar out of a narrow side-by-side panel at 1280x800)."""

    def __init__(self, text: str) -> None:
        super().__init__("", color=theme.TEXT, size="9pt", bold=True)
        self.room = 10_000
        self.setText(text)

    def setText(self, text, **args):  # noqa: N802 - pyqtgraph naming
        font = QFont()
        font.setPointSizeF(9)
        font.setBold(True)
        shown = QFontMetrics(font).elidedText(str(text), Qt.ElideRight, max(30, int(getattr(self, "room", 10_000))))
        super().setText(shown, **args)
        self.text = text
        self.setToolTip(text if shown != text else "")
        self.setMinimumWidth(0)                   # the panel's width decides, not the text

    def set_room(self, width: float) -> None:
        if abs(width - self.room) >= 1:
            self.room = width
            self.setText(self.text)


class ImagePanel(pg.GraphicsLayoutWidget):
    """One image with title, orientation labels, optional heatmap overlay and one colour bar."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground(theme.VIEWER_BACKGROUND)
        self.setMinimumSize(160, 160)
        self.ci.setContentsMargins(2, 2, 2, 2)
        self.ci.setSpacing(0)
        self.kind = ORIGINAL
        self.title = PanelTitle(title)
        self.addItem(self.title, row=0, col=0, colspan=4)
        self.label_top = self.addLabel("", row=1, col=1, color=theme.WARNING, size="9pt")
        self.label_left = self.addLabel("", row=2, col=0, color=theme.WARNING, size="9pt")
        self.view = SliceViewBox()
        self.addItem(self.view, row=2, col=1)
        self.label_right = self.addLabel("", row=2, col=2, color=theme.WARNING, size="9pt")
        self.label_bottom = self.addLabel("", row=3, col=1, color=theme.WARNING, size="9pt")
        for label in (self.label_left, self.label_right):
            label.setMaximumWidth(18)
        for label in (self.label_top, self.label_bottom):
            label.setMaximumHeight(18)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.overlay.setZValue(10)
        self.view.addItem(self.image)
        self.view.addItem(self.overlay)
        self.colorbar: pg.ColorBarItem | None = None
        self.colorbar_map: pg.ColorMap | None = None
        self.data: np.ndarray | None = None        # native values of what is displayed
        self.corners = CornerOverlay(self)         # de-identified corner text (the viewer fills it)

    def set_title(self, text: str) -> None:
        self.title.setText(text)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        title = getattr(self, "title", None)          # pyqtgraph resizes once before __init__ is through
        if title is not None:
            title.set_room(self.width() - 16)
        super().resizeEvent(event)

    def set_orientation(self, labels: tuple[str, str, str, str] | None) -> None:
        left, right, top, bottom = labels or ("", "", "", "")
        self.label_left.setText(left)
        self.label_right.setText(right)
        self.label_top.setText(top)
        self.label_bottom.setText(bottom)

    def show_colorbar(self, cmap: pg.ColorMap, levels: tuple[float, float], label: str) -> pg.ColorBarItem:
        """Show this panel's colour bar with ``cmap`` over ``levels`` (a display: the image's own
        look-up table is set by the viewer)."""
        if self.colorbar is None:
            self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=cmap, interactive=False, width=12,
                                            colorMapMenu=False)
            self.addItem(self.colorbar, row=2, col=3)
        bar = self.colorbar
        if self.colorbar_map is not cmap:
            bar.setColorMap(cmap)
            self.colorbar_map = cmap
        bar.setLevels(levels)
        bar.axis.setLabel(label)
        bar.setVisible(True)
        return bar

    def hide_colorbar(self) -> None:
        if self.colorbar is not None:
            self.colorbar.setVisible(False)

    @property
    def colorbar_visible(self) -> bool:
        return self.colorbar is not None and self.colorbar.isVisible()

    def pixel_at(self, scene_pos: QPointF, scale: tuple[float, float]) -> tuple[int, int] | None:
        """(row, col) of the data pixel under a scene position, or None outside."""
        if self.data is None or not self.view.sceneBoundingRect().contains(scene_pos):
            return None
        p = self.view.mapSceneToView(scene_pos)
        col, row = int(math.floor(p.x() / scale[1])), int(math.floor(p.y() / scale[0]))
        if 0 <= row < self.data.shape[0] and 0 <= col < self.data.shape[1]:
            return row, col
        return None
