"""Small raster helpers for report figures (no matplotlib, no Qt).

Example panels carry 2-D images in [0, 1]. They are turned into PNG bytes with
Pillow, upscaled by whole-pixel replication (nearest neighbour, so no pixel is
invented and the aspect ratio is kept), and the signed perturbation
``adversarial - original`` is shown on a diverging colour map centred at 0
(blue lower, near-white unchanged, red higher), as the viewer shows it.
"""

from __future__ import annotations

import io

import numpy as np

from medadv_desktop.errors import ReportError


def as_image(values) -> np.ndarray:
    """Nested list / array -> 2-D float array (first channel if 3-D); ReportError for anything else."""
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):               # ragged lists, text
        raise ReportError("An example image is not a grid of numbers.") from None
    if a.ndim == 3:  # (C, H, W) or (H, W, C)
        a = a[0] if a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3) else a[..., 0]
    if a.ndim != 2 or a.size == 0:
        raise ReportError(f"An example image has shape {a.shape}, not a 2-D image.")
    return a


def _upscale(a: np.ndarray, target: int = 256) -> np.ndarray:
    factor = max(1, int(target // max(a.shape[:2])))
    if factor > 1:
        a = np.repeat(np.repeat(a, factor, axis=0), factor, axis=1)
    return a


def png_bytes(rgb_or_gray: np.ndarray) -> bytes:
    from PIL import Image

    arr = np.asarray(rgb_or_gray)
    mode = "RGB" if arr.ndim == 3 else "L"
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8), mode=mode).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def gray_png(image01: np.ndarray, upscale_to: int = 256) -> bytes:
    """[0, 1] image -> grayscale PNG (0 black, 1 white)."""
    g = np.round(np.clip(np.nan_to_num(image01), 0, 1) * 255).astype(np.uint8)
    return png_bytes(_upscale(g, upscale_to))


# (position, r, g, b) anchors of a blue-white-red diverging map (an approximation of
# colorcet's CET-D1, the map the viewer draws the signed difference with).
_DIVERGING = np.array([
    [0.000, 33, 81, 219], [0.125, 111, 116, 225], [0.250, 159, 155, 231], [0.375, 201, 196, 236],
    [0.500, 237, 231, 233], [0.625, 240, 189, 177], [0.750, 231, 139, 118], [0.875, 214, 87, 62],
    [1.000, 192, 2, 6]], dtype=np.float64)


def colormap_diverging(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] (0.5 = no change) to uint8 RGB (..., 3): blue lower, near-white 0, red higher."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.5), 0.0, 1.0)
    rgb = np.stack([np.interp(v, _DIVERGING[:, 0], _DIVERGING[:, k]) for k in (1, 2, 3)], axis=-1)
    return np.round(rgb).astype(np.uint8)


def signed_png(delta: np.ndarray, half_range: float, upscale_to: int = 256) -> bytes:
    """A signed difference -> diverging RGB PNG over ``(-half_range, half_range)``, 0 at the centre colour."""
    r = float(half_range) if half_range > 0 else 1.0
    return png_bytes(_upscale(colormap_diverging(0.5 + np.asarray(delta, dtype=np.float64) / (2.0 * r)), upscale_to))


def diverging_colorbar_png(height: int = 256, width: int = 16) -> bytes:
    """A vertical diverging colour bar: +range at the top, 0 in the middle, -range at the bottom."""
    ramp = np.linspace(1.0, 0.0, height)[:, None].repeat(width, axis=1)
    return png_bytes(colormap_diverging(ramp))
