"""k-space spike: one corrupted k-space sample (herringbone / corduroy artefact)."""

from __future__ import annotations

from typing import Any

import numpy as np

from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.engine.corruptions._signal import baseline, foreground_mean
from medadv_desktop.engine.corruptions.base import Corruption, ImageContext, register


@register
class KSpaceSpike(Corruption):
    """k-space spike: a single bright k-space sample (static discharge, RF leak) gives stripes.

    One k-space sample at spatial frequency (f_y, f_x) gains a value whose
    inverse FFT is the complex wave A exp(i (2 pi (f_y y + f_x x) + phi)); the
    image is the magnitude |x - b + wave| + b (b = min(0, min x), 0 for MR):
    stripes of amplitude A across the object and a floor of A in the
    background. A = a * S with S the study's mean foreground signal (pixels
    above 10 % of the 99th percentile). The location (radius 0.1-0.4 cycles
    per pixel, any direction) and phase come from the seed, the same for all
    severities and all slices (a spike at k_slice = 0 of a 3-D acquisition).

    | severity | stripe amplitude a (of S) |
    |---|---|
    | 1 | 2 % |
    | 2 | 5 % |
    | 3 | 10 % |
    | 4 | 15 % |
    | 5 | 25 % |
    """

    name = "spike"
    label = "k-space spike"
    description = "One corrupted k-space sample: a stripe (herringbone) pattern over the image (MR)."
    modalities = ("MR",)
    severity_table = {"default": (2.0, 5.0, 10.0, 15.0, 25.0)}
    severity_unit = "% of signal"
    params = (
        ParamSpec("amplitude", "float", None, 0.0, 10.0, "fraction",
                  "Stripe amplitude relative to the mean foreground signal (overrides the severity)."),
    )

    def physical(self, x: np.ndarray, context: ImageContext) -> dict[str, Any]:
        a = self.overrides["amplitude"]
        a = float(a) if a is not None else self.level(context) / 100
        s = foreground_mean(x)
        return {"relative_amplitude": a, "reference_signal": s, "stripe_amplitude": a * s}

    def _corrupt(self, x: np.ndarray, context: ImageContext, p: dict[str, Any],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        h, w = x.shape[-2:]
        radius = rng.uniform(0.1, 0.4)
        theta = rng.uniform(0, 2 * np.pi)
        phi = rng.uniform(0, 2 * np.pi)
        # on the k-space grid: integer line and column
        ky = int(round(radius * np.sin(theta) * h))
        kx = int(round(radius * np.cos(theta) * w))
        yy = np.arange(h)[:, None] * (ky / h)
        xx = np.arange(w)[None, :] * (kx / w)
        wave = (p["stripe_amplitude"] * np.exp(1j * (2 * np.pi * (yy + xx) + phi))).astype(np.complex64)
        b = np.float32(baseline(x))
        out = np.abs(x - b + wave).astype(np.float32) + b
        return out, {"spike_k_line": ky, "spike_k_column": kx,
                     "stripe_period_px": float(1.0 / max(np.hypot(ky / h, kx / w), 1e-9))}
