"""The differentiable classifier wrapper and the study <-> [0, 1] image mapping.

Pipeline (all inside :meth:`Classifier.forward`, so gradients reach the
study's own pixels)::

    x in [0, 1], (N, C, H, W) at the study's resolution  [(N, C, D, H, W) for 3-D]
      -> channel adaptation  C=3 -> 1: y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601)
                             C=1 -> 3: repeat the grey channel
      -> resize to card.input_size (bilinear / trilinear, align_corners=False,
         antialias=False; skipped when already that size)
      -> normalise (x - mean) / std
      -> network -> logits (N, K)
      -> sigmoid model (one logit z): logits [0, z], so softmax = [1 - sigmoid(z), sigmoid(z)]

The two linear steps (channel mixing, resizing) commute; the order above only
saves work. The mapping native units <-> [0, 1] is :class:`IntensityMapping`
of the card: ``unit = clip((native - low) / (high - low), 0, 1)`` and back
``native = unit * (high - low) + low``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from medadv_desktop.engine.io.study import Study
from medadv_desktop.engine.models.card import ModelCard
from medadv_desktop.errors import ModelInputError

#: ITU-R BT.601 luma weights for R, G, B.
BT601_LUMA = (0.299, 0.587, 0.114)


class Classifier(nn.Module):
    """A model from a card, taking [0, 1] images at any resolution and returning logits (N, K).

    ``K = card.n_outputs`` (2 for a single-logit sigmoid model). Built by
    :func:`medadv_desktop.engine.models.load_classifier`; construct directly
    only with a network that already carries its weights.
    """

    # buffers registered in __init__ (nn.Module's attribute lookup alone types them as Tensor | Module)
    mean: torch.Tensor
    std: torch.Tensor
    luma: torch.Tensor

    def __init__(self, network: nn.Module, card: ModelCard) -> None:
        super().__init__()
        self.network = network
        self.card = card
        self.n_classes: int = card.n_outputs
        self.class_names: list[str] = list(card.class_names)
        self.spatial_dims: int = card.spatial_dims
        #: one-line warnings found when the model was loaded (``load_classifier``), e.g. double normalisation
        self.load_warnings: list[str] = []
        self.input_size: tuple[int, ...] = tuple(int(v) for v in card.input_size)
        shape = (1, -1) + (1,) * self.spatial_dims
        self.register_buffer("mean", torch.tensor(card.mean, dtype=torch.float32).reshape(shape), persistent=False)
        self.register_buffer("std", torch.tensor(card.std, dtype=torch.float32).reshape(shape), persistent=False)
        self.register_buffer("luma", torch.tensor(BT601_LUMA, dtype=torch.float32).reshape((1, 3) + (1,) * self.spatial_dims),
                             persistent=False)

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def _expected(self) -> str:
        if self.spatial_dims == 3:
            return "(batch, channels, depth, height, width) volumes"
        return "(batch, channels, height, width) images"

    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`ModelInputError` unless ``x`` is a batch this model can take."""
        if x.ndim != 2 + self.spatial_dims:
            what = {3: "a single 2-D image without batch", 4: "a batch of 2-D images",
                    5: "a batch of 3-D volumes"}.get(x.ndim, f"a {x.ndim}-D array")
            raise ModelInputError(
                f"Model '{self.card.name}' expects {self._expected()} with 1 or 3 channels, "
                f"but got {what} of shape {list(x.shape)}.",
                hint="A 2-D model classifies one slice at a time; a 3-D model needs the whole volume.")
        if x.shape[1] not in (1, 3):
            raise ModelInputError(f"Model '{self.card.name}' takes images with 1 (grey) or 3 (RGB) channels, "
                                  f"got {x.shape[1]} channels (input shape {list(x.shape)}).")
        if any(s < 1 for s in x.shape[2:]) or x.shape[0] < 1:
            raise ModelInputError(f"The input of shape {list(x.shape)} is empty.")

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] images at any size -> the normalised network input (differentiable)."""
        self.check_input(x)
        x = x.to(device=self.device, dtype=torch.float32)
        want = self.card.in_chans
        if x.shape[1] == 3 and want == 1:
            x = (x * self.luma).sum(dim=1, keepdim=True)
        if tuple(x.shape[2:]) != self.input_size:
            mode = "trilinear" if self.spatial_dims == 3 else "bilinear"
            x = F.interpolate(x, size=self.input_size, mode=mode, align_corners=False, antialias=False)
        if x.shape[1] == 1 and want == 3:
            x = x.expand(-1, 3, *x.shape[2:])
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.network(self.preprocess(x))
        if isinstance(out, (tuple, list)):
            out = out[0]
        n = x.shape[0]
        if self.card.output == "sigmoid":
            z = out.reshape(n, 1)
            return torch.cat([torch.zeros_like(z), z], dim=1)
        return out.reshape(n, -1)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor | np.ndarray, batch_size: int = 32) -> torch.Tensor:
        """Class probabilities (N, K) on the CPU, softmax of the logits; eval mode, no gradients, batched."""
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(np.ascontiguousarray(x))
        self.check_input(x)
        if not torch.isfinite(x).all():
            raise ModelInputError("The image contains NaN or infinite values; the model cannot classify it.")
        was_training = self.training
        self.eval()
        try:
            parts = [torch.softmax(self(x[i:i + batch_size]).float(), dim=1).cpu()
                     for i in range(0, x.shape[0], max(1, int(batch_size)))]
        finally:
            self.train(was_training)
        return torch.cat(parts, dim=0)

    def extra_repr(self) -> str:
        return (f"card={self.card.name!r}, input_size={list(self.input_size)}, in_chans={self.card.in_chans}, "
                f"classes={self.class_names}, output={self.card.output!r}")


# --------------------------------------------------------------------------- study mapping
def _check_finite(native: np.ndarray, study: Study, where: str) -> None:
    if not np.isfinite(native).all():
        bad = int((~np.isfinite(native)).sum())
        raise ModelInputError(
            f"Study {study.pseudonym or '(unnamed)'} {where} contains {bad} NaN or infinite pixel value(s); "
            "the model cannot classify it.",
            hint="Check the file (a damaged or non-image NIfTI often has NaNs), or mask those pixels first.")


def study_to_unit(study: Study, card: ModelCard,
                  slices: Sequence[int] | None = None) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Slices of ``study`` as (S, C, H, W) float32 in [0, 1], and the native (low, high) of each slice.

    Uses ``card.intensity.to_unit``: ``unit = clip((native - low) / (high - low), 0, 1)``.
    ``slices``: indices to take (default all). NaN/inf pixels raise :class:`ModelInputError`.
    """
    indices = list(range(study.n_slices)) if slices is None else [int(i) for i in slices]
    if not indices:
        raise ModelInputError("No slices were selected.")
    for i in indices:
        if not -study.n_slices <= i < study.n_slices:
            raise ModelInputError(f"Slice {i} does not exist: the study has {study.n_slices} slice(s).")
    if study.channels not in (1, 3):
        raise ModelInputError(f"Study {study.pseudonym or '(unnamed)'} has {study.channels} channels per pixel; "
                              "models take grey (1) or RGB (3) images.")
    units, bounds = [], []
    for i in indices:
        native = study.slice_chw(i)
        _check_finite(native, study, f"slice {i}")
        unit, b = card.intensity.to_unit(native)
        units.append(unit)
        bounds.append(b)
    return np.stack(units, axis=0).astype(np.float32, copy=False), bounds


def study_to_unit_volume(study: Study, card: ModelCard) -> tuple[np.ndarray, tuple[float, float]]:
    """The whole study as one (C, D, H, W) float32 [0, 1] volume for a 3-D model, with one (low, high)."""
    if study.channels not in (1, 3):
        raise ModelInputError(f"Study {study.pseudonym or '(unnamed)'} has {study.channels} channels per pixel; "
                              "models take grey (1) or RGB (3) images.")
    native = np.stack([study.slice_chw(i) for i in range(study.n_slices)], axis=1)  # (C, D, H, W)
    _check_finite(native, study, "")
    unit, b = card.intensity.to_unit(native)
    return unit, b


def unit_to_native(unit: np.ndarray | torch.Tensor,
                   bounds: Sequence[tuple[float, float]] | tuple[float, float]) -> np.ndarray:
    """Inverse of :func:`study_to_unit`: ``native = unit * (high - low) + low`` per slice.

    ``unit``: (S, C, H, W) (or any array whose first axis is the slice) with one
    (low, high) per slice, or any array with a single (low, high) pair.
    """
    if isinstance(unit, torch.Tensor):
        unit = unit.detach().cpu().numpy()
    unit = np.asarray(unit, dtype=np.float32)
    if len(bounds) == 2 and all(isinstance(v, (int, float, np.floating, np.integer)) for v in bounds):
        lo, hi = float(bounds[0]), float(bounds[1])  # type: ignore[arg-type]
        return (unit * (hi - lo) + lo).astype(np.float32)
    b = np.asarray(bounds, dtype=np.float32).reshape(-1, 2)
    if b.shape[0] != unit.shape[0]:
        raise ModelInputError(f"{unit.shape[0]} slice(s) but {b.shape[0]} intensity bound(s) were given.")
    shape = (-1,) + (1,) * (unit.ndim - 1)
    lows, highs = b[:, 0].reshape(shape), b[:, 1].reshape(shape)
    return (unit * (highs - lows) + lows).astype(np.float32)
