"""SMIA: stabilized medical image attack (Qi, Gong, Xia, Li, Gu; ICLR 2021)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from medadv_desktop.engine.attacks._common import (ALPHA_PARAM, AMP_PARAM, STEPS_PARAM, as_planes, auto_alpha,
                                                   check_input, gradient_objective, image_space,
                                                   run_gradient_attack)
from medadv_desktop.engine.attacks.base import Attack, AttackOutput, ParamSpec, register
from medadv_desktop.engine.jobs import ProgressCallback
from medadv_desktop.errors import AttackConfigError


def gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    """Normalised 2-D Gaussian K[i, j] = g_i g_j, g_i ~ exp(-(i - (size-1)/2)^2 / (2 sigma^2)), sum 1."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-r ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return torch.outer(g, g).float()


def gaussian_smooth(x: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """Depthwise Gaussian blur K_sigma * x of every channel (and, for volumes,
    every slice: in-plane 2-D smoothing), replicate padding, same shape."""
    shape = x.shape
    v = as_planes(x)
    c = v.shape[1]
    k = gaussian_kernel(size, sigma).to(device=x.device, dtype=x.dtype)
    weight = k.expand(c, 1, size, size)
    pad = size // 2
    out = F.conv2d(F.pad(v, (pad, pad, pad, pad), mode="replicate"), weight, groups=c)
    return out.reshape(shape)


@register
class SMIA(Attack):
    """Stabilized medical image attack (SMIA).

    Distance measure: L-inf (default) or L2, in [0, 1] image units.

    Objective maximised at every step (x' = clip(x + r), logits f):

        J(x') = CE(f(x'), y) - beta * KL( softmax f(K_sigma * x') || softmax f(x') )

    with KL(P || Q) = sum_k P_k (log P_k - log Q_k) in nats, K_sigma a
    depthwise normalised Gaussian kernel of side ``kernel_size`` and standard
    deviation ``sigma`` pixels (replicate padding; any channel count; in-plane
    per slice for volumes). Targeted: the first term becomes ``-CE(f(x'), t)``.
    The first term (loss deviation) pushes the prediction away from y; the
    second (loss stabilisation) keeps the prediction on x' close to that on
    its smoothed version, which steers the perturbation to a stable spot and
    lowers its variance across iterations (Qi et al. 2021). Gradients flow
    through both forward passes (x' and K_sigma * x'), evaluated as one batch.

    Update (BIM form, no random start), ``steps`` iterations::

        x'_{k+1} = clip_[0,1](x + clamp(x'_k + alpha * sign(grad J) - x, -eps, eps))     (L-inf)
        x'_{k+1} = clip_[0,1](x + Proj_eps(x'_k + alpha * grad J / ||grad J||_2 - x))    (L2)

    Defaults: beta = 1, 10 steps, alpha = 2.5 * eps / steps, kernel 5 x 5,
    sigma = 1 px. With beta = 0 the smoothed forward is skipped and the
    attack is exactly BIM (our PGD with ``random_start=False``, same alpha
    and steps). Per-sample early stop as in PGD.
    """

    name = "smia"
    label = "SMIA"
    description = "Stabilized medical image attack: gradient attack with a Gaussian-smoothing stabilisation term (white box)."
    params = (
        ParamSpec("beta", "float", 1.0, 0.0, 100.0, "", "Weight of the stabilisation term (0 = plain BIM)."),
        ALPHA_PARAM,
        STEPS_PARAM,
        ParamSpec("kernel_size", "int", 5, 1, 31, "px", "Side of the Gaussian kernel (odd)."),
        ParamSpec("sigma", "float", 1.0, 0.05, 20.0, "px", "Standard deviation of the Gaussian kernel."),
        AMP_PARAM,
    )
    fast_settings = ({"steps": 4, "beta": 1.0, "kernel_size": 3},)

    @classmethod
    def check_params(cls, params):
        values = super().check_params(params)
        if int(values["kernel_size"]) % 2 == 0:
            raise AttackConfigError("the Gaussian kernel side must be odd (e.g. 3, 5, 7)", parameter="kernel_size")
        return values

    @classmethod
    def model_calls(cls, params: Mapping[str, Any] | None = None, n_classes: int = 2) -> tuple[int, int]:
        """Each step also runs the smoothed image (beta > 0): twice the rows of a plain gradient step."""
        forwards, gradients = super().model_calls(params, n_classes)
        beta = (params or {}).get("beta", next(p.default for p in cls.params if p.name == "beta"))
        return forwards, gradients * (1 if float(beta) == 0 else 2)

    def _objective(self, adv: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None):
        beta = float(self.config["beta"])
        if beta == 0:
            logits = self._logits(adv)
            return logits, gradient_objective(logits, y, targets)
        smooth = gaussian_smooth(adv, int(self.config["kernel_size"]), float(self.config["sigma"]))
        both = self._logits(torch.cat([adv, smooth]))
        logits, logits_s = both[: adv.shape[0]], both[adv.shape[0]:]
        logp_s = F.log_softmax(logits_s, dim=1)
        kl = (logp_s.exp() * (logp_s - F.log_softmax(logits, dim=1))).sum(dim=1)
        return logits, gradient_objective(logits, y, targets) - beta * kl

    def _run(self, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
             progress: ProgressCallback) -> AttackOutput:
        check_input(x)
        if int(self.config["kernel_size"]) > min(x.shape[-2:]) and not math.isclose(float(self.config["beta"]), 0.0):
            raise AttackConfigError(f"the kernel ({self.config['kernel_size']} px) is larger than the image "
                                    f"({x.shape[-2]} x {x.shape[-1]} px); choose a smaller kernel_size",
                                    parameter="kernel_size")
        steps = int(self.config["steps"])
        alpha = auto_alpha(self.config["alpha"], self.eps, steps)
        out = run_gradient_attack(self, x, y, targets, progress, space=image_space(self.eps, self.norm, alpha),
                                  steps=steps, random_start=False, objective=self._objective)
        out.extra.update({"alpha": alpha, "beta": float(self.config["beta"])})
        return out
