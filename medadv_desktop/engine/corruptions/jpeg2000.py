"""Lossy JPEG 2000 at a given compression ratio, round-tripped through OpenJPEG (pylibjpeg-openjpeg)."""

from __future__ import annotations

from typing import Any

import numpy as np

from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.engine.corruptions._compression import RatioTally, frame, planes
from medadv_desktop.engine.corruptions._signal import storage_for
from medadv_desktop.engine.corruptions.base import Corruption, CorruptionConfigError, ImageContext, register

MIN_SIDE = 32   # OpenJPEG codes 6 resolution levels: at least 32 pixels per side
RATE_SLACK_BYTES = 17.0

_header_bytes: dict[tuple[Any, ...], int] = {}


def header_length(stream: bytes) -> int:
    """Bytes before the first tile's data: main header, SOT and tile-part header, up to and including SOD."""
    pos = 2                                           # SOC
    while pos + 4 <= len(stream):
        marker = stream[pos:pos + 2]
        if marker == b"\xff\x93":                     # SOD: data follows
            return pos + 2
        pos += 2 + int.from_bytes(stream[pos + 2:pos + 4], "big")
    return len(stream)


def encode(stored: np.ndarray, bits_stored: int, rate: float) -> bytes:
    import openjpeg

    colour = stored.ndim == 3
    return openjpeg.encode(stored, bits_stored=bits_stored, photometric_interpretation=1 if colour else 2,
                           compression_ratios=[max(1.0, rate)])


def _header_for(shape: tuple[int, ...], dtype: np.dtype, bits_stored: int) -> int:
    """Header bytes OpenJPEG writes for a frame of this shape and precision (from a blank frame: the same
    for every image of the shape, so the rate chosen never depends on what was coded before)."""
    key = (shape, np.dtype(dtype).str, bits_stored)
    if key not in _header_bytes:
        _header_bytes[key] = header_length(encode(np.zeros(shape, dtype), bits_stored, 50.0))
    return _header_bytes[key]


def at_ratio(stored: np.ndarray, bits_stored: int, raw_bytes: int, target: float) -> tuple[bytes, float, bool]:
    """Code at a target ratio of image data (header excluded); returns (stream, OpenJPEG rate, reached).

    OpenJPEG's rate counts the whole codestream against ``bits_stored``-bit samples, so the rate
    asked for is the sample bytes over (target data bytes + header bytes). Its rate control
    overshoots by up to about 17 bytes (measured on CT slices and demo patches), so the target
    asked for is that much lower: one coding nearly always suffices. When it does not, the rate
    is raised once by the miss, then to the codec's floor (as compressed as it can code the
    frame); a tiny frame whose floor is above the target is recorded as not reached.
    """
    precision_bytes = stored.size * bits_stored / 8
    data_target = raw_bytes / target
    header = _header_for(stored.shape, stored.dtype, bits_stored)
    rate = max(1.0, precision_bytes / (max(1.0, data_target - RATE_SLACK_BYTES) + header))
    for attempt in range(3):
        stream = encode(stored, bits_stored, rate)
        data = len(stream) - header_length(stream)
        if data <= data_target * 1.001:
            return stream, rate, True
        if attempt == 0:
            rate *= max(1.1, data / data_target)
        else:                                          # as compressed as the codec can: its floor
            rate = max(rate * 1.1, precision_bytes / (header + 2.0))
    return stream, rate, False


@register
class JPEG2000Compression(Corruption):
    """Lossy JPEG 2000 (irreversible 9/7 wavelet) at a compression ratio, through OpenJPEG.

    Each frame (slice; colour as one RGB frame with the irreversible colour
    transform) is coded at the study's own precision: CT as stored by the
    scanner (HU + 1024, 12 bits), other integer images offset to their
    minimum with the bits their range needs, non-integer values over 16 bits.
    It is decoded by the same OpenJPEG that reads JPEG 2000 DICOM files in
    MedAdv (pylibjpeg-openjpeg), so the artefacts are those a lossy JPEG 2000
    archive copy shows (blocky smearing, lost fine texture, ringing).

    Ratio: uncompressed pixel data at the source's Bits Allocated (16 bits
    for CT/MR/X-ray, 8 for 8-bit images) over the coded image data (markers
    left out; see ``_compression``), the DICOM convention: the pydicom-data
    file 693_UNCI.dcm is a head CT coded at 339:1 (1548 bytes for 512 x 512).

    | severity | target ratio | bits per pixel (16-bit source) |
    |---|---|---|
    | 1 | 10:1 | 1.6 |
    | 2 | 20:1 | 0.8 |
    | 3 | 50:1 | 0.32 |
    | 4 | 120:1 | 0.13 |
    | 5 | 340:1 (as 693_UNCI.dcm) | 0.047 |

    Frames need at least 32 pixels per side.
    """

    name = "jpeg2000"
    label = "Lossy JPEG 2000"
    description = "JPEG 2000 (9/7 wavelet) at a compression ratio, coded and decoded with OpenJPEG (archive copy)."
    severity_table = {"default": (10.0, 20.0, 50.0, 120.0, 340.0)}
    severity_unit = ":1 ratio"
    lossy_method = "ISO_15444_1"
    params = (
        ParamSpec("ratio", "float", None, 1.0, 100000.0, ":1", "Target compression ratio (overrides the severity)."),
    )

    def check(self, pixels: np.ndarray, context: ImageContext) -> None:
        super().check(pixels, context)
        if min(pixels.shape[1:3]) < MIN_SIDE:
            raise CorruptionConfigError(f"{self.label} needs frames of at least {MIN_SIDE} x {MIN_SIDE} pixels; "
                                        f"this image is {pixels.shape[1]} x {pixels.shape[2]}", parameter="corruption")

    def physical(self, x: np.ndarray, context: ImageContext) -> dict[str, Any]:
        r = self.overrides["ratio"]
        r = float(r) if r is not None else self.level(context)
        st = storage_for(x, context.is_hu)
        return {"target_ratio": r, "bits_allocated": st.bits_allocated, "bits_stored": st.bits_stored,
                "lossless_storage": st.exact}

    def _corrupt(self, x: np.ndarray, context: ImageContext, p: dict[str, Any],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        import openjpeg

        st = storage_for(x, context.is_hu)
        out = np.empty_like(x)
        tally = RatioTally()
        for i, sel in planes(x):
            stored = st.to_stored(frame(x, i, sel))
            raw = stored.size * st.bits_allocated // 8
            stream, rate, reached = at_ratio(stored, st.bits_stored, raw, p["target_ratio"])
            tally.add(stored.size, raw, len(stream) - header_length(stream), len(stream), rate, reached)
            dec = st.to_native(np.asarray(openjpeg.decode(stream)))
            out[i, sel] = np.moveaxis(dec, -1, 0) if dec.ndim == 3 else dec
        return out, tally.measured("openjpeg_rate")
