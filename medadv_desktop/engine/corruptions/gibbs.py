"""Gibbs ringing: k-space truncation (a smaller acquisition matrix)."""

from __future__ import annotations

from typing import Any

import numpy as np

from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.engine.corruptions._signal import baseline
from medadv_desktop.engine.corruptions.base import Corruption, ImageContext, register


@register
class GibbsRinging(Corruption):
    """Gibbs ringing: only the central part of k-space is acquired.

    Keeps the spatial frequencies |f| <= k / 2 cycles per pixel along both
    in-plane axes (a k-times smaller acquisition matrix, zero-filled back to
    the image size) and reconstructs the magnitude of x - b plus b
    (b = min(0, min x), 0 for MR): edges ring (about 9 % overshoot, the
    Gibbs phenomenon) and blur, with ripples of period about 2 / k pixels.
    The same for every slice (in-plane acquisition matrix).

    | severity | k-space kept k (per axis) | e.g. a 256 matrix becomes |
    |---|---|---|
    | 1 | 80 % | 205 |
    | 2 | 65 % | 166 |
    | 3 | 50 % | 128 |
    | 4 | 40 % | 102 |
    | 5 | 30 % | 77 |
    """

    name = "gibbs"
    label = "Gibbs ringing (k-space truncation)"
    description = "Truncated k-space (smaller acquisition matrix): ringing next to edges and blur (MR)."
    modalities = ("MR",)
    severity_table = {"default": (80.0, 65.0, 50.0, 40.0, 30.0)}
    severity_unit = "% k-space kept"
    params = (
        ParamSpec("kept_fraction", "float", None, 0.01, 1.0, "fraction",
                  "Fraction of k-space kept per axis (overrides the severity)."),
    )

    def physical(self, x: np.ndarray, context: ImageContext) -> dict[str, Any]:
        k = self.overrides["kept_fraction"]
        k = float(k) if k is not None else self.level(context) / 100
        h, w = x.shape[-2:]
        matrix = [int(np.sum(np.abs(np.fft.fftfreq(n)) <= k / 2)) for n in (h, w)]
        return {"kept_fraction": k, "acquired_matrix": matrix}

    def _corrupt(self, x: np.ndarray, context: ImageContext, p: dict[str, Any],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        h, w = x.shape[-2:]
        half = p["kept_fraction"] / 2 + 1e-9
        mask = (np.abs(np.fft.fftfreq(h))[:, None] <= half) & (np.abs(np.fft.fftfreq(w))[None, :] <= half)
        b = np.float32(baseline(x))
        k = np.fft.fft2(x - b, axes=(-2, -1)) * mask
        return np.abs(np.fft.ifft2(k, axes=(-2, -1))).astype(np.float32) + b, {}
