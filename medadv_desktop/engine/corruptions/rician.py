"""MR Rician noise at a given signal-to-noise ratio."""

from __future__ import annotations

from typing import Any

import numpy as np

from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.engine.corruptions._signal import baseline, foreground_mean
from medadv_desktop.engine.corruptions.base import Corruption, ImageContext, register


@register
class RicianNoise(Corruption):
    """MR Rician noise: complex Gaussian noise in the receiver, then the magnitude image.

    An MR magnitude image is |S + n1 + i n2| with n1, n2 independent Gaussian
    of SD sigma in the real and imaginary channels. The corruption adds that
    noise to the image's own signal:

        y = sqrt((x - b + n1)^2 + n2^2) + b,   sigma = S / SNR

    S is the study's mean foreground signal (pixels above 10 % of the 99th
    percentile, above the baseline b = min(0, min x); b is 0 for MR). In
    flat signal the noise SD is sigma; in the background it is Rayleigh
    (mean 1.25 sigma).

    | severity | SNR (S / sigma) |
    |---|---|
    | 1 | 40 |
    | 2 | 20 |
    | 3 | 10 |
    | 4 | 6 |
    | 5 | 3 |

    The noise is independent per pixel and slice; S is measured on the whole
    study so every slice gets the same sigma.
    """

    name = "rician"
    label = "MR Rician noise"
    description = "Complex receiver noise and magnitude reconstruction at a given SNR (MR)."
    modalities = ("MR",)
    severity_table = {"default": (40.0, 20.0, 10.0, 6.0, 3.0)}
    severity_unit = "SNR"
    params = (
        ParamSpec("snr", "float", None, 0.1, 10000.0, "",
                  "Signal-to-noise ratio: mean foreground signal / noise SD (overrides the severity)."),
    )

    def physical(self, x: np.ndarray, context: ImageContext) -> dict[str, Any]:
        snr = self.overrides["snr"]
        snr = float(snr) if snr is not None else self.level(context)
        s = foreground_mean(x)
        return {"snr": snr, "reference_signal": s, "noise_sd": s / snr}

    def _corrupt(self, x: np.ndarray, context: ImageContext, p: dict[str, Any],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        b = np.float32(baseline(x))
        sd = np.float32(p["noise_sd"])
        n = rng.standard_normal((2,) + x.shape, dtype=np.float32)
        out = np.hypot(x - b + sd * n[0], sd * n[1]) + b
        return out, {}
