"""The W/L preset combo: window width first, then level, as its label says; "Custom" after a manual change.

Items read ``"Brain (W 80 / L 40)"`` under the label "W/L" (DICOM and OHIF
order: width, then level/centre). When the window no longer matches a preset
(right drag, histogram, typed values) the combo shows ``"Custom"`` instead of
keeping a stale preset name (the values are beside it and in the corner overlay). Digits 1-9 pick presets 1-9 (the
viewer forwards them; see :data:`medadv_desktop.ui.widgets.shortcut_list.VIEWER_SHORTCUTS`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QSizePolicy, QWidget

CUSTOM = "Custom"


def window_text(width: float, level: float) -> str:
    """``"W 400 / L 40"`` (width first, as the label "W/L" says)."""
    return f"W {width:.5g} / L {level:.5g}"     # 5 significant digits: "W 52.645 / L 399.4", "W 1500 / L -600"


def preset_label(name: str, width: float, level: float) -> str:
    return f"{name} ({window_text(width, level)})"


class WindowPresetCombo(QComboBox):
    """Presets as (name, level, width); ``sig_window(level, width)`` when the user picks one."""

    sig_window = Signal(float, float)    # level (centre), width; native units

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("preset_combo")
        self.setToolTip("Window presets: width / level in native units (keys 1-9)")
        self.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.setSizePolicy(QSizePolicy.Minimum, QSizePolicy.Fixed)     # never clipped (its text is the window)
        self._presets: list[tuple[str, float, float]] = []
        self.activated.connect(self._on_activated)

    def set_presets(self, presets: Iterable[Any]) -> None:
        """Presets with ``name``, ``center`` and ``width`` attributes (engine ``WindowPreset``)."""
        self.clear()
        self._presets = [(str(p.name), float(p.center), float(p.width)) for p in presets]
        for name, level, width in self._presets:
            self.addItem(preset_label(name, width, level), (level, width))

    @property
    def presets(self) -> list[tuple[str, float, float]]:
        return list(self._presets)

    def preset(self, number: int) -> tuple[float, float] | None:
        """(level, width) of preset ``number`` counted from 1, None when there is none."""
        if 1 <= number <= len(self._presets):
            _name, level, width = self._presets[number - 1]
            return level, width
        return None

    def sync(self, level: float, width: float) -> None:
        """Show the preset the window matches, else the "Custom" item."""
        match = next((i for i, (_n, lv, w) in enumerate(self._presets)
                      if abs(lv - level) < 1e-6 and abs(w - width) < 1e-6), None)
        custom_index = len(self._presets)
        if match is not None:
            if self.count() > custom_index:
                self.removeItem(custom_index)
            self.setCurrentIndex(match)
            return
        if self.count() <= custom_index:        # the values themselves are beside the combo and in the corner
            self.addItem(CUSTOM, None)
        self.setCurrentIndex(custom_index)

    @property
    def is_custom(self) -> bool:
        return self.currentData() is None and self.count() > len(self._presets)

    def _on_activated(self, index: int) -> None:
        data = self.itemData(index)
        if data:
            self.sig_window.emit(float(data[0]), float(data[1]))
