"""Contrast loss: differences from the mean shrink (scatter, a flatter processing curve)."""

from __future__ import annotations

from typing import Any

import numpy as np

from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.engine.corruptions.base import Corruption, ImageContext, register


@register
class ContrastLoss(Corruption):
    """Contrast loss: y = m + c (x - m), with m the study's mean.

    Every difference between pixels shrinks to c times its size (the image
    SD becomes c times the original) while the mean stays: as added scatter
    radiation or a flatter processing curve would do. Not for CT, whose HU
    are calibrated.

    | severity | contrast kept c |
    |---|---|
    | 1 | 90 % |
    | 2 | 80 % |
    | 3 | 65 % |
    | 4 | 50 % |
    | 5 | 35 % |
    """

    name = "contrast"
    label = "Contrast loss"
    description = "Differences from the study's mean shrink by a factor (scatter, flatter processing curve)."
    modalities = ("MR", "XR", "OT")
    severity_table = {"default": (90.0, 80.0, 65.0, 50.0, 35.0)}
    severity_unit = "% contrast kept"
    params = (
        ParamSpec("contrast", "float", None, 0.0, 1.0, "fraction", "Contrast kept (overrides the severity)."),
    )

    def physical(self, x: np.ndarray, context: ImageContext) -> dict[str, Any]:
        c = self.overrides["contrast"]
        c = float(c) if c is not None else self.level(context) / 100
        return {"contrast_kept": c, "mean": float(x.mean(dtype=np.float64))}

    def _corrupt(self, x: np.ndarray, context: ImageContext, p: dict[str, Any],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        m = np.float32(p["mean"])
        return m + np.float32(p["contrast_kept"]) * (x - m), {}
