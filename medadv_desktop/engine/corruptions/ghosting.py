"""Ghosting: periodic k-space line modulation (respiration, pulsation, EPI N/2 ghosts)."""

from __future__ import annotations

from typing import Any

import numpy as np

from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.engine.corruptions._signal import baseline
from medadv_desktop.engine.corruptions.base import Corruption, ImageContext, register
from medadv_desktop.engine.corruptions.motion import PE_AXES


@register
class Ghosting(Corruption):
    """Ghosting: faint shifted copies of the object along the phase-encode direction.

    A periodic disturbance (breathing, pulsation, alternating EPI lines)
    modulates every ``period``-th phase-encode line. With the modulation

        K'(k) = K(k) * ((1 - g) + g * period * [k = 0 mod period])

    the image becomes x + g * sum_{p=1}^{period-1} x(shifted by p/period of
    the field of view): ``period - 1`` ghosts, each of intensity g relative
    to the object, and the object itself unchanged (exact when the
    phase-encode size is a multiple of ``period``). Computed on x - b and
    reconstructed as a magnitude image (b = min(0, min x), 0 for MR), the
    same for every slice.

    | severity | ghost intensity g |
    |---|---|
    | 1 | 2.5 % |
    | 2 | 5 % |
    | 3 | 10 % |
    | 4 | 15 % |
    | 5 | 20 % |
    """

    name = "ghosting"
    label = "Ghosting (k-space)"
    description = "Periodic k-space line modulation: shifted copies of the object along the phase-encode axis (MR)."
    modalities = ("MR",)
    severity_table = {"default": (2.5, 5.0, 10.0, 15.0, 20.0)}
    severity_unit = "% ghost intensity"
    params = (
        ParamSpec("intensity", "float", None, 0.0, 1.0, "fraction",
                  "Intensity of each ghost relative to the object (overrides the severity)."),
        ParamSpec("period", "int", 4, 2, 64, "lines", "Every period-th line is modulated: period - 1 ghosts."),
        ParamSpec("phase_encode", "choice", "rows", help="Phase-encode axis: rows (vertical) or columns.",
                  choices=PE_AXES),
    )

    def physical(self, x: np.ndarray, context: ImageContext) -> dict[str, Any]:
        g = self.overrides["intensity"]
        g = float(g) if g is not None else self.level(context) / 100
        period = int(self.overrides["period"])
        axis_n = x.shape[2] if self.overrides["phase_encode"] == "rows" else x.shape[3]
        return {"ghost_intensity": g, "period": period, "ghosts": period - 1,
                "phase_encode": self.overrides["phase_encode"],
                "ghost_spacing_px": axis_n / period}

    def _corrupt(self, x: np.ndarray, context: ImageContext, p: dict[str, Any],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        axis = 2 if p["phase_encode"] == "rows" else 3
        n = x.shape[axis]
        g, period = p["ghost_intensity"], p["period"]
        mod = np.full(n, 1.0 - g, dtype=np.float32)
        mod[np.arange(n) % period == 0] += g * period
        shape = [1, 1, 1, 1]
        shape[axis] = n
        b = np.float32(baseline(x))
        k = np.fft.fft(x - b, axis=axis) * mod.reshape(shape)
        return np.abs(np.fft.ifft(k, axis=axis)).astype(np.float32) + b, {}
