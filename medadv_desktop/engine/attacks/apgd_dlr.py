"""APGD-DLR: auto-PGD with the difference-of-logits-ratio loss (Croce & Hein, ICML 2020)."""

from __future__ import annotations

import torch

from medadv_desktop.engine.attacks._common import dlr_loss, dlr_targeted_loss, margin
from medadv_desktop.engine.attacks.apgd import (
    AMP_PARAM,
    APGD_STEPS_PARAM,
    APGDCE,
    RESTARTS_PARAM,
    RHO_PARAM,
    SampleFn,
    class_count,
    fallback_note,
)
from medadv_desktop.engine.attacks.base import register


def strongest_other(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per sample the highest-scoring class other than its target."""
    return logits.detach().scatter(1, targets[:, None], float("-inf")).argmax(dim=1)


@register
class APGDDLR(APGDCE):
    """APGD-DLR: the APGD algorithm of APGD-CE on the DLR loss (Croce & Hein, ICML 2020).

    Distance measure: L-inf (default) or L2, in [0, 1] image units.

    Loss ascended (z the logits, z_pi1 >= z_pi2 >= ... sorted)::

        untargeted  DLR(z, y)   = -(z_y - max_{k != y} z_k) / (z_pi1 - z_pi3 + 1e-12)
        targeted    DLR_t(z, t) = -(max_{k != t} z_k - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)

    The DLR loss does not change when the logits are shifted or scaled, so it
    is not fooled by a model whose logits are merely large (saturated
    softmax, a form of gradient masking the cross-entropy suffers from).

    **Fewer classes.** The normaliser needs a third (targeted: a fourth)
    largest logit. A binary model (the common case in medical imaging) has
    none, so with fewer than 3 classes (targeted: 4) the attack ascends the
    numerator alone, the margin ``z_other - z_y`` (targeted ``z_t - max_{k != t} z_k``,
    the C&W margin loss); that is what the DLR loss reduces to up to its
    positive normaliser, and it is a full-strength loss for such a model. The
    loss actually used is recorded in ``AttackOutput.extra["loss"]`` and in
    the attack's progress messages; nothing fails.

    Algorithm, start, checkpoints, early stop and defaults (100 iterations,
    1 run, rho 0.75, momentum 0.75): as APGD-CE. With matched settings
    (``fold_bn`` off, same start, 3 or more classes) the result equals
    ``torchattacks.APGD(loss="dlr")``.
    """

    name = "apgd-dlr"
    label = "APGD-DLR"
    description = ("Auto-PGD with the scale-invariant DLR loss (Croce & Hein 2020; white box). With fewer than "
                   "3 classes (targeted: 4) it ascends the margin loss instead and says so.")
    params = (APGD_STEPS_PARAM, RESTARTS_PARAM, RHO_PARAM, AMP_PARAM)
    fast_settings = ({"steps": 5},)
    loss_name = "dlr"

    def _losses(self, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None) -> tuple[SampleFn, str]:
        k = class_count(self, x)
        if targets is None:
            if k >= 3:
                return (lambda logits, pos: dlr_loss(logits, y[pos])), "dlr"
            return (lambda logits, pos: -margin(logits, y[pos])), fallback_note("margin", "z_other - z_y", 3, k)

        def numerator_ref(logits: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
            return strongest_other(logits, targets[pos])

        if k >= 4:
            return (lambda logits, pos: dlr_targeted_loss(logits, numerator_ref(logits, pos), targets[pos])), \
                "dlr-targeted"
        return ((lambda logits, pos: margin(logits, targets[pos])),
                fallback_note("targeted margin", "z_t - max_{k != t} z_k", 4, k))
