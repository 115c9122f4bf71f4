"""CT dose reduction: quantum noise in HU as a lower tube current-time product would give it."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.engine.corruptions.base import Corruption, ImageContext, register

#: severity 1..5: fraction of the original dose
DOSE_FRACTIONS = (0.5, 0.25, 0.125, 0.0625, 0.03125)


def added_noise_sd(reference_sd: float, dose_fraction: float) -> float:
    """SD (HU) of the noise to add so that an image with noise ``reference_sd`` looks acquired at ``dose_fraction``.

    Quantum noise variance is inversely proportional to dose: sigma(f) = sigma_ref / sqrt(f), so the
    independent noise to add has variance sigma_ref^2 (1/f - 1).
    """
    return float(reference_sd * math.sqrt(max(0.0, 1.0 / dose_fraction - 1.0)))


@lru_cache(maxsize=32)
def nps_filter(shape: tuple[int, int], spacing: tuple[float, float], peak_per_mm: float) -> np.ndarray:
    """Amplitude filter sqrt(NPS) on the FFT grid, normalised so that filtered unit white noise has variance 1.

    NPS(f) = f * exp(-f^2 / (2 f_p^2)) (f radial frequency in 1/mm): zero at DC (the ramp filter of
    filtered back-projection), peak at f_p, rolled off by the reconstruction kernel.
    """
    h, w = shape
    fy = np.fft.fftfreq(h, d=spacing[0])[:, None]
    fx = np.fft.fftfreq(w, d=spacing[1])[None, :]
    f = np.sqrt(fy ** 2 + fx ** 2)
    nps = f * np.exp(-(f ** 2) / (2 * peak_per_mm ** 2))
    mean = float(nps.mean())
    amp = np.sqrt(nps / mean) if mean > 0 else np.ones(shape)
    amp = amp.astype(np.float32)
    amp.flags.writeable = False      # cached: shared by every call
    return amp


@register
class CTDoseNoise(Corruption):
    """CT dose reduction, as added quantum noise in HU.

    Model: the noise variance of a CT image is inversely proportional to the
    dose (tube current-time product). An image whose own noise SD is
    sigma_ref, acquired at dose fraction f, would have noise sigma_ref /
    sqrt(f); the corruption adds independent noise of SD

        sigma_add = sigma_ref * sqrt(1/f - 1)   [HU]

    with sigma_ref = ``reference_noise_hu`` (default 10 HU: a routine-dose
    abdominal CT reconstructed with a soft-tissue kernel; a head CT is
    nearer 4 HU, so lower it for heads).

    | severity | dose | added noise SD (sigma_ref 10 HU) |
    |---|---|---|
    | 1 | 50 %    | 10.0 HU |
    | 2 | 25 %    | 17.3 HU |
    | 3 | 12.5 %  | 26.5 HU |
    | 4 | 6.25 %  | 38.7 HU |
    | 5 | 3.125 % | 55.7 HU |

    Texture (``texture``): ``ct`` (default) shapes the noise with the noise
    power spectrum of filtered back-projection, NPS(f) = f exp(-f^2 / 2 f_p^2)
    (zero at DC from the ramp filter, peak f_p = ``nps_peak_per_mm``, default
    0.3 /mm for a standard soft-tissue kernel, on the slice's own pixel
    spacing); ``white`` adds uncorrelated noise. The filter is normalised so
    that the expected SD is exactly sigma_add. Each slice gets independent
    noise. Values are not clipped (the card's window mapping clips).

    Limits: stationary noise (real low-dose noise grows in dense and large
    regions and gives photon-starvation streaks), Gaussian rather than
    Poisson statistics in the projections.
    """

    name = "ct_dose"
    label = "CT dose reduction noise"
    description = "Quantum noise in HU as at a fraction of the acquired dose (noise SD grows as 1/sqrt(dose))."
    modalities = ("CT",)
    needs_hu = True
    severity_table = {"default": tuple(100 * f for f in DOSE_FRACTIONS)}
    severity_unit = "% dose"
    params = (
        ParamSpec("dose_fraction", "float", None, 0.001, 1.0, "fraction",
                  "Dose as a fraction of the original (overrides the severity); e.g. 0.25 for a quarter dose."),
        ParamSpec("reference_noise_hu", "float", 10.0, 0.0, 500.0, "HU",
                  "Noise SD of the original full-dose image (10 HU: routine abdomen, soft-tissue kernel; ~4 HU head)."),
        ParamSpec("texture", "choice", "ct", help="ct: filtered back-projection noise texture; white: uncorrelated.",
                  choices=("ct", "white")),
        ParamSpec("nps_peak_per_mm", "float", 0.3, 0.01, 10.0, "1/mm",
                  "Peak frequency of the CT noise power spectrum (texture 'ct')."),
    )

    def physical(self, x: np.ndarray, context: ImageContext) -> dict[str, Any]:
        f = self.overrides["dose_fraction"]
        f = float(f) if f is not None else DOSE_FRACTIONS[self.severity - 1]
        ref = float(self.overrides["reference_noise_hu"])
        return {"dose_fraction": f, "reference_noise_sd_hu": ref, "added_noise_sd_hu": added_noise_sd(ref, f),
                "total_noise_sd_hu": ref / math.sqrt(f), "texture": self.overrides["texture"],
                "nps_peak_per_mm": float(self.overrides["nps_peak_per_mm"])}

    def _corrupt(self, x: np.ndarray, context: ImageContext, p: dict[str, Any],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        sd = p["added_noise_sd_hu"]
        noise = rng.standard_normal(x.shape, dtype=np.float32)
        if p["texture"] == "ct":
            amp = nps_filter(tuple(x.shape[-2:]), tuple(context.spacing[1:]), p["nps_peak_per_mm"])
            noise = np.fft.ifft2(np.fft.fft2(noise, axes=(-2, -1)) * amp, axes=(-2, -1)).real.astype(np.float32)
        out = x + np.float32(sd) * noise
        return out, {"added_noise_sd_measured_hu": float((out - x).std())}
