"""The image viewer, built from pyqtgraph parts (ViewBox + ImageItem + HistogramLUTItem).

Interaction (radiology conventions):

- keys, mouse and their list: :data:`.shortcut_list.VIEWER_SHORTCUTS` (OHIF conventions);
- "W/L" combo: presets as width / level in native units, "Custom" after a manual change;
- corner overlays: de-identified study fields, slice position, W/L, zoom (:mod:`.corner_overlay`);
- ruler / ellipse ROI (:mod:`.measure_tools`), the volume of a 4-D study (:mod:`.volume_spin`).

Views: original, adversarial, difference (adversarial − original, in native
units, diverging colour map centred at 0 over a symmetric robust range with
its colour bar, always), and side by side (all three with linked pan, zoom,
slice and window). After an attack the viewer shows side by side at the
clinical window, no overlay (it looks the same, yet the prediction flipped);
the opt-in overlay shows what :class:`.overlay_source.OverlaySource` chooses
(|Δ × ∂loss/∂x| with the attack's input gradient; never a uniform L-inf wash). Flicker alternates original and adversarial.

How a panel shows its kind of image lives in one place,
:meth:`ViewerWidget._render_panel`: every refresh sets each visible panel's
image, look-up table, levels, overlay and colour bar from scratch, so no
earlier state (another study, a study without results) can leave a panel
without its colour map.

Every array here is in the study's native units; the viewer never converts
to [0, 1]. Slices are numbered from 1 on screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup, QHBoxLayout, QLabel, QSizePolicy, QSlider, QToolButton, QVBoxLayout,
    QWidget,
)

from medadv_desktop.engine.perturbation import OverlayMap, signed_delta, symmetric_range
from medadv_desktop.ui import theme
from medadv_desktop.ui.widgets.corner_overlay import fill_corners, position_text, study_lines
from medadv_desktop.ui.widgets.flicker_button import FlickerButton
from medadv_desktop.ui.widgets.measure_tools import ELLIPSE, RULER, MeasureTools, measure_button
from medadv_desktop.ui.widgets.overlay_source import OverlaySource, overlay_check
from medadv_desktop.ui.widgets.volume_spin import show_volumes, volume_spin
from medadv_desktop.ui.widgets.image_panel import (
    ADVERSARIAL, DIFFERENCE, MODE_TITLES, ORIGINAL, SIDE_BY_SIDE, VIEW_MODES, ImagePanel, difference_colormap,
    heatmap_colormap, perturbation_magnitude,
)
from medadv_desktop.ui.widgets.window_presets import WindowPresetCombo, window_text

if TYPE_CHECKING:  # pragma: no cover
    from medadv_desktop.engine.io.study import Study

__all__ = ["ADVERSARIAL", "DIFFERENCE", "ORIGINAL", "SIDE_BY_SIDE", "VIEW_MODES", "ViewerWidget"]


class ViewerWidget(QWidget):
    """Slice viewer with original / adversarial / difference views and a heatmap overlay.

    Public API (used by the main window and tests):
    ``set_study(study)``, ``set_adversarial(slices: dict[int, ndarray])`` (native
    adversarial slices, same shape as the study's slices), ``clear_adversarial()``,
    ``set_slice(i)``, ``set_mode(mode)``, ``set_window(center, width)``,
    ``set_heatmap_visible(bool)``, ``set_heatmap_opacity(0..1)``,
    ``heatmap_array()`` (the |perturbation| of the current slice, native units).
    """

    sig_slice_changed = Signal(int)
    sig_volume_requested = Signal(int)          # a 4-D study: show this volume (0-based)
    sig_cursor_text = Signal(str)
    sig_mode_changed = Signal(str)
    sig_window_changed = Signal(float, float)    # center, width (native units)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("viewer")
        self.study: Study | None = None
        self.adversarial: dict[int, np.ndarray] = {}
        self.current = 0
        self.mode = ORIGINAL
        self.center, self.width = 40.0, 400.0
        self._scale = (1.0, 1.0)            # (row, col) mm per pixel
        self._updating_levels = False
        self._heat_max = 0.0
        self.overlay_info: OverlayMap | None = None   # what the opt-in overlay shows (or why nothing)
        self.overlay_source = OverlaySource()         # the attack's input gradients, per slice
        self._flicker: bool | None = None             # None: not flickering; else True = adversarial showing
        self._study_corners = ("", "")
        self.setFocusPolicy(Qt.StrongFocus)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        outer.addLayout(self._build_controls())

        images = QHBoxLayout()
        images.setSpacing(2)
        self.panels = [ImagePanel("Original"), ImagePanel("Adversarial"), ImagePanel("Difference")]
        self.panels[1].kind, self.panels[2].kind = ADVERSARIAL, DIFFERENCE
        for panel in self.panels:
            images.addWidget(panel, 1)
            panel.view.sig_window_drag.connect(self._on_window_drag)
            panel.view.sig_wheel_slice.connect(lambda step: self.set_slice(self.current + step))
            panel.scene().sigMouseMoved.connect(lambda pos, p=panel: self._on_mouse_moved(p, pos))
            panel.setFocusProxy(self)        # a click on the image gives the viewer the keys
            panel.view.sigRangeChanged.connect(lambda *_a, p=panel: self._update_corners(p))
        for panel in self.panels[1:]:
            panel.view.setXLink(self.panels[0].view)
            panel.view.setYLink(self.panels[0].view)
        self.heat_cmap = heatmap_colormap()
        self.diff_cmap = difference_colormap()
        self._heat_lut = self.heat_cmap.getLookupTable(nPts=256, alpha=True)
        self._diff_lut = self.diff_cmap.getLookupTable(nPts=256, alpha=False)
        self.heat_bar: pg.ColorBarItem | None = None      # the bar showing |Δ| (the last panel that had one)

        # Histogram: a window control driven by the original slice.
        self._hist_source = pg.ImageItem(axisOrder="row-major")
        self.histogram_widget = pg.GraphicsLayoutWidget()
        self.histogram_widget.setBackground(theme.PANEL)
        self.histogram_widget.setFixedWidth(96)
        self.histogram = pg.HistogramLUTItem(image=self._hist_source, fillHistogram=True)
        self.histogram.gradient.hide() if hasattr(self.histogram, "gradient") else None
        self.histogram_widget.addItem(self.histogram)
        self.histogram.sigLevelsChanged.connect(self._on_histogram_levels)
        images.addWidget(self.histogram_widget)
        outer.addLayout(images, 1)
        self.measure = MeasureTools(self.panels[0], self)     # ruler and ellipse ROI on the first panel
        outer.addLayout(self._build_slice_bar())
        self._apply_mode()
        self.set_heatmap_opacity(self.opacity_slider.value() / 100)
        self.opacity_slider.setVisible(False)
        self._show_placeholder()

    # -- construction -------------------------------------------------------
    def _build_controls(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setContentsMargins(4, 2, 4, 0)
        self.mode_group = QButtonGroup(self)
        self.mode_buttons: dict[str, QToolButton] = {}
        for mode in VIEW_MODES:
            button = QToolButton()
            button.setText(MODE_TITLES[mode])
            button.setCheckable(True)
            button.setObjectName(f"mode_{mode}")
            button.clicked.connect(lambda _c=False, m=mode: self.set_mode(m))
            self.mode_group.addButton(button)
            self.mode_buttons[mode] = button
            row.addWidget(button)
        self.mode_buttons[ORIGINAL].setChecked(True)
        row.addSpacing(12)
        row.addWidget(QLabel("W/L"))
        self.preset_combo = WindowPresetCombo()
        self.preset_combo.sig_window.connect(self.set_window)
        row.addWidget(self.preset_combo)
        row.addStretch(1)
        self.flicker_button = FlickerButton()
        self.flicker_button.sig_phase.connect(self._on_flicker_phase)
        self.flicker_button.sig_stopped.connect(self._on_flicker_stopped)
        row.addWidget(self.flicker_button)
        self.heatmap_check = overlay_check()
        self.heatmap_check.toggled.connect(self.set_heatmap_visible)
        row.addWidget(self.heatmap_check)
        self.opacity_slider = QSlider(Qt.Horizontal)
        self.opacity_slider.setObjectName("opacity_slider")
        self.opacity_slider.setToolTip("Heatmap opacity")
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(50)
        self.opacity_slider.setFixedWidth(70)
        self.opacity_slider.valueChanged.connect(lambda v: self.set_heatmap_opacity(v / 100))
        row.addWidget(self.opacity_slider)
        fit = QToolButton()
        fit.setText("Fit")
        fit.setToolTip("Reset zoom and pan (F)")
        fit.clicked.connect(self.reset_view)
        row.addWidget(fit)
        return row

    def _build_slice_bar(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setContentsMargins(4, 0, 4, 2)
        self.slice_label = QLabel("Slice –")
        self.slice_label.setSizePolicy(QSizePolicy.Minimum, QSizePolicy.Fixed)   # never clipped at 1280x800
        row.addWidget(self.slice_label)
        self.slice_slider = QSlider(Qt.Horizontal)
        self.slice_slider.setObjectName("slice_slider")
        self.slice_slider.setRange(0, 0)
        self.slice_slider.valueChanged.connect(self.set_slice)
        self.slice_slider.setMinimumWidth(100)      # it stays usable at 1280x800 beside a 4-D study's volume box
        row.addWidget(self.slice_slider, 1)
        self.volume_spin = volume_spin()
        self.volume_spin.valueChanged.connect(lambda v: self.sig_volume_requested.emit(v - 1))
        row.addWidget(self.volume_spin)
        self.measure_buttons = {kind: measure_button(kind) for kind in (RULER, ELLIPSE)}
        for kind, button in self.measure_buttons.items():
            button.toggled.connect(lambda on, k=kind: self.set_measure(k, on))
            row.addWidget(button)
        self.window_label = QLabel("")
        self.window_label.setObjectName("dim")
        row.addWidget(self.window_label)
        self.cursor_label = QLabel("")
        self.cursor_label.setObjectName("cursor_label")
        self.cursor_label.setMinimumWidth(170)
        self.cursor_label.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)
        row.addWidget(self.cursor_label)
        return row

    def _show_placeholder(self) -> None:
        self.panels[0].set_title("No study loaded — File ▸ Open, drag a file here, or File ▸ Open Demo")

    # -- study --------------------------------------------------------------
    def set_study(self, study: Study | None) -> None:
        self.flicker_button.setChecked(False)
        self.study, self.adversarial, self.altered_label = study, {}, "Adversarial"
        self.overlay_source.set(None)
        self.preset_combo.clear()
        self._study_corners = study_lines(study) if study is not None else ("", "")
        if study is None:
            for panel in self.panels:
                panel.image.clear()
                panel.overlay.clear()
                panel.hide_colorbar()
                panel.data = None
            self.slice_slider.setRange(0, 0)
            self.measure.set_study(None, (1.0, 1.0))
            show_volumes(self.volume_spin, None)
            self._show_placeholder()
            return
        row_mm, col_mm = float(study.spacing[1] or 1.0), float(study.spacing[2] or 1.0)
        self._scale = (row_mm, col_mm)
        presets = list(study.presets) or [study.default_preset()]
        self.preset_combo.set_presets(presets)
        self.measure.set_study(study, self._scale)
        show_volumes(self.volume_spin, study)
        for button in self.measure_buttons.values():
            button.setChecked(False)
        for panel in self.panels:
            panel.set_orientation(study.orientation)
        self.slice_slider.blockSignals(True)
        self.slice_slider.setRange(0, study.n_slices - 1)
        default = getattr(study, "default_slice", None)      # a labelled finding, else the middle
        self.current = int(default) if default is not None and 0 <= int(default) < study.n_slices \
            else study.n_slices // 2
        self.slice_slider.setValue(self.current)
        self.slice_slider.blockSignals(False)
        self.set_window(presets[0].center, presets[0].width)
        self._refresh()
        self.reset_view()
        self.sig_slice_changed.emit(self.current)

    def set_adversarial(self, slices: dict[int, np.ndarray], *, show: bool = True,
                        gradients: dict[int, np.ndarray] | None = None, label: str = "Adversarial") -> None:
        """Native altered slices (``label``: Adversarial, Corrupted) and loss ``gradients`` by index; ``show``: side by side."""
        self.adversarial, self.altered_label = {int(k): np.asarray(v, dtype=np.float32) for k, v in slices.items()}, label
        self.overlay_source.set(gradients)
        self.flicker_button.setEnabled(bool(self.adversarial))
        if self.adversarial and self.current not in self.adversarial:
            self.set_slice(min(self.adversarial))
        self._refresh()
        if show and self.adversarial:
            self.heatmap_check.setChecked(False)
            self.set_mode(SIDE_BY_SIDE)

    def clear_adversarial(self) -> None:
        self.flicker_button.setChecked(False)
        self.flicker_button.setEnabled(False)
        self.adversarial = {}
        self.overlay_source.set(None)
        self.heatmap_check.setChecked(False)
        self.set_mode(ORIGINAL)
        self._refresh()

    @property
    def has_adversarial(self) -> bool:
        return self.current in self.adversarial

    def original_slice(self) -> np.ndarray | None:
        if self.study is None:
            return None
        return np.asarray(self.study.pixels[self.current], dtype=np.float32)

    def adversarial_slice(self) -> np.ndarray | None:
        return self.adversarial.get(self.current)

    def heatmap_array(self) -> np.ndarray | None:
        """|adversarial − original| of the current slice (native units), or None."""
        clean, adv = self.original_slice(), self.adversarial_slice()
        return None if clean is None or adv is None else perturbation_magnitude(clean, adv)

    def set_measure(self, kind: str, on: bool) -> None:
        """Show (``on``) or remove the ruler / ellipse ROI on the first panel."""
        if self.measure_buttons[kind].isChecked() != on:
            self.measure_buttons[kind].setChecked(on)
            return
        if not on:
            self.measure.remove(kind)
        elif self.study is not None:
            self.measure.add_ruler() if kind == RULER else self.measure.add_ellipse()

    # -- slice --------------------------------------------------------------
    def set_slice(self, index: int) -> None:
        if self.study is None:
            return
        index = max(0, min(int(index), self.study.n_slices - 1))
        if index == self.current and self.slice_slider.value() == index and self.panels[0].data is not None:
            return
        self.current = index
        self.slice_slider.blockSignals(True)
        self.slice_slider.setValue(index)
        self.slice_slider.blockSignals(False)
        self._refresh()
        self.sig_slice_changed.emit(index)

    # -- window / level -----------------------------------------------------
    def set_window(self, center: float, width: float) -> None:
        width = max(float(width), 1e-6)
        self.center, self.width = float(center), width
        low, high = center - width / 2, center + width / 2
        for panel in self.panels:
            if panel.kind in (ORIGINAL, ADVERSARIAL) and panel.data is not None:
                panel.image.setLevels((low, high))
        self._updating_levels = True
        try:
            self.histogram.setLevels(low, high)
        finally:
            self._updating_levels = False
        unit = f" {self.study.units}" if self.study is not None and self.study.units else ""
        self.window_label.setText(f"{window_text(round(width), round(center))}{unit}")
        self.preset_combo.sync(self.center, self.width)
        for panel in self.panels:
            self._update_corners(panel)
        self.sig_window_changed.emit(self.center, self.width)

    def apply_preset(self, number: int) -> bool:
        """Window preset ``number`` (from 1, the combo's order); False when there is none."""
        preset = self.preset_combo.preset(number)
        if preset is None:
            return False
        self.set_window(*preset)
        return True

    def _on_histogram_levels(self, *_args) -> None:
        if self._updating_levels:
            return
        low, high = self.histogram.getLevels()
        if high > low:
            self.set_window((low + high) / 2, high - low)

    def _on_window_drag(self, dx: float, dy: float) -> None:
        # OHIF / Cornerstone: right = wider, down = higher level (darker image)
        step = max(self.width, 1.0) / 250.0
        self.set_window(self.center + dy * step, max(1.0, self.width + dx * step))

    # -- view modes ---------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in VIEW_MODES:
            raise ValueError(f"unknown view mode {mode!r}")
        self.flicker_button.setChecked(False)
        self.mode = mode
        self.mode_buttons[mode].setChecked(True)
        self._apply_mode()
        self._refresh()
        # The panels change shape with the mode: fit the image again once the
        # layout has settled (now, and after Qt has processed the resize).
        self.reset_view()
        QTimer.singleShot(0, self.reset_view)
        self.sig_mode_changed.emit(mode)

    def _apply_mode(self) -> None:
        if self._flicker is not None:
            kinds: tuple[str, ...] = (ADVERSARIAL if self._flicker else ORIGINAL,)
        elif self.mode == SIDE_BY_SIDE:
            kinds = (ORIGINAL, ADVERSARIAL, DIFFERENCE)
        else:
            kinds = (self.mode,)
        for panel, kind in zip(self.panels, kinds + (None,) * (3 - len(kinds)), strict=True):
            panel.setVisible(kind is not None)
            if kind is not None:
                panel.kind = kind

    def set_heatmap_visible(self, visible: bool) -> None:
        if self.heatmap_check.isChecked() != bool(visible):
            self.heatmap_check.setChecked(bool(visible))
            return
        self.opacity_slider.setVisible(bool(visible))      # its opacity matters only while the overlay is on
        self._refresh()

    def set_heatmap_opacity(self, opacity: float) -> None:
        opacity = min(1.0, max(0.0, float(opacity)))
        if abs(self.opacity_slider.value() - round(opacity * 100)) >= 1:
            self.opacity_slider.setValue(round(opacity * 100))
        for panel in self.panels:
            panel.overlay.setOpacity(opacity)

    def reset_view(self) -> None:
        self.panels[0].view.autoRange(padding=0.01)

    # -- flicker ------------------------------------------------------------
    def _on_flicker_phase(self, adversarial: bool) -> None:
        """One panel alternates original / adversarial at the same window, pan and zoom."""
        first = self._flicker is None
        self._flicker = bool(adversarial)
        self._apply_mode()
        self._refresh()
        if first:
            QTimer.singleShot(0, self.reset_view)

    def _on_flicker_stopped(self) -> None:
        if self._flicker is not None:
            self._flicker = None
            self._apply_mode()
            self._refresh()
            QTimer.singleShot(0, self.reset_view)

    @property
    def flickering(self) -> bool:
        return self._flicker is not None

    # -- keys ---------------------------------------------------------------
    _SLICE_KEYS = {Qt.Key_Up: -1, Qt.Key_Down: 1, Qt.Key_PageUp: -1, Qt.Key_PageDown: 1}

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt naming
        """Slices (arrows, PgUp/PgDn, Home/End), presets (1-9), flicker (Space): the list in
        :data:`medadv_desktop.ui.widgets.shortcut_list.VIEWER_SHORTCUTS`."""
        key = event.key()
        if self.study is not None and not event.modifiers() & (Qt.ControlModifier | Qt.AltModifier):
            if key in self._SLICE_KEYS:
                self.set_slice(self.current + self._SLICE_KEYS[key])
                return
            if key in (Qt.Key_Home, Qt.Key_End):
                self.set_slice(0 if key == Qt.Key_Home else self.study.n_slices - 1)
                return
            if Qt.Key_1 <= key <= Qt.Key_9 and self.apply_preset(int(key) - int(Qt.Key_0)):
                return
            if key == Qt.Key_Space and self.flicker_button.isEnabled():
                self.flicker_button.toggle()
                return
        super().keyPressEvent(event)

    # -- rendering ----------------------------------------------------------
    def _refresh(self) -> None:
        if self.study is None:
            return
        clean = self.original_slice()
        adv = self.adversarial_slice()
        rect = QRectF(0, 0, clean.shape[1] * self._scale[1], clean.shape[0] * self._scale[0])
        text = f"Slice {self.current + 1} / {self.study.n_slices}"
        position = getattr(self.study, "slice_position", None)
        pos = position(self.current) if position is not None else None
        self.slice_label.setText(text + (f"  ({pos:.1f} mm)" if pos is not None else ""))
        self._hist_source.setImage(clean if clean.ndim == 2 else clean.mean(axis=-1), autoLevels=False)
        heat = None
        self.overlay_info = None
        if adv is not None:
            self.overlay_info = self.overlay_source.overlay(self.current, clean, adv, self.study.units or "a.u.")
            heat = self.overlay_info.array
            self._heat_max = self.overlay_info.levels[1] if heat is not None else 0.0
        for panel in self.panels:
            if not panel.isHidden():
                self._render_panel(panel, clean, adv, heat, rect)
                self._update_corners(panel)
        self.measure.update()           # the first panel may show another slice or image now

    def _render_panel(self, panel: ImagePanel, clean: np.ndarray, adv: np.ndarray | None,
                      heat: np.ndarray | None, rect: QRectF) -> None:
        """Everything one panel shows for its kind, set from scratch."""
        units = (self.study.units if self.study is not None else "") or "a.u."
        low, high = self.center - self.width / 2, self.center + self.width / 2
        kind = panel.kind
        if kind == DIFFERENCE:
            data = signed_delta(clean, adv if adv is not None else clean)
            vmax = symmetric_range(data)       # robust, symmetric about 0
            panel.image.setImage(data, autoLevels=False)
            panel.image.setLookupTable(self._diff_lut)
            panel.image.setLevels((-vmax, vmax))
            panel.show_colorbar(self.diff_cmap, (-vmax, vmax), f"Δ {units}")
            title = f"Difference ({'adv' if self.altered_label == 'Adversarial' else self.altered_label[:4].lower() + '.'} − orig, {units})" if adv is not None else \
                "Difference — no attack yet (all 0)"
            show_overlay = False
        else:
            data = adv if (kind == ADVERSARIAL and adv is not None) else clean
            panel.image.setImage(data, autoLevels=False)
            panel.image.setLookupTable(None)
            panel.image.setLevels((low, high))
            if kind == ORIGINAL:
                title = "Original"
            else:
                title = self.altered_label if adv is not None else "Adversarial — no attack yet (original)"
            if self._flicker is not None:
                title = f"Flicker: {title.split(' —')[0].lower()}"
            explain = (adv is not None and kind == ADVERSARIAL and self.heatmap_check.isChecked()
                       and self.overlay_info is not None)
            if explain and self.overlay_info is not None and self.overlay_info.array is None:
                # short in the title (a long one would squeeze the image); the whole reason in the tooltip
                title += " · no overlay (uniform L∞ |Δ|)" if "L∞" in self.overlay_info.label else " · no overlay"
            panel.setToolTip(self.overlay_info.label if explain and self.overlay_info is not None else "")
            # side by side keeps the original clean for comparison; single views overlay what they show
            show_overlay = (heat is not None and self.heatmap_check.isChecked()
                            and (kind == ADVERSARIAL or self.mode != SIDE_BY_SIDE))
        panel.data = data
        panel.image.setRect(rect)
        if panel.title.text != title:
            panel.set_title(title)
        if show_overlay:
            vmax = max(self._heat_max, 1e-6)
            panel.overlay.setImage(heat, autoLevels=False)
            panel.overlay.setLookupTable(self._heat_lut)
            panel.overlay.setLevels((0.0, vmax))
            panel.overlay.setRect(rect)
            label = self.overlay_info.label if self.overlay_info is not None else f"|Δ| {units}"
            self.heat_bar = panel.show_colorbar(self.heat_cmap, (0.0, vmax), label.split(" (")[0])
        elif kind != DIFFERENCE:
            panel.hide_colorbar()
        panel.overlay.setVisible(show_overlay)

    def _update_corners(self, panel: ImagePanel) -> None:
        """The panel's corner text: study fields and slice on the first visible panel, W/L and zoom on each."""
        first = next((p for p in self.panels if not p.isHidden()), None) is panel
        fill_corners(panel, self.study if panel.data is not None else None, self.current, self._scale,
                     self._study_corners if first else None, (self.width, self.center))

    def position_text(self, row: int, col: int) -> str:
        """Where pixel (row, col) of the current slice is (patient mm, else mm, else nothing)."""
        return position_text(self.study, self.current, row, col, self._scale) if self.study is not None else ""

    @property
    def diff_bar(self) -> pg.ColorBarItem | None:
        """The colour bar of the visible difference panel (None when no difference panel is shown)."""
        panel = next((p for p in self.panels if not p.isHidden() and p.kind == DIFFERENCE), None)
        return panel.colorbar if panel is not None else None

    def _on_mouse_moved(self, panel: ImagePanel, pos: QPointF) -> None:
        hit = panel.pixel_at(pos, self._scale)
        if hit is None or self.study is None:
            return
        row, col = hit
        value = panel.data[row, col]
        units = self.study.units or ""
        if np.ndim(value):
            text_value = "(" + ", ".join(f"{v:.0f}" for v in np.ravel(value)) + ")"
        else:
            text_value = f"{float(value):.1f}"
        label = {ORIGINAL: "orig", ADVERSARIAL: "adv", DIFFERENCE: "Δ"}[panel.kind]
        text = f"x {col}  y {row}  {self.position_text(row, col)}   {label} {text_value} {units}".rstrip()
        heat = self.heatmap_array()
        if heat is not None and panel.kind != DIFFERENCE:
            text += f"   |Δ| {heat[row, col]:.2f} {units}".rstrip()
        self.cursor_label.setText(text)
        self.sig_cursor_text.emit(text)
