"""FGSM: the fast gradient sign method (Goodfellow et al., ICLR 2015)."""

from __future__ import annotations

import torch

from medadv_desktop.engine.attacks._common import (AMP_PARAM, bview, check_input, gradient_objective, l2_norm,
                                                   report)
from medadv_desktop.engine.attacks.base import Attack, AttackOutput, register
from medadv_desktop.engine.jobs import ProgressCallback


@register
class FGSM(Attack):
    """Fast gradient sign method: one gradient step of full size eps.

    Distance measure: L-inf (default) or L2, in [0, 1] image units.

    Update (g = gradient of the loss with respect to the input)::

        L-inf:  x' = clip_[0,1](x + eps * sign(g))
        L2:     x' = clip_[0,1](x + eps * g / ||g||_2)

    Loss: ``CE(f(x), y)`` untargeted; targeted ``-CE(f(x), t)`` (a step
    *down* the cross-entropy towards the target t). Cost: one forward and
    one backward pass, plus one forward to score x'. With ``early_stop`` a
    sample the model already gets wrong on the clean image (or that already
    hits its target) is left unchanged. With ``early_stop`` off the result is
    identical to ``torchattacks.FGSM``.
    """

    name = "fgsm"
    label = "FGSM"
    description = "Fast gradient sign method: one full-size step along the sign of the gradient (white box)."
    params = (AMP_PARAM,)

    def _run(self, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
             progress: ProgressCallback) -> AttackOutput:
        check_input(x)
        n = x.shape[0]
        report(progress, self.label, 0, 1, n, n)
        xg = x.clone().requires_grad_(True)
        with torch.enable_grad():
            logits = self._logits(xg)
            loss = gradient_objective(logits, y, targets).sum()
            grad, = torch.autograd.grad(loss, xg)
        if self.norm == "linf":
            adv = x + self.eps * grad.sign()
        else:
            adv = x + self.eps * grad / (bview(l2_norm(grad), grad) + 1e-10)
        adv = torch.clamp(adv, 0, 1).detach()
        if self.early_stop:
            already = self._is_success(logits.detach(), y, targets)
            adv = torch.where(bview(already, adv), x, adv)
        progress.check()
        with torch.no_grad():
            adv_logits = self._logits(adv)
        if self.early_stop and bool(already.any()):
            adv_logits = torch.where(already[:, None], logits.detach(), adv_logits)
        success = self._is_success(adv_logits, y, targets)
        queries = torch.full((n,), 2, dtype=torch.long, device=x.device)
        report(progress, self.label, 1, 1, ~success, n)
        return AttackOutput(adv=adv, adv_logits=adv_logits, success=success, queries=queries)
