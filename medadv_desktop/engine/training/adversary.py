"""Training-time adversaries: lean, batched L-inf attacks for adversarial training.

They work on the [0, 1] image the attacks of ``engine/attacks`` perturb,
through the differentiable classifier wrapper (resize -> normalise -> network),
so a model hardened here is hardened against exactly the threat model the
evaluation measures. They are kept separate from the user-facing attacks
because training needs none of their bookkeeping (queries, early stop,
per-sample records) and must be as cheap as possible: input gradients are
taken with ``torch.autograd.grad(loss, delta)``, so no parameter gradients
are computed or accumulated while an example is generated.

The caller puts the model in eval mode while examples are generated (BatchNorm
uses its running statistics, so the attack sees the same function the
evaluation will attack and the running statistics are not polluted by
adversarial batches) and in train mode for the weight update.

Formulas (eps, alpha in [0, 1] units, Proj = clip to [x - eps, x + eps] and
to [0, 1]):

* FGSM with random start (Wong et al. 2020):
  ``d0 ~ U(-eps, eps)``, ``x' = Proj(x + d0 + alpha * sign(grad_x CE(f(x + d0), y)))``.
* PGD-k (Madry et al. 2018): ``x_0 = Proj(x + U(-eps, eps))``,
  ``x_{t+1} = Proj(x_t + alpha * sign(grad CE(f(x_t), y)))``, k steps.
* TRADES inner maximisation (Zhang et al. 2019): ``x_0 = x + 0.001 N(0, 1)``,
  ``x_{t+1} = Proj(x_t + alpha * sign(grad KL(softmax f(x) || softmax f(x_t))))``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

import torch
import torch.nn.functional as F
from torch import nn

AutocastFactory = Callable[[], AbstractContextManager]


def class_logits(logits: torch.Tensor) -> torch.Tensor:
    """(N, K) logits; a single-logit sigmoid model z becomes the two logits [0, z]."""
    if logits.ndim == 2 and logits.shape[1] == 1:
        return torch.cat([torch.zeros_like(logits), logits], dim=1)
    return logits


def _no_autocast() -> AbstractContextManager:
    return contextlib.nullcontext()


def _uniform(x: torch.Tensor, eps: float, generator: torch.Generator | None) -> torch.Tensor:
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (noise * 2 - 1) * eps


def _project(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.clamp(torch.min(torch.max(x_adv, x - eps), x + eps), 0.0, 1.0)


def _input_grad(model: nn.Module, x_adv: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor],
                autocast: AutocastFactory) -> torch.Tensor:
    x_adv = x_adv.detach().requires_grad_(True)
    with autocast():
        logits = class_logits(model(x_adv))
    loss = loss_fn(logits.float())
    (grad,) = torch.autograd.grad(loss, [x_adv])
    return grad


def fgsm_random_start(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, *,
                      generator: torch.Generator | None = None,
                      autocast: AutocastFactory = _no_autocast) -> torch.Tensor:
    """Fast FGSM with a uniform random start (Wong et al. 2020); returns x' in [0, 1]."""
    x = x.detach()
    start = _project(x + _uniform(x, eps, generator), x, eps)
    grad = _input_grad(model, start, lambda z: F.cross_entropy(z, y), autocast)
    return _project(start + alpha * grad.sign(), x, eps).detach()


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int, *,
        random_start: bool = True, generator: torch.Generator | None = None,
        autocast: AutocastFactory = _no_autocast) -> torch.Tensor:
    """L-inf PGD-k maximising the cross-entropy; returns x' in [0, 1]."""
    x = x.detach()
    x_adv = _project(x + _uniform(x, eps, generator), x, eps) if random_start else x.clone()
    for _ in range(int(steps)):
        grad = _input_grad(model, x_adv, lambda z: F.cross_entropy(z, y), autocast)
        x_adv = _project(x_adv + alpha * grad.sign(), x, eps).detach()
    return x_adv


def trades_adversary(model: nn.Module, x: torch.Tensor, eps: float, alpha: float, steps: int, *,
                     generator: torch.Generator | None = None,
                     autocast: AutocastFactory = _no_autocast) -> torch.Tensor:
    """TRADES inner maximisation of KL(f(x) || f(x')) (labels not needed)."""
    x = x.detach()
    with torch.no_grad(), autocast():
        p_clean = F.softmax(class_logits(model(x)).float(), dim=1)
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    x_adv = _project(x + 0.001 * noise, x, eps)

    def kl(z: torch.Tensor) -> torch.Tensor:
        return F.kl_div(F.log_softmax(z, dim=1), p_clean, reduction="sum")

    for _ in range(int(steps)):
        grad = _input_grad(model, x_adv, kl, autocast)
        x_adv = _project(x_adv + alpha * grad.sign(), x, eps).detach()
    return x_adv


def trades_loss(logits_clean: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor,
                beta: float) -> torch.Tensor:
    """CE(f(x), y) + beta * KL(softmax f(x) || softmax f(x')), KL averaged over the batch."""
    ce = F.cross_entropy(logits_clean, y)
    kl = F.kl_div(F.log_softmax(logits_adv, dim=1), F.softmax(logits_clean, dim=1),
                  reduction="batchmean")
    return ce + beta * kl
