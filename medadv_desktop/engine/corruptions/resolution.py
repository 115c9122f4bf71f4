"""Resolution loss: in-plane down-sampling (a coarser acquisition or a down-sized archive copy)."""

from __future__ import annotations

from typing import Any

import numpy as np

from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.engine.corruptions._signal import resample_back
from medadv_desktop.engine.corruptions.base import Corruption, ImageContext, register


@register
class ResolutionLoss(Corruption):
    """Resolution loss: each slice is down-sampled by a factor and interpolated back.

    Down-sampling averages the pixels each coarse pixel covers (area average,
    as a detector with larger elements or a down-sized copy would), then
    linear interpolation restores the original size, so the output has the
    input's shape and spacing but the information of pixels ``factor`` times
    larger (e.g. 0.7 mm -> 2.1 mm at factor 3).

    | severity | down-sampling factor (per in-plane axis) |
    |---|---|
    | 1 | 1.5 |
    | 2 | 2 |
    | 3 | 3 |
    | 4 | 4 |
    | 5 | 6 |
    """

    name = "resolution"
    label = "Resolution loss (down-sampling)"
    description = "In-plane down-sampling by an area average, interpolated back to the original size."
    severity_table = {"default": (1.5, 2.0, 3.0, 4.0, 6.0)}
    severity_unit = "x coarser pixels"
    params = (
        ParamSpec("factor", "float", None, 1.0, 64.0, "", "Down-sampling factor per axis (overrides the severity)."),
    )

    def physical(self, x: np.ndarray, context: ImageContext) -> dict[str, Any]:
        f = self.overrides["factor"]
        f = float(f) if f is not None else self.level(context)
        h, w = x.shape[-2:]
        coarse = [max(1, int(round(n / f))) for n in (h, w)]
        return {"factor": f, "coarse_matrix": coarse,
                "effective_pixel_mm": [context.spacing[1] * h / coarse[0], context.spacing[2] * w / coarse[1]]}

    def _corrupt(self, x: np.ndarray, context: ImageContext, p: dict[str, Any],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        ch, cw = p["coarse_matrix"]
        return resample_back(resample_back(x, ch, 2), cw, 3), {}
