"""Rigid patient motion during an MR acquisition, simulated through k-space."""

from __future__ import annotations

from typing import Any

import numpy as np

from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.engine.corruptions._signal import baseline, rotate
from medadv_desktop.engine.corruptions.base import Corruption, ImageContext, register

PE_AXES = ("rows", "columns")


def _shift_ramp(n: int, shift_px: float) -> np.ndarray:
    """Phase ramp along one FFT axis (numpy order) that shifts the signal by ``shift_px`` samples."""
    return np.exp(-2j * np.pi * np.fft.fftfreq(n) * shift_px).astype(np.complex64)


@register
class RigidMotion(Corruption):
    """Rigid motion: the patient moves a few times while k-space is filled.

    Acquisition model: phase-encode lines (``phase_encode`` axis: rows by
    default) are acquired in order from -k_max to +k_max; a volume is a 3-D
    acquisition whose slice-direction encodes are the inner loop, so every
    time point holds whole (k_slice, k_read) planes of one phase-encode line.
    ``movements`` times are drawn uniformly in 10-90 % of the acquisition;
    from each time the object holds a new pose (the first segment is the
    reference pose): a translation of up to +-T mm per axis (through-plane
    too for volumes) and an in-plane rotation of up to +-R degrees about the
    image centre. Each pose's k-space is computed (rotation in image space,
    bilinear; translation as an exact phase ramp), the lines acquired during
    its segment are kept, and the image is the magnitude of the inverse FFT
    of x - b (b = min(0, min x), 0 for MR) plus b.

    The same trajectory applies to the whole volume (one 3-D acquisition),
    so slices are corrupted consistently. For a fixed seed the times and
    directions are fixed and only the amplitudes grow with severity; the
    expected artefact energy (over seeds) grows with severity, one seed's
    need not (a phase error 2 pi k d on high-k lines wraps round). T and R
    are absolute: on a small field of view (MR_small.dcm: 20 mm) even
    severity 1 is a large movement.

    | severity | max translation T | max rotation R |
    |---|---|---|
    | 1 | 1 mm | 1 deg |
    | 2 | 2 mm | 2 deg |
    | 3 | 3 mm | 3 deg |
    | 4 | 5 mm | 5 deg |
    | 5 | 8 mm | 8 deg |
    """

    name = "motion"
    label = "Rigid motion (k-space)"
    description = "Patient motion between k-space lines: ghosting and blurring along the phase-encode direction (MR)."
    modalities = ("MR",)
    three_d = True
    severity_table = {"default": (1.0, 2.0, 3.0, 5.0, 8.0)}
    severity_unit = "mm / deg"
    params = (
        ParamSpec("translation_mm", "float", None, 0.0, 100.0, "mm",
                  "Largest translation per axis (overrides the severity)."),
        ParamSpec("rotation_deg", "float", None, 0.0, 90.0, "deg",
                  "Largest in-plane rotation (overrides the severity)."),
        ParamSpec("movements", "int", 2, 1, 16, "", "Number of movements during the acquisition."),
        ParamSpec("phase_encode", "choice", "rows", help="Phase-encode axis: rows (vertical) or columns.",
                  choices=PE_AXES),
    )

    def physical(self, x: np.ndarray, context: ImageContext) -> dict[str, Any]:
        t, r = self.overrides["translation_mm"], self.overrides["rotation_deg"]
        lvl = self.level(context)
        return {"max_translation_mm": float(t) if t is not None else lvl,
                "max_rotation_deg": float(r) if r is not None else lvl,
                "movements": int(self.overrides["movements"]), "phase_encode": self.overrides["phase_encode"]}

    def _corrupt(self, x: np.ndarray, context: ImageContext, p: dict[str, Any],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        s, c, h, w = x.shape
        m = p["movements"]
        times = np.sort(rng.uniform(0.1, 0.9, m))
        u = rng.uniform(-1.0, 1.0, (m, 4))
        if s == 1:
            u[:, 0] = 0.0
        shifts_mm = u[:, :3] * p["max_translation_mm"]          # (dz, dy, dx)
        angles = u[:, 3] * p["max_rotation_deg"]
        rows = p["phase_encode"] == "rows"
        b = np.float32(baseline(x))
        v = x - b
        spatial = (0, 2, 3) if s > 1 else (2, 3)
        n_pe = h if rows else w
        pe_axis = 2 if rows else 3
        # acquisition time of each phase-encode line, numpy FFT order (centred order runs -k_max .. +k_max)
        order = np.fft.ifftshift(np.arange(n_pe))
        line_time = (order + 0.5) / n_pe
        segment = np.searchsorted(times, line_time)            # 0: reference pose, j: after movement j
        k = np.fft.fftn(v, axes=spatial)
        for j in range(1, m + 1):
            lines = np.nonzero(segment == j)[0]
            if lines.size == 0:
                continue
            moved = rotate(v, float(angles[j - 1]), 0.0, context.spacing[1:]) if angles[j - 1] else v
            kj = np.fft.fftn(moved, axes=spatial)
            dz, dy, dx = (shifts_mm[j - 1] / np.asarray(context.spacing)).tolist()
            ramp = _shift_ramp(h, dy)[:, None] * _shift_ramp(w, dx)[None, :]
            kj = kj * ramp
            if s > 1 and dz:
                kj = kj * _shift_ramp(s, dz)[:, None, None, None]
            sel = [slice(None)] * 4
            sel[pe_axis] = lines  # type: ignore[call-overload]
            k[tuple(sel)] = kj[tuple(sel)]
        out = np.abs(np.fft.ifftn(k, axes=spatial)).astype(np.float32) + b
        return out, {"movement_times": times.tolist(),
                     "translations_mm": [[round(float(a), 4) for a in row] for row in shifts_mm],
                     "rotations_deg": [round(float(a), 4) for a in angles]}
