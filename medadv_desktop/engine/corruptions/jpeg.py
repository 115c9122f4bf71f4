"""Lossy JPEG (baseline, 8 bits) at a given compression ratio, round-tripped through Pillow."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.engine.corruptions._compression import RatioTally, eight_bit, frame, planes, to_codes
from medadv_desktop.engine.corruptions._signal import storage_for
from medadv_desktop.engine.corruptions.base import Corruption, ImageContext, register


def scan_data_bytes(stream: bytes) -> int:
    """Bytes of entropy-coded data in a baseline JPEG: after the SOS header, before EOI."""
    sos = stream.find(b"\xff\xda")
    if sos < 0:
        return len(stream)
    start = sos + 2 + int.from_bytes(stream[sos + 2:sos + 4], "big")
    end = len(stream) - 2 if stream.endswith(b"\xff\xd9") else len(stream)
    return max(1, end - start)


def encode(codes: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(codes).save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def decode(stream: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(stream)) as im:
        return np.asarray(im)


def at_ratio(codes: np.ndarray, raw_bytes: int, target: float) -> tuple[bytes, int, bool]:
    """The stream of the highest quality whose ratio is at least ``target`` (binary search over 1..100).

    Returns (stream, quality, reached). When even quality 1 compresses less, quality 1 with reached False.
    """
    cache: dict[int, bytes] = {}

    def ratio(q: int) -> float:
        if q not in cache:
            cache[q] = encode(codes, q)
        return raw_bytes / scan_data_bytes(cache[q])

    if ratio(1) < target:
        return cache[1], 1, False
    lo, hi = 1, 100                     # ratio(lo) >= target
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ratio(mid) >= target:
            lo = mid
        else:
            hi = mid
    if ratio(hi) >= target:
        lo = hi
    return cache[lo], lo, True


@register
class JPEGCompression(Corruption):
    """Lossy baseline JPEG (ISO 10918-1, 8 bits) at a compression ratio, through Pillow's codec.

    Each frame (slice; colour as one RGB frame with 4:2:0 chroma) is coded as
    8-bit samples: 8-bit images keep their values, wider ones are scaled from
    their storage range (CT: -1024..3071 HU, so 16 HU steps before any
    compression; the ``quantize`` corruption at 8 bits shows that step
    alone) as an 8-bit JPEG export of the study would be. The quality is the
    highest (1..100) whose ratio reaches the target, so the image is at least
    as compressed as stated; the ratio achieved is recorded.

    Ratio: uncompressed pixel data at the source's Bits Allocated (16 bits
    for CT/MR/X-ray, 8 for 8-bit images) over the coded image data (markers
    and tables left out; see ``_compression``). Baseline JPEG cannot go much
    below about 0.1 bit per pixel: higher targets are recorded as not reached.

    Modality defaults: X-ray and other (8-bit exports, secondary captures).
    CT and MR archives keep 12-16 bits and code them with JPEG 2000 (or
    12-bit JPEG, which Pillow cannot write): for them ``jpeg2000`` is the
    archive corruption, and ``jpeg`` stays available as "an 8-bit JPEG
    export of the study".

    | severity | target ratio (16-bit source; 8-bit source) |
    |---|---|
    | 1 | 10:1 (1.6 bit/pixel; 0.8) |
    | 2 | 20:1 |
    | 3 | 40:1 |
    | 4 | 60:1 |
    | 5 | 100:1 (0.16 bit/pixel; 0.08) |
    """

    name = "jpeg"
    label = "Lossy JPEG"
    description = "Baseline 8-bit JPEG at a compression ratio, coded and decoded (8-bit export, X-ray archive)."
    modalities = ("XR", "OT")
    lossy_method = "ISO_10918_1"
    severity_table = {"default": (10.0, 20.0, 40.0, 60.0, 100.0)}
    severity_unit = ":1 ratio"
    params = (
        ParamSpec("ratio", "float", None, 1.0, 10000.0, ":1", "Target compression ratio (overrides the severity)."),
    )

    def physical(self, x: np.ndarray, context: ImageContext) -> dict[str, Any]:
        r = self.overrides["ratio"]
        r = float(r) if r is not None else self.level(context)
        st = storage_for(x, context.is_hu)
        low, step = eight_bit(st)
        return {"target_ratio": r, "bits_allocated": st.bits_allocated, "code_step": step, "code_low": low}

    def _corrupt(self, x: np.ndarray, context: ImageContext, p: dict[str, Any],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        low, step = p["code_low"], p["code_step"]
        out = np.empty_like(x)
        tally = RatioTally()
        for i, sel in planes(x):
            codes = to_codes(frame(x, i, sel), low, step)
            raw = codes.size * p["bits_allocated"] // 8
            stream, quality, reached = at_ratio(codes, raw, p["target_ratio"])
            tally.add(codes.size, raw, scan_data_bytes(stream), len(stream), quality, reached)
            dec = decode(stream).astype(np.float32) * np.float32(step) + np.float32(low)
            out[i, sel] = np.moveaxis(dec, -1, 0) if dec.ndim == 3 else dec
        return out, tally.measured("quality")
