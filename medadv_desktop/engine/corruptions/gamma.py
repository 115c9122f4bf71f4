"""Gamma: a non-linear grey-scale response (a different processing curve or display LUT)."""

from __future__ import annotations

from typing import Any

import numpy as np

from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.engine.corruptions.base import Corruption, ImageContext, register


@register
class Gamma(Corruption):
    """Gamma: the grey-scale response is bent by a power law.

    y = lo + (hi - lo) * ((x - lo) / (hi - lo)) ** gamma over the study's own
    range [lo, hi]: lo and hi stay fixed, mid-tones darken (``direction``
    ``darker``: gamma as in the table) or brighten (``brighter``: 1 / gamma),
    as a vendor's different processing curve for X-ray or an MR intensity
    scaling would. Not for CT, whose HU are calibrated.

    | severity | gamma (darker) | 1/gamma (brighter) |
    |---|---|---|
    | 1 | 1.25 | 0.8 |
    | 2 | 1.5 | 0.67 |
    | 3 | 2.0 | 0.5 |
    | 4 | 2.5 | 0.4 |
    | 5 | 3.0 | 0.33 |
    """

    name = "gamma"
    label = "Gamma"
    description = "Power-law grey-scale response over the study's range (processing curve, display LUT)."
    modalities = ("MR", "XR", "OT")
    severity_table = {"default": (1.25, 1.5, 2.0, 2.5, 3.0)}
    severity_unit = "gamma"
    params = (
        ParamSpec("gamma", "float", None, 0.05, 20.0, "", "Exponent (overrides the severity and direction)."),
        ParamSpec("direction", "choice", "darker", help="darker: gamma > 1; brighter: 1 / gamma.",
                  choices=("darker", "brighter")),
    )

    def physical(self, x: np.ndarray, context: ImageContext) -> dict[str, Any]:
        g = self.overrides["gamma"]
        if g is None:
            g = self.level(context)
            if self.overrides["direction"] == "brighter":
                g = 1.0 / g
        return {"gamma": float(g), "range": [float(x.min()), float(x.max())]}

    def _corrupt(self, x: np.ndarray, context: ImageContext, p: dict[str, Any],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        lo, hi = p["range"]
        if hi <= lo:
            return x.copy(), {}
        t = (x - np.float32(lo)) / np.float32(hi - lo)
        return np.float32(lo) + np.float32(hi - lo) * np.power(t, np.float32(p["gamma"])), {}
