"""Numerical helpers shared by the corruptions (numpy only).

* signal reference: the image's baseline and its mean foreground signal (SNR, spike, ghost amplitudes);
* storage model: how a scanner or PACS stores the native values as integers (codecs, quantisation);
* 1-D linear operators as matrices (Gaussian blur, area down-sampling, linear up-sampling, slice profiles),
  applied along one axis with a matrix product: exact, boundary-aware and fast for image sizes;
* k-space: centred 2-D FFT over the last two axes;
* bilinear in-plane rotation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))   # 2.3548


# -- signal reference -------------------------------------------------------------
def baseline(x: np.ndarray) -> float:
    """The value treated as "no signal": 0, or the minimum when the image has negative values (e.g. air in HU).

    k-space and multiplicative corruptions act on ``x - baseline`` (an MR magnitude image has baseline 0).
    """
    return min(0.0, float(x.min()))


def foreground_mean(x: np.ndarray) -> float:
    """Mean signal above the baseline over the foreground: pixels above 10 % of the 99th percentile.

    The reference signal S of an SNR (noise SD = S / SNR) and of artefact amplitudes.
    """
    v = x.astype(np.float64, copy=False) - baseline(x)
    p99 = float(np.percentile(v, 99))
    if p99 <= 0:
        return 1.0
    fg = v[v > 0.1 * p99]
    return float(fg.mean()) if fg.size else p99


# -- storage model -------------------------------------------------------------------
@dataclass(frozen=True)
class Storage:
    """Native values <-> stored unsigned integers, as a DICOM file or a codec holds them.

    ``native = low + stored * step``. ``bits_allocated`` is 8 or 16 (the DICOM
    convention the compression ratio is measured against).
    """

    low: float
    step: float
    bits_stored: int
    exact: bool          # True: integer native values stored without loss

    @property
    def bits_allocated(self) -> int:
        return 8 if self.bits_stored <= 8 else 16

    @property
    def max_stored(self) -> int:
        return (1 << self.bits_stored) - 1

    @property
    def high(self) -> float:
        return self.low + self.max_stored * self.step

    def to_stored(self, x: np.ndarray) -> np.ndarray:
        v = np.rint((x - self.low) / self.step)
        np.clip(v, 0, self.max_stored, out=v)
        return v.astype(np.uint8 if self.bits_allocated == 8 else np.uint16)

    def to_native(self, v: np.ndarray) -> np.ndarray:
        return (self.low + v.astype(np.float64) * self.step).astype(np.float32)


def storage_for(x: np.ndarray, is_hu: bool) -> Storage:
    """The storage a scanner would use for these values.

    CT (HU): 12 bits stored with intercept -1024 (-1024..3071 HU), widened to
    more bits when the values go beyond. Other integer-valued images: offset
    by their minimum when negative, as many bits as their range needs (8-bit
    images stay 8-bit). Non-integer values: the image's range over 16 bits.
    """
    lo, hi = float(x.min()), float(x.max())
    if is_hu:
        low = min(-1024.0, math.floor(lo))
        span = max(3071.0, math.ceil(hi)) - low
        bits = max(12, int(math.ceil(math.log2(span + 1))))
        if bits <= 16 and np.array_equal(x, np.rint(x)):
            return Storage(low, 1.0, bits, True)
    elif np.array_equal(x, np.rint(x)) and hi - min(lo, 0.0) < 65536:
        low = min(lo, 0.0)
        bits = max(1, int(math.ceil(math.log2(hi - low + 1))))
        return Storage(low, 1.0, bits, True)
    span = hi - lo if hi > lo else 1.0
    return Storage(lo, span / 65535.0, 16, False)


# -- 1-D operators as matrices ---------------------------------------------------------
def _reflect(i: np.ndarray, n: int) -> np.ndarray:
    """Indices reflected into [0, n) (mirror without repeating the edge sample, like numpy's 'reflect')."""
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    i = np.mod(i, period)
    return np.where(i >= n, period - i, i)


@lru_cache(maxsize=64)
def gaussian_matrix(n: int, sigma_px: float) -> np.ndarray:
    """(n, n) Gaussian blur with mirrored edges; rows sum to 1."""
    if sigma_px <= 0:
        return np.eye(n, dtype=np.float32)
    w = gaussian_kernel(sigma_px).astype(np.float64)
    r = (w.size - 1) // 2
    k = np.arange(-r, r + 1)
    m = np.zeros((n, n), dtype=np.float64)
    rows = np.repeat(np.arange(n), k.size)
    cols = _reflect((np.arange(n)[:, None] + k[None, :]).ravel(), n)
    np.add.at(m, (rows, cols), np.tile(w, n))
    return _frozen(m)


@lru_cache(maxsize=64)
def box_matrix(n: int, width_px: float) -> np.ndarray:
    """(n, n) box average of ``width_px`` samples (fractional at both ends) with replicated edges; rows sum to 1.

    Sample j covers [j - 1/2, j + 1/2]; output i averages [i - w/2, i + w/2].
    """
    if width_px <= 1:
        return np.eye(n, dtype=np.float32)
    m = np.zeros((n, n), dtype=np.float64)
    half = width_px / 2
    r = int(math.ceil(half + 0.5))
    for i in range(n):
        for j in range(i - r, i + r + 1):
            overlap = min(i + half, j + 0.5) - max(i - half, j - 0.5)
            if overlap > 0:
                m[i, min(max(j, 0), n - 1)] += overlap
    m /= m.sum(axis=1, keepdims=True)
    return _frozen(m)


@lru_cache(maxsize=64)
def area_matrix(n: int, m_out: int) -> np.ndarray:
    """(m_out, n) area average: output pixel k averages the input over [k n/m, (k+1) n/m)."""
    edges = np.arange(m_out + 1) * (n / m_out)
    a = np.zeros((m_out, n), dtype=np.float64)
    for k in range(m_out):
        lo, hi = edges[k], edges[k + 1]
        for j in range(int(math.floor(lo)), min(n, int(math.ceil(hi)))):
            a[k, j] = min(hi, j + 1) - max(lo, j)
    a /= a.sum(axis=1, keepdims=True)
    return _frozen(a)


@lru_cache(maxsize=64)
def linear_matrix(m_in: int, n: int) -> np.ndarray:
    """(n, m_in) linear interpolation from m_in samples back to n (pixel centres aligned, edges clamped)."""
    pos = (np.arange(n) + 0.5) * (m_in / n) - 0.5
    pos = np.clip(pos, 0, m_in - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, m_in - 1)
    f = pos - i0
    a = np.zeros((n, m_in), dtype=np.float64)
    np.add.at(a, (np.arange(n), i0), 1 - f)
    np.add.at(a, (np.arange(n), i1), f)
    return _frozen(a)


#: above this many samples along an axis a banded operator runs as shifted sums, not as a dense matrix
DENSE_LIMIT = 384


def gaussian_kernel(sigma_px: float) -> np.ndarray:
    """Normalised Gaussian taps over +-4 sigma (the same taps as :func:`gaussian_matrix`)."""
    r = int(math.ceil(4 * sigma_px))
    k = np.arange(-r, r + 1)
    w = np.exp(-0.5 * (k / sigma_px) ** 2)
    return (w / w.sum()).astype(np.float32)


def blur_along(x: np.ndarray, sigma_px: float, axis: int) -> np.ndarray:
    """Gaussian blur along one axis with mirrored edges: a matrix product on small axes, shifted sums on
    large ones (same result; O(n * taps) instead of O(n^2) per line)."""
    n = x.shape[axis]
    if sigma_px <= 0:
        return x.copy()
    if n <= DENSE_LIMIT or n == 1:
        return along(x, gaussian_matrix(n, sigma_px), axis)
    w = gaussian_kernel(sigma_px)
    r = (w.size - 1) // 2
    return _shifted_sum(np.take(x, _reflect(np.arange(-r, n + r), n), axis=axis), w, axis, n)


def _shifted_sum(padded: np.ndarray, taps: np.ndarray, axis: int, n: int) -> np.ndarray:
    """sum_t taps[t] * padded[t : t + n] along ``axis``, in the array's own (C) order: no transposed strides."""
    shape = list(padded.shape)
    shape[axis] = n
    out = np.zeros(shape, dtype=np.float32)
    index: list[slice] = [slice(None)] * padded.ndim
    for t, w in enumerate(taps.astype(np.float32)):
        if w:
            index[axis] = slice(t, t + n)
            out += w * padded[tuple(index)]
    return out


def box_along(x: np.ndarray, width_px: float, axis: int) -> np.ndarray:
    """Box average of ``width_px`` samples along ``axis`` (as :func:`box_matrix`: fractional ends,
    replicated edges) as a sum of shifted copies: O(n * taps) time, two arrays of memory."""
    n = x.shape[axis]
    if width_px <= 1:
        return x.copy()
    half = width_px / 2
    r = int(math.ceil(half + 0.5))
    offsets = np.arange(-r, r + 1)
    taps = np.clip(np.minimum(half, offsets + 0.5) - np.maximum(-half, offsets - 0.5), 0, None) / width_px
    return _shifted_sum(np.take(x, np.clip(np.arange(-r, n + r), 0, n - 1), axis=axis), taps, axis, n)


def area_resample(x: np.ndarray, m_out: int, axis: int) -> np.ndarray:
    """Area average to ``m_out`` samples along ``axis`` (as :func:`area_matrix`), in O(n) per line.

    Output k is the mean of the piecewise-constant signal over [k n/m, (k+1) n/m): the difference
    of its running integral at both edges, divided by the width.
    """
    n = x.shape[axis]
    shape = [1] * x.ndim
    shape[axis] = m_out + 1
    zero = np.zeros(x.shape[:axis] + (1,) + x.shape[axis + 1:])
    integral = np.concatenate([zero, np.cumsum(x, axis=axis, dtype=np.float64)], axis=axis)
    edges = np.arange(m_out + 1) * (n / m_out)
    j = np.minimum(np.floor(edges).astype(np.intp), n - 1)
    frac = (edges - j).reshape(shape)
    at = np.take(integral, j, axis=axis) + frac * np.take(x, j, axis=axis)     # integral up to each edge
    hi = [slice(None)] * x.ndim
    lo = [slice(None)] * x.ndim
    hi[axis], lo[axis] = slice(1, None), slice(None, -1)
    return ((at[tuple(hi)] - at[tuple(lo)]) / (n / m_out)).astype(np.float32)


def resample_back(x: np.ndarray, m: int, axis: int) -> np.ndarray:
    """Area average down to ``m`` samples along ``axis`` and linear interpolation back to the original
    count: one matrix product on small axes, the linear-time pair on large ones (same result)."""
    n = x.shape[axis]
    if n <= DENSE_LIMIT:
        return along(x, linear_matrix(m, n) @ area_matrix(n, m), axis)
    return linear_resample(area_resample(x, m, axis), n, axis)


def linear_resample(x: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Linear interpolation from the samples along ``axis`` to ``n`` (as :func:`linear_matrix`), in O(n)."""
    m_in = x.shape[axis]
    pos = np.clip((np.arange(n) + 0.5) * (m_in / n) - 0.5, 0, m_in - 1)
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, m_in - 1)
    shape = [1] * x.ndim
    shape[axis] = n
    f = (pos - i0).astype(np.float32).reshape(shape)
    return np.take(x, i0, axis=axis) * (1 - f) + np.take(x, i1, axis=axis) * f


def _frozen(m: np.ndarray) -> np.ndarray:
    out = m.astype(np.float32)
    out.flags.writeable = False   # cached: shared by every caller
    return out


def along(x: np.ndarray, matrix: np.ndarray, axis: int) -> np.ndarray:
    """Apply a (n_out, n_in) matrix along ``axis`` of ``x``."""
    moved = np.moveaxis(x, axis, -1)
    out = moved @ matrix.T
    return np.moveaxis(out, -1, axis)


# -- k-space -----------------------------------------------------------------------
def kspace(x: np.ndarray) -> np.ndarray:
    """Centred 2-D k-space of the last two axes (DC in the middle)."""
    return np.fft.fftshift(np.fft.fft2(x, axes=(-2, -1)), axes=(-2, -1))


def image(k: np.ndarray) -> np.ndarray:
    """Complex image from centred k-space (inverse of :func:`kspace`)."""
    return np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), axes=(-2, -1))


def centred_freq(n: int) -> np.ndarray:
    """Frequencies in cycles per sample of the centred k-space lines (fftshift order)."""
    return np.fft.fftshift(np.fft.fftfreq(n))


# -- rotation ------------------------------------------------------------------------
@lru_cache(maxsize=32)
def _centred_mm(h: int, w: int, sr: float, sc: float) -> tuple[np.ndarray, np.ndarray]:
    yy = ((np.arange(h) - (h - 1) / 2) * sr)[:, None]
    xx = ((np.arange(w) - (w - 1) / 2) * sc)[None, :]
    return yy, xx


def rotate(x: np.ndarray, degrees: float, fill: float, spacing: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Rotate the last two axes by ``degrees`` about the image centre (bilinear; ``fill`` outside).

    Rotation in physical space (mm): anisotropic pixels are handled through ``spacing`` (row, col).
    """
    if degrees == 0:
        return x.copy()
    h, w = x.shape[-2:]
    sr, sc = float(spacing[0]), float(spacing[1])
    yy, xx = _centred_mm(h, w, sr, sc)
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    # source of each output point (inverse rotation), in pixels of an image padded by one `fill` pixel
    ys = np.clip((c * yy + s * xx) / sr + (h - 1) / 2 + 1, 0, h + 0.999)
    xs = np.clip((-s * yy + c * xx) / sc + (w - 1) / 2 + 1, 0, w + 0.999)
    y0 = ys.astype(np.intp)
    x0 = xs.astype(np.intp)
    fy = (ys - y0).astype(np.float32).ravel()
    fx = (xs - x0).astype(np.float32).ravel()
    lead = x.shape[:-2]
    padded = np.full(lead + (h + 2, w + 2), fill, dtype=np.float32)
    padded[..., 1:-1, 1:-1] = x
    flat = padded.reshape(-1, (h + 2) * (w + 2))
    i00 = (y0 * (w + 2) + x0).ravel()
    top = flat[:, i00] * (1 - fx) + flat[:, i00 + 1] * fx
    bottom = flat[:, i00 + w + 2] * (1 - fx) + flat[:, i00 + w + 3] * fx
    return (top * (1 - fy) + bottom * fy).reshape(x.shape)
