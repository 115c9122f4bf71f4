"""What the lossy-compression corruptions share: the 8-bit mapping and the compression-ratio tally.

Compression ratio, as DICOM's Lossy Image Compression Ratio (0028,2112) counts it: the uncompressed
pixel data at the source's Bits Allocated (8 bits for 8-bit images, 16 otherwise) over the
compressed bytes. MedAdv counts the compressed *image data* only, the codec's fixed markers and
tables left out, so that a 64-pixel patch and a 512-pixel slice at the same ratio carry the same
bits per pixel (headers are about 150-600 bytes: negligible on a full slice, most of a small
patch's budget). The whole-stream ratio is reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medadv_desktop.engine.corruptions._signal import Storage


@dataclass
class RatioTally:
    """Sums the bytes of every coded frame of a study."""

    samples: int = 0
    raw_bytes: int = 0
    data_bytes: int = 0
    stream_bytes: int = 0
    settings: list[float] = field(default_factory=list)   # JPEG quality / J2K rate per frame
    reached: bool = True

    def add(self, samples: int, raw: int, data: int, stream: int, setting: float, reached: bool) -> None:
        self.samples += samples
        self.raw_bytes += raw
        self.data_bytes += data
        self.stream_bytes += stream
        self.settings.append(setting)
        self.reached = self.reached and reached

    def measured(self, setting_name: str) -> dict[str, Any]:
        return {
            "compression_ratio": self.raw_bytes / max(1, self.data_bytes),
            "stream_compression_ratio": self.raw_bytes / max(1, self.stream_bytes),
            "bits_per_sample": 8.0 * self.data_bytes / max(1, self.samples),
            f"{setting_name}_min": float(min(self.settings)) if self.settings else None,
            f"{setting_name}_max": float(max(self.settings)) if self.settings else None,
            "target_reached": self.reached,
        }


def eight_bit(storage: Storage) -> tuple[float, float]:
    """(low, step) of the 8-bit code values an 8-bit codec sees: the storage range over 256 levels.

    8-bit sources keep their own values; wider ones (CT: -1024..3071 HU) are scaled down
    (16 HU steps for CT), as an 8-bit JPEG export of the study would be.
    """
    if storage.exact and storage.bits_stored <= 8:
        return storage.low, 1.0
    return storage.low, (storage.high - storage.low) / 255.0


def to_codes(x: np.ndarray, low: float, step: float) -> np.ndarray:
    return np.clip(np.rint((x - low) / step), 0, 255).astype(np.uint8)


def planes(x: np.ndarray) -> list[tuple[int, slice | int]]:
    """How a (S, C, H, W) study is coded: one frame per slice, colour (3 channels) as one RGB frame,
    any other channel count one greyscale frame per channel. Returns (slice index, channel selector)."""
    s, c = x.shape[:2]
    if c == 3:
        return [(i, slice(None)) for i in range(s)]
    return [(i, ch) for i in range(s) for ch in range(c)]


def frame(x: np.ndarray, i: int, sel: slice | int) -> np.ndarray:
    """The (H, W) or (H, W, 3) frame to code."""
    f = x[i, sel]
    return np.ascontiguousarray(np.moveaxis(f, 0, -1) if f.ndim == 3 else f)
