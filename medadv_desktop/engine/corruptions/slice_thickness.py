"""Slice thickness: thicker reconstructed slices (partial-volume averaging through the volume)."""

from __future__ import annotations

from typing import Any

import numpy as np

from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.engine.corruptions._signal import box_along
from medadv_desktop.engine.corruptions.base import Corruption, ImageContext, register


@register
class SliceThickness(Corruption):
    """Slice thickness: each slice becomes the average over a thicker slab.

    Each slice is replaced by the mean of the volume over [z - T/2, z + T/2]
    (a box slice-sensitivity profile of thickness T mm; slices partly inside
    count by their overlap, edges replicated), at the same slice positions:
    thin structures lose contrast through partial-volume averaging. Needs a
    volume; when T is not larger than the slice spacing nothing changes
    (recorded as ``unchanged``).

    | severity | slice thickness T |
    |---|---|
    | 1 | 2 mm |
    | 2 | 3 mm |
    | 3 | 5 mm |
    | 4 | 7.5 mm |
    | 5 | 10 mm |
    """

    name = "slice_thickness"
    label = "Slice thickness"
    description = "Thicker slices: each slice averages a slab of the given thickness (volumes only)."
    volume_only = True
    three_d = True
    severity_table = {"default": (2.0, 3.0, 5.0, 7.5, 10.0)}
    severity_unit = "mm"
    params = (
        ParamSpec("thickness_mm", "float", None, 0.0, 1000.0, "mm", "Slice thickness (overrides the severity)."),
    )

    def physical(self, x: np.ndarray, context: ImageContext) -> dict[str, Any]:
        t = self.overrides["thickness_mm"]
        t = float(t) if t is not None else self.level(context)
        width = t / context.spacing[0]
        return {"thickness_mm": t, "slice_spacing_mm": context.spacing[0], "slab_slices": width,
                "unchanged": bool(width <= 1.0)}

    def _corrupt(self, x: np.ndarray, context: ImageContext, p: dict[str, Any],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        if p["unchanged"]:
            return x.copy(), {}
        return box_along(x, p["slab_slices"], 0), {}
