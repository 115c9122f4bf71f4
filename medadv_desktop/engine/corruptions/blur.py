"""Blur: a Gaussian point-spread function of given FWHM in mm (focal spot, detector, soft reconstruction kernel)."""

from __future__ import annotations

from typing import Any

import numpy as np

from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.engine.corruptions._signal import FWHM_PER_SIGMA, blur_along
from medadv_desktop.engine.corruptions.base import Corruption, ImageContext, register


@register
class Blur(Corruption):
    """Blur: in-plane Gaussian point-spread function of a given FWHM in mm.

    Each slice is convolved with a Gaussian of FWHM F mm (sigma = F / 2.355
    divided by the row and column pixel spacing; mirrored edges). A point
    with FWHM F0 comes out with FWHM sqrt(F0^2 + F^2). Modality-aware: X-ray
    pixels are about 0.15 mm and its system blur is finer, so its table is
    finer. Images without a spacing (PNG) count 1 mm per pixel.

    | severity | FWHM, CT / MR / other | FWHM, X-ray |
    |---|---|---|
    | 1 | 1.0 mm | 0.3 mm |
    | 2 | 1.5 mm | 0.5 mm |
    | 3 | 2.0 mm | 0.75 mm |
    | 4 | 3.0 mm | 1.0 mm |
    | 5 | 4.0 mm | 1.5 mm |
    """

    name = "blur"
    label = "Blur"
    description = "Gaussian point-spread function of a given FWHM in mm (focal spot, detector, smooth kernel)."
    severity_table = {"default": (1.0, 1.5, 2.0, 3.0, 4.0), "XR": (0.3, 0.5, 0.75, 1.0, 1.5)}
    severity_unit = "mm FWHM"
    params = (
        ParamSpec("fwhm_mm", "float", None, 0.0, 100.0, "mm",
                  "Full width at half maximum of the blur (overrides the severity)."),
    )

    def physical(self, x: np.ndarray, context: ImageContext) -> dict[str, Any]:
        f = self.overrides["fwhm_mm"]
        f = float(f) if f is not None else self.level(context)
        sr, sc = context.spacing[1:]
        return {"fwhm_mm": f, "sigma_px": [f / FWHM_PER_SIGMA / sr, f / FWHM_PER_SIGMA / sc]}

    def _corrupt(self, x: np.ndarray, context: ImageContext, p: dict[str, Any],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        sy, sx = p["sigma_px"]
        return blur_along(blur_along(x, round(sy, 6), 2), round(sx, 6), 3), {}
