"""What the viewer's opt-in overlay shows for the current slice, and the Overlay check box.

The input gradient comes with the attack's outcome (computed on the worker by
:func:`medadv_desktop.engine.workflows.study_attack.input_gradient`); with it the
overlay is ``|Δ × ∂loss/∂x|`` for every norm (L∞ included: where the perturbation
moves the model's loss), without it :func:`~medadv_desktop.engine.perturbation.overlay_map`
decides (``|Δ|`` when it varies, nothing for a uniform L∞ ``|Δ|``).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QCheckBox

from medadv_desktop.engine.perturbation import OverlayMap, overlay_map

__all__ = ["OverlaySource", "overlay_check"]

OVERLAY_TOOLTIP = ("Opt-in overlay of where the perturbation matters: |Δ × ∂loss/∂x| (the perturbation times the "
                   "model's loss gradient at the original image, a first-order estimate of each pixel's effect) "
                   "when the attack's gradient is at hand, for every norm; otherwise |adversarial − original| in "
                   "native units when it varies, and no map for an L∞ perturbation (|Δ| = eps almost everywhere)")


def overlay_check() -> QCheckBox:
    check = QCheckBox("Overlay")
    check.setObjectName("heatmap_check")
    check.setToolTip(OVERLAY_TOOLTIP)
    return check


class OverlaySource:
    """Per-slice input gradients (native units) of the shown attack, and the overlay they give."""

    def __init__(self) -> None:
        self.gradients: dict[int, np.ndarray] = {}

    def set(self, gradients: dict[int, np.ndarray] | None) -> None:
        self.gradients = {int(k): np.asarray(v, dtype=np.float32) for k, v in (gradients or {}).items()}

    def overlay(self, index: int, clean: np.ndarray, adv: np.ndarray, units: str) -> OverlayMap:
        gradient = self.gradients.get(index)
        if gradient is not None and gradient.shape != np.shape(adv):
            gradient = None                        # not this image's gradient: never draw a mismatched map
        return overlay_map(clean, adv, units=units, gradient=gradient)
