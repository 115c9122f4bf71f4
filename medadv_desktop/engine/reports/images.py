"""Small raster helpers for report figures (no matplotlib, no Qt).

Example panels carry 2-D images in [0, 1]. They are turned into PNG bytes with
Pillow, upscaled by whole-pixel replication (nearest neighbour, so no pixel is
invented and the aspect ratio is kept), and the perturbation is shown as a
heat map of ``|adversarial - original|`` on a perceptually ordered colour map
(an approximation of matplotlib's *inferno*).
"""

from __future__ import annotations

import io

import numpy as np

from medadv_desktop.errors import ReportError

# (position, r, g, b) anchors of an inferno-like colour map.
_INFERNO = np.array([
    [0.00, 0, 0, 4], [0.13, 31, 12, 72], [0.25, 85, 15, 109], [0.38, 136, 34, 106],
    [0.50, 186, 54, 85], [0.63, 227, 89, 51], [0.75, 249, 140, 10], [0.88, 249, 201, 50],
    [1.00, 252, 255, 164]], dtype=np.float64)


def colormap_inferno(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB (..., 3)."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), 0.0, 1.0)
    rgb = np.stack([np.interp(v, _INFERNO[:, 0], _INFERNO[:, k]) for k in (1, 2, 3)], axis=-1)
    return np.round(rgb).astype(np.uint8)


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


def heat_png(magnitude01: np.ndarray, upscale_to: int = 256) -> bytes:
    """Values already scaled to [0, 1] -> inferno RGB PNG."""
    return png_bytes(_upscale(colormap_inferno(magnitude01), upscale_to))


def colorbar_png(height: int = 256, width: int = 16) -> bytes:
    """A vertical inferno colour bar, maximum at the top."""
    ramp = np.linspace(1.0, 0.0, height)[:, None].repeat(width, axis=1)
    return png_bytes(colormap_inferno(ramp))
