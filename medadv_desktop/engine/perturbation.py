"""What an adversarial perturbation looks like, shown truthfully (viewer and report examples).

One home for the maps a front end draws of ``delta = adversarial - original``:

* :func:`signed_delta`: the signed perturbation in the study's native units
  (HU for CT), one value per pixel (for colour images the channel with the
  largest change, sign kept);
* :func:`symmetric_range`: the range ``(-r, r)`` of a diverging colour map
  centred at 0, ``r`` a high percentile of ``|delta|`` so one outlier pixel
  does not wash the rest out;
* :func:`is_uniform_magnitude`: L-inf detection. FGSM, PGD and SMIA move almost
  every pixel by exactly ``eps``; their ``|delta|`` is then one flat value and a
  magnitude heatmap of it is a uniform wash that says nothing about *where* the
  perturbation matters;
* :func:`attribution_map`: ``|delta x gradient|`` (summed over channels), a
  first-order estimate of each pixel's share in the change of the model's
  output: meaningful for every norm, L-inf included;
* :func:`overlay_map`: the overlay a viewer may show on request: the
  attribution when an input gradient is at hand, ``|delta|`` when it carries
  information, and otherwise none, with the reason in words.

Everything stays in native units (no [0, 1] rescaling, no amplification).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "OverlayMap", "PerturbationSummary", "attribution_map", "is_uniform_magnitude", "overlay_map", "signed_delta",
    "summarize", "symmetric_range",
]

#: Percentile of |delta| that sets the symmetric range of the signed display.
RANGE_PERCENTILE = 99.5
#: |delta| is "uniform" when at least this share of the changed pixels lies within
#: UNIFORM_TOLERANCE (relative) of the largest change: the L-inf signature.
UNIFORM_SHARE = 0.8
UNIFORM_TOLERANCE = 0.1


def _as_float(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, dtype=np.float32)


def signed_delta(original: np.ndarray, adversarial: np.ndarray) -> np.ndarray:
    """``adversarial - original`` per pixel in native units, 2-D.

    Colour images (H, W, C) keep, per pixel, the channel change of largest
    magnitude with its sign, so no change cancels out in a channel mean.
    """
    original, adversarial = _as_float(original), _as_float(adversarial)
    if original.shape != adversarial.shape:
        raise ValueError(f"original {original.shape} and adversarial {adversarial.shape} differ in shape")
    delta = adversarial - original
    if delta.ndim == 3:
        pick = np.abs(delta).argmax(axis=-1)[..., None]
        delta = np.take_along_axis(delta, pick, axis=-1)[..., 0]
    elif delta.ndim != 2:
        raise ValueError(f"expected a 2-D slice or (H, W, C), got shape {delta.shape}")
    return delta


def symmetric_range(delta: np.ndarray, percentile: float = RANGE_PERCENTILE) -> float:
    """``r`` for a diverging map over ``(-r, r)``: a high percentile of ``|delta|`` (1.0 when nothing changed).

    Never below the smallest non-zero change, so a perturbation of a few pixels
    is not mapped to white.
    """
    magnitude = np.abs(_as_float(delta)).ravel()
    changed = magnitude[magnitude > 0]
    if changed.size == 0:
        return 1.0
    r = float(np.percentile(magnitude, percentile))
    if r <= 0.0:
        r = float(np.percentile(changed, percentile))
    return r if r > 0.0 else 1.0


def is_uniform_magnitude(delta: np.ndarray, *, share: float = UNIFORM_SHARE,
                         tolerance: float = UNIFORM_TOLERANCE) -> bool:
    """True when ``|delta|`` is (nearly) one value wherever it is non-zero, as after an L-inf attack.

    A map of such a ``|delta|`` is a flat block: it must not be shown as if it
    told where the image was changed.
    """
    magnitude = np.abs(_as_float(delta)).ravel()
    changed = magnitude[magnitude > 0]
    if changed.size == 0:
        return False
    peak = float(changed.max())
    near_peak = np.count_nonzero(changed >= peak * (1.0 - tolerance))
    # changed pixels covering most of the image, most of them at the peak
    return bool(near_peak >= share * changed.size and changed.size >= share * magnitude.size)


def attribution_map(delta: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """``|delta x gradient|`` per pixel (summed over channels): each pixel's first-order share in the output change.

    ``delta`` and ``gradient`` are in the same units (both of the model input,
    or ``gradient`` converted to native units); shapes (H, W) or (H, W, C).
    """
    delta, gradient = _as_float(delta), _as_float(gradient)
    if delta.shape != gradient.shape:
        raise ValueError(f"delta {delta.shape} and gradient {gradient.shape} differ in shape")
    product = np.abs(delta * gradient)
    return product.sum(axis=-1) if product.ndim == 3 else product


@dataclass(frozen=True)
class PerturbationSummary:
    """Norms and display facts of one perturbed slice (native units)."""

    linf: float
    l2: float
    changed_fraction: float        # share of pixels changed at all
    uniform: bool                  # |delta| one flat value (L-inf signature)
    display_range: float           # r of the signed display (-r, r)


def summarize(original: np.ndarray, adversarial: np.ndarray) -> PerturbationSummary:
    delta = signed_delta(original, adversarial)
    magnitude = np.abs(delta)
    return PerturbationSummary(
        linf=float(magnitude.max()) if magnitude.size else 0.0,
        l2=float(np.sqrt(np.square(delta, dtype=np.float64).sum())),
        changed_fraction=float(np.count_nonzero(magnitude) / magnitude.size) if magnitude.size else 0.0,
        uniform=is_uniform_magnitude(delta),
        display_range=symmetric_range(delta),
    )


@dataclass(frozen=True)
class OverlayMap:
    """An overlay to draw over the adversarial image, or ``array is None`` with the reason in ``label``."""

    array: np.ndarray | None
    label: str                     # what the map is, for the colour bar / title
    kind: str                      # "attribution", "magnitude" or "none"
    levels: tuple[float, float] = (0.0, 1.0)


def overlay_map(original: np.ndarray, adversarial: np.ndarray, *, units: str = "a.u.",
                gradient: np.ndarray | None = None) -> OverlayMap:
    """The overlay a viewer shows on request, labelled as what it is.

    * with ``gradient`` (d loss / d input in native units, same shape as the
      images): ``|delta x gradient|`` for every norm;
    * without it: ``|delta|`` in ``units`` when it varies over the image;
    * an L-inf perturbation without a gradient: no map (a uniform wash would
      misrepresent it), and the label says why.
    """
    delta = signed_delta(original, adversarial)
    if gradient is not None:
        grad = _as_float(gradient)
        full_delta = _as_float(adversarial) - _as_float(original)
        attribution = attribution_map(full_delta, grad)
        top = float(np.percentile(attribution, RANGE_PERCENTILE)) if attribution.size else 0.0
        top = top if top > 0 else float(attribution.max(initial=0.0)) or 1.0
        return OverlayMap(attribution, "|Δ × ∂loss/∂x| (first-order effect on the loss)", "attribution", (0.0, top))
    magnitude = np.abs(delta)
    if not np.any(magnitude):
        return OverlayMap(None, "no perturbation on this slice", "none")
    if is_uniform_magnitude(delta):
        peak = float(magnitude.max())
        return OverlayMap(None, f"L∞ perturbation: |Δ| = {peak:.3g} {units} almost everywhere — a magnitude map "
                                "would be a uniform wash; see the signed difference", "none")
    top = symmetric_range(delta)
    return OverlayMap(magnitude, f"|Δ| {units}", "magnitude", (0.0, top))
