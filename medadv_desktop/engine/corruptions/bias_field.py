"""Bias field: a smooth multiplicative intensity non-uniformity (MR coil sensitivity, X-ray heel effect)."""

from __future__ import annotations

from typing import Any

import numpy as np

from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.engine.corruptions._signal import baseline
from medadv_desktop.engine.corruptions.base import Corruption, ImageContext, register


def smooth_field(shape: tuple[int, int, int], spacing: tuple[float, float, float], order: int,
                 rng: np.random.Generator) -> np.ndarray:
    """A random polynomial field of the given order over (S, H, W), scaled to [-1/2, 1/2].

    Coordinates are in mm, centred and divided by half the largest extent, so the field is
    equally smooth per mm along every axis (a thin volume varies little through its slices).
    """
    s, h, w = shape
    axes = [(np.arange(n) - (n - 1) / 2) * sp for n, sp in zip((s, h, w), spacing, strict=True)]
    half = max(max(float(np.abs(a).max()) for a in axes), 1e-6)
    z, y, x = (np.asarray(a / half, dtype=np.float32) for a in axes)
    field = np.zeros(shape, dtype=np.float32)
    for i in range(order + 1):
        for j in range(order + 1 - i):
            for k in range(order + 1 - i - j):
                if i + j + k == 0 or (s == 1 and i > 0):
                    continue
                c = np.float32(rng.standard_normal())
                field += c * (z[:, None, None] ** i) * ((y[:, None] ** j) * (x[None, :] ** k))[None]
    lo, hi = float(field.min()), float(field.max())
    if hi - lo < 1e-12:
        return np.zeros(shape)
    return (field - (lo + hi) / 2) / (hi - lo)


@register
class BiasField(Corruption):
    """Bias field: the image is multiplied by a smooth random field.

    y = b + (x - b) * m, with m = 1 + p * g, g a random polynomial of order 3
    (in mm coordinates, 3-D for volumes so that neighbouring slices share the
    field) scaled to [-1/2, 1/2] over the study, so m spans exactly
    [1 - p/2, 1 + p/2]: p is the peak-to-peak non-uniformity. b = min(0, min x)
    is the baseline (0 for MR and X-ray).

    | severity | peak-to-peak non-uniformity p |
    |---|---|
    | 1 | 10 % |
    | 2 | 20 % |
    | 3 | 30 % |
    | 4 | 45 % |
    | 5 | 60 % |

    (Uncorrected 3 T body-coil images commonly show 20-40 %.)
    """

    name = "bias_field"
    label = "Bias field"
    description = "Smooth multiplicative intensity non-uniformity (coil sensitivity, heel effect)."
    modalities = ("MR", "XR")
    three_d = True
    severity_table = {"default": (10.0, 20.0, 30.0, 45.0, 60.0)}
    severity_unit = "% peak-to-peak"
    params = (
        ParamSpec("non_uniformity", "float", None, 0.0, 1.9, "fraction",
                  "Peak-to-peak non-uniformity as a fraction (0.3: the field spans 0.85..1.15); "
                  "overrides the severity."),
        ParamSpec("order", "int", 3, 1, 6, "", "Polynomial order of the field (higher: less smooth)."),
    )

    def physical(self, x: np.ndarray, context: ImageContext) -> dict[str, Any]:
        p = self.overrides["non_uniformity"]
        p = float(p) if p is not None else self.level(context) / 100
        return {"non_uniformity": p, "field_min": 1 - p / 2, "field_max": 1 + p / 2,
                "order": int(self.overrides["order"])}

    def _corrupt(self, x: np.ndarray, context: ImageContext, p: dict[str, Any],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        s, _, h, w = x.shape
        g = smooth_field((s, h, w), context.spacing, p["order"], rng)
        m = (1.0 + p["non_uniformity"] * g).astype(np.float32)[:, None]
        b = np.float32(baseline(x))
        return b + (x - b) * m, {}
