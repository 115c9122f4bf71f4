"""PGD / BIM: projected gradient descent (Madry et al. 2018; Kurakin et al. 2017)."""

from __future__ import annotations

import torch

from medadv_desktop.engine.attacks._common import (ALPHA_PARAM, AMP_PARAM, STEPS_PARAM, auto_alpha, check_input,
                                                   image_space, run_gradient_attack)
from medadv_desktop.engine.attacks.base import (Attack, AttackOutput, ParamSpec,
                                                register)
from medadv_desktop.engine.jobs import ProgressCallback


@register
class PGD(Attack):
    """Projected gradient descent (PGD); without random start it is BIM.

    Distance measure: L-inf (default) or L2, in [0, 1] image units.

    Start: x'_0 = x, or with ``random_start`` x'_0 = clip_[0,1](x + u), u
    uniform in the eps-ball (L-inf: U(-eps, eps) per pixel; L2: uniform in
    the L2 ball), drawn from the sample's own random stream (seeded from
    ``seed`` and the sample's pixels): a sample gets the same start, and so
    the same result, whatever batch it is attacked in. Update, for ``steps`` iterations (g = gradient of the loss
    at x'_k)::

        L-inf:  x'_{k+1} = clip_[0,1](x + clamp(x'_k + alpha * sign(g) - x, -eps, eps))
        L2:     x'_{k+1} = clip_[0,1](x + Proj_eps(x'_k + alpha * g / ||g||_2 - x))

    where Proj_eps scales delta by min(1, eps / ||delta||_2). Loss:
    ``CE(f(x'), y)`` untargeted, ``-CE(f(x'), t)`` targeted. Defaults: 10
    steps, alpha = 2.5 * eps / steps (Madry's rule; set ``alpha`` to override),
    random start on, one restart. ``restarts`` > 1 (with random start) reruns
    the still-robust samples and keeps, per sample, a fooling result if any,
    else the one with the highest loss. With ``early_stop`` a sample is
    frozen at its first fooling iterate. With ``early_stop`` and
    ``random_start`` off the result equals ``torchattacks.PGD(random_start=False)``
    (and ``torchattacks.PGDL2`` for L2) bit for bit.

    Cost per step: one forward + one backward on the samples not yet fooled;
    one extra forward scores the final iterate.
    """

    name = "pgd"
    label = "PGD"
    description = "Projected gradient descent: iterated gradient steps projected onto the eps-ball (white box; BIM without random start)."
    params = (
        ALPHA_PARAM,
        STEPS_PARAM,
        ParamSpec("random_start", "bool", True, help="Start from a uniformly random point in the eps-ball (off: BIM)."),
        ParamSpec("restarts", "int", 1, 1, 100, "runs", "Random restarts; the best result per sample is kept (needs random start)."),
        AMP_PARAM,
    )
    fast_settings = ({"steps": 4}, {"steps": 3, "restarts": 2})

    def _run(self, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
             progress: ProgressCallback) -> AttackOutput:
        check_input(x)
        steps = int(self.config["steps"])
        alpha = auto_alpha(self.config["alpha"], self.eps, steps)
        out = run_gradient_attack(self, x, y, targets, progress, space=image_space(self.eps, self.norm, alpha),
                                  steps=steps, random_start=bool(self.config["random_start"]),
                                  restarts=int(self.config["restarts"]))
        out.extra["alpha"] = alpha
        return out
