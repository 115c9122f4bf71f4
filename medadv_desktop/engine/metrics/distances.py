"""Per-sample measures of a perturbation: L-inf, L2, L0, PSNR, SSIM, confidence.

All images are [0, 1] tensors of shape (N, C, H, W) (or (N, C, D, H, W) for
volumes). ``delta = adv - clean``; every measure is per sample (one value per
row of N).

* ``linf = max |delta|``                        ([0, 1] units)
* ``l2   = sqrt(sum delta**2)``  over C*H*W       ([0, 1] units)
* ``l0   = (# pixels with any channel |delta| > 1e-6) / (H*W)``  (a fraction)
* native units: ``linf_native = linf * native_per_unit`` and likewise for L2,
  where ``native_per_unit`` is the native size of one [0, 1] unit (the model
  card's window width, e.g. 400 HU, or the image's own range).
* ``psnr = 10 * log10(1 / mean(delta**2))`` dB (data range 1); ``inf`` when
  the images are identical (stored as ``None`` in records).
* ``ssim``: mean structural similarity (Wang et al. 2004) with an 11x11
  Gaussian window (sigma 1.5, truncated at 3.5 sigma), K1 = 0.01, K2 = 0.03,
  data range 1, population covariance, averaged over the "valid" region (the
  window never leaves the image) and over channels (and slices of a volume).
  Matches ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False, data_range=1)``. Images smaller than
  11 px use the largest odd window that fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from medadv_desktop.errors import InvalidArgumentError

L0_TOLERANCE = 1e-6


@dataclass
class PerturbationMeasures:
    """Per-sample measures, each a float64 numpy array of shape (N,)."""

    linf: np.ndarray
    l2: np.ndarray
    l0: np.ndarray
    psnr: np.ndarray               # dB; inf for identical images
    ssim: np.ndarray
    linf_native: np.ndarray | None = None   # None when the native scale is unknown
    l2_native: np.ndarray | None = None


def _as_tensor(a) -> torch.Tensor:
    if isinstance(a, np.ndarray):
        return torch.from_numpy(a)
    return a


def _gaussian_kernel_1d(sigma: float, size: int, dtype, device) -> torch.Tensor:
    r = size // 2
    x = torch.arange(-r, r + 1, dtype=dtype, device=device)
    k = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return k / k.sum()


def ssim(clean, adv, *, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03,
         data_range: float = 1.0) -> np.ndarray:
    """Mean SSIM per sample of (N, C, H, W) or (N, C, D, H, W) images (see module doc)."""
    x = _as_tensor(clean).detach().to(torch.float64)
    y = _as_tensor(adv).detach().to(torch.float64)
    if x.shape != y.shape:
        raise InvalidArgumentError(f"shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    n = x.shape[0]
    if x.ndim == 5:   # volume: slice-wise, (N, C, D, H, W) -> (N, C*D, H, W)
        x = x.flatten(1, 2)
        y = y.flatten(1, 2)
    elif x.ndim == 3:
        x, y = x[:, None], y[:, None]
    if x.ndim != 4:
        raise InvalidArgumentError("ssim expects (N, C, H, W) or (N, C, D, H, W) images")
    c, h, w = x.shape[1:]
    radius = int(3.5 * sigma + 0.5)
    size = 2 * radius + 1
    size = min(size, h if h % 2 else h - 1, w if w % 2 else w - 1)
    size = max(size, 1)
    g = _gaussian_kernel_1d(sigma, size, x.dtype, x.device)
    kh = g.view(1, 1, size, 1)
    kw = g.view(1, 1, 1, size)

    def filt(t: torch.Tensor) -> torch.Tensor:
        t = t.reshape(n * c, 1, h, w)
        return F.conv2d(F.conv2d(t, kh), kw)

    ux, uy = filt(x), filt(y)
    uxx, uyy, uxy = filt(x * x), filt(y * y), filt(x * y)
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    return s.reshape(n, -1).mean(dim=1).cpu().numpy()


def perturbation_measures(clean, adv, native_per_unit=None) -> PerturbationMeasures:
    """All distance measures of ``adv - clean`` per sample (see module doc).

    ``native_per_unit``: None, a float, or one value per sample.
    """
    x = _as_tensor(clean).detach().to(torch.float64)
    a = _as_tensor(adv).detach().to(torch.float64)
    if x.shape != a.shape:
        raise InvalidArgumentError(f"shapes differ: {tuple(x.shape)} vs {tuple(a.shape)}")
    n = x.shape[0]
    d = (a - x).reshape(n, x.shape[1], -1)            # (N, C, pixels)
    linf = d.abs().amax(dim=(1, 2)) if d.numel() else torch.zeros(n, dtype=torch.float64)
    l2 = d.pow(2).sum(dim=(1, 2)).sqrt()
    l0 = (d.abs() > L0_TOLERANCE).any(dim=1).to(torch.float64).mean(dim=1)
    mse = d.pow(2).mean(dim=(1, 2))
    psnr = torch.where(mse > 0, 10 * torch.log10(1.0 / mse.clamp_min(1e-300)),
                       torch.full_like(mse, math.inf))
    m = PerturbationMeasures(
        linf=linf.cpu().numpy(), l2=l2.cpu().numpy(), l0=l0.cpu().numpy(),
        psnr=psnr.cpu().numpy(), ssim=ssim(x, a))
    if native_per_unit is not None:
        npu = np.broadcast_to(np.asarray(native_per_unit, dtype=np.float64), (n,))
        if np.all(np.isfinite(npu)):
            m.linf_native = m.linf * npu
            m.l2_native = m.l2 * npu
    return m


def as_two_class_logits(logits: torch.Tensor) -> torch.Tensor:
    """(N, 1) single-logit output -> (N, 2) logits [0, z] (same softmax as sigmoid)."""
    if logits.ndim == 2 and logits.shape[1] == 1:
        return torch.cat([torch.zeros_like(logits), logits], dim=1)
    return logits


def true_class_confidence(logits: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Softmax probability of the true class per sample, (N,) float64."""
    p = torch.softmax(as_two_class_logits(logits.detach()).to(torch.float64), dim=1)
    return p.gather(1, y.view(-1, 1).to(p.device).long()).squeeze(1).cpu().numpy()
