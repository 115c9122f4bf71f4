"""Entry points: corrupt one study (``medadv corrupt``, the GUI panel) or a batch (the evaluation).

Where to corrupt: in native units, before the model card's intensity mapping.
Noise in HU, k-space, and compression act on what the scanner and the archive
hold; the window of a card then clips and scales the result exactly as it
would a degraded study from the PACS. :func:`corrupt_study` and
:func:`corrupt_native_batch` do that. :func:`corrupt_unit_batch` is the
fallback for data held only as [0, 1] images (e.g. an in-memory data set): it
maps back to native units with each sample's bounds, corrupts and maps again;
values the window had already clipped cannot come back, so prefer the native
path when the native pixels are at hand.

Seeds: a study is corrupted with the corruption's generator seeded by
(seed, corruption); in a batch each sample has its own generator seeded by
(seed, corruption, key), the key being the sample's id (or its index), so a
sample is corrupted the same way whatever batch it is in.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from medadv_desktop.engine.corruptions.base import (
    Corruption,
    CorruptionConfigError,
    CorruptionRecord,
    ImageContext,
    create_corruption,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from medadv_desktop.engine.io.study import Study


@dataclass
class CorruptedStudy:
    """A corrupted copy of a study's pixels (float32, native units, same shape) and what was done."""

    pixels: np.ndarray
    record: CorruptionRecord

    def to_study(self, study: Study) -> Study:
        """A new :class:`Study` with the corrupted pixels; the original study is left unchanged."""
        return dataclasses.replace(study, pixels=self.pixels, header=list(study.header))


def _corruption(corruption: str | Corruption, severity: int | None, seed: int | None,
                params: dict[str, Any]) -> Corruption:
    if isinstance(corruption, Corruption):
        if params or severity is not None or seed is not None:
            raise CorruptionConfigError("give severity, seed and parameters either to the corruption or here, not both",
                                        parameter="corruption")
        return corruption
    return create_corruption(corruption, severity=1 if severity is None else severity,
                             seed=0 if seed is None else seed, **params)


def corrupt_study(study: Study, corruption: str | Corruption, severity: int | None = None, *,
                  seed: int | None = None, **params: Any) -> CorruptedStudy:
    """Corrupt a whole study (all slices; 3-D corruptions such as motion act on the volume as one).

    ``corruption`` is a name from :func:`available` or a configured :class:`Corruption`.
    The study is not changed.
    """
    c = _corruption(corruption, severity, seed, params)
    pixels, record = c.apply(study.pixels, ImageContext.from_study(study))
    return CorruptedStudy(pixels, record)


def _key_seed(key: Any) -> int:
    return int(key) if isinstance(key, (int, np.integer)) and int(key) >= 0 else zlib.crc32(str(key).encode())


def corrupt_native_batch(images: np.ndarray, corruption: str | Corruption, severity: int | None = None, *,
                         context: ImageContext | None = None, seed: int | None = None,
                         keys: Sequence[Any] | None = None, **params: Any) -> tuple[np.ndarray, list[CorruptionRecord]]:
    """Corrupt a batch of 2-D samples in native units, each with its own seeded generator.

    ``images``: (N, H, W) or (N, C, H, W) native values (e.g. HU); every sample is one
    single-slice image of the modality and spacing in ``context``. Returns the float32
    corrupted batch (same shape) and one record per sample.
    """
    c = _corruption(corruption, severity, seed, params)
    arr = np.asarray(images)
    if arr.ndim not in (3, 4):
        raise CorruptionConfigError(f"a batch must be (N, H, W) or (N, C, H, W); got shape {arr.shape}",
                                    parameter="images")
    keys = list(range(arr.shape[0])) if keys is None else list(keys)
    if len(keys) != arr.shape[0]:
        raise CorruptionConfigError(f"{len(keys)} keys for {arr.shape[0]} samples", parameter="keys")
    out = np.empty(arr.shape, dtype=np.float32)
    records = []
    for i, key in enumerate(keys):
        one = arr[i][None] if arr.ndim == 3 else np.moveaxis(arr[i], 0, -1)[None]
        res, rec = c.apply(one, context, rng=c.rng(1 + _key_seed(key)))
        out[i] = res[0] if arr.ndim == 3 else np.moveaxis(res[0], -1, 0)
        records.append(rec)
    return out, records


def corrupt_unit_batch(x: torch.Tensor, bounds: Sequence[tuple[float, float]] | tuple[float, float],
                       corruption: str | Corruption, severity: int | None = None, *,
                       context: ImageContext | None = None, seed: int | None = None,
                       keys: Sequence[Any] | None = None, **params: Any) -> tuple[torch.Tensor, list[CorruptionRecord]]:
    """Corrupt a batch of [0, 1] images (N, C, H, W) through native units.

    ``bounds``: the native (low, high) that 0 and 1 stand for, one pair for the batch (a card's
    window) or one per sample (per-image mappings). The result is mapped back with the same
    bounds and clipped to [0, 1], on the input's device and dtype.
    """
    import torch

    b = np.asarray(bounds, dtype=np.float64)
    n = int(x.shape[0])
    b = np.broadcast_to(b, (n, 2)) if b.ndim == 1 else b
    if b.shape != (n, 2):
        raise CorruptionConfigError(f"bounds must be one (low, high) pair or one per sample; got shape {b.shape}",
                                    parameter="bounds")
    lo = b[:, 0].reshape(n, 1, 1, 1)
    width = (b[:, 1] - b[:, 0]).reshape(n, 1, 1, 1)
    native = x.detach().cpu().double().numpy() * width + lo
    out, records = corrupt_native_batch(native, corruption, severity, context=context, seed=seed, keys=keys, **params)
    unit = np.clip((out - lo) / width, 0.0, 1.0)
    return torch.from_numpy(unit).to(device=x.device, dtype=x.dtype), records
