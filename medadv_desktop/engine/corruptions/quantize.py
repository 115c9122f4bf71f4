"""Quantisation: fewer bits per pixel (a lower-precision detector, export or conversion)."""

from __future__ import annotations

from typing import Any

import numpy as np

from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.engine.corruptions._signal import storage_for
from medadv_desktop.engine.corruptions.base import Corruption, ImageContext, register


@register
class Quantization(Corruption):
    """Quantisation: the stored values lose their lowest bits.

    The values are taken as the scanner stores them (CT: HU + 1024 over
    12 bits; other integer images offset to their minimum with the bits their
    range needs; non-integer values over 16 bits), the lowest n bits are
    dropped and each value is put back at the middle of its new bin:
    step 2^n stored units (CT: 4, 8, 16, 32, 64 HU), error SD step / sqrt(12).

    | severity | bits removed n | CT (12 bits stored) |
    |---|---|---|
    | 1 | 2 | 10 bits, 4 HU steps |
    | 2 | 3 | 9 bits, 8 HU |
    | 3 | 4 | 8 bits, 16 HU |
    | 4 | 5 | 7 bits, 32 HU |
    | 5 | 6 | 6 bits, 64 HU |

    At least one bit stays.
    """

    name = "quantize"
    label = "Quantisation (fewer bits)"
    description = "Drops the lowest bits of the stored values (lower-precision detector, export or conversion)."
    severity_table = {"default": (2.0, 3.0, 4.0, 5.0, 6.0)}
    severity_unit = "bits removed"
    params = (
        ParamSpec("bits", "int", None, 1, 16, "bits", "Bits to keep (overrides the severity)."),
    )

    def physical(self, x: np.ndarray, context: ImageContext) -> dict[str, Any]:
        st = storage_for(x, context.is_hu)
        keep = self.overrides["bits"]
        keep = int(keep) if keep is not None else st.bits_stored - int(self.level(context))
        keep = max(1, min(st.bits_stored, keep))
        drop = st.bits_stored - keep
        return {"bits_stored": st.bits_stored, "bits_kept": keep, "step": st.step * (1 << drop),
                "units": context.units}

    def _corrupt(self, x: np.ndarray, context: ImageContext, p: dict[str, Any],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        st = storage_for(x, context.is_hu)
        drop = p["bits_stored"] - p["bits_kept"]
        if drop == 0:
            return x.copy(), {}
        stored = st.to_stored(x).astype(np.int64)
        q = (stored >> drop) << drop
        mid = q.astype(np.float64) + ((1 << drop) - 1) / 2
        return st.to_native(mid), {}
