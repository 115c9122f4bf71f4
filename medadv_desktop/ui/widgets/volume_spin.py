"""The volume control of a 4-D study (e.g. an fMRI or DCE NIfTI): shown only when the study has volumes."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QSpinBox


def volume_spin() -> QSpinBox:
    spin = QSpinBox()
    spin.setObjectName("volume_spin")
    spin.setPrefix("Volume ")
    spin.setKeyboardTracking(False)
    spin.setVisible(False)
    return spin


def show_volumes(spin: QSpinBox, study: Any) -> None:
    """Range, value and tooltip from ``study`` (1-based on screen), hidden for a 3-D study; no signal."""
    n = int(getattr(study, "n_volumes", 1) or 1) if study is not None else 1
    spin.blockSignals(True)
    try:
        spin.setRange(1, max(n, 1))
        spin.setSuffix(f" / {n}")
        spin.setValue(int(getattr(study, "volume_index", 0) or 0) + 1 if study is not None else 1)
        axis = getattr(study, "volume_axis", None)
        spin.setToolTip(axis.describe() if axis is not None else f"{n} volumes")
    finally:
        spin.blockSignals(False)
    spin.setVisible(n > 1)
