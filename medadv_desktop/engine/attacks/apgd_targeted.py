"""APGD-T: auto-PGD on the targeted DLR loss over the most likely wrong classes (Croce & Hein, ICML 2020)."""

from __future__ import annotations

import torch

from medadv_desktop.engine.attacks._common import SampleRNG, check_input, dlr_targeted_loss, margin
from medadv_desktop.engine.attacks.apgd import (
    AMP_PARAM,
    APGD_STEPS_PARAM,
    APGDCE,
    RESTARTS_PARAM,
    RHO_PARAM,
    fallback_note,
    progress_label,
    run_apgd_restarts,
)
from medadv_desktop.engine.attacks.apgd_dlr import strongest_other
from medadv_desktop.engine.attacks.base import AttackOutput, ParamSpec, register
from medadv_desktop.engine.jobs import ProgressCallback


@register
class APGDT(APGDCE):
    """APGD-T: APGD on the targeted DLR loss, one target class after another (AutoAttack's second attack).

    Distance measure: L-inf (default) or L2, in [0, 1] image units.

    Untargeted goal (``targeted="none"``, AutoAttack's use): any wrong class.
    The classes other than y are ranked by the clean logits; for each of the
    ``n_target_classes`` highest (at most K - 1; AutoAttack: 9) APGD runs on the
    samples not yet fooled, ascending (z the logits, z_pi1 >= z_pi2 >= ... sorted)::

        DLR_t(z, y, t) = -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)

    and a sample counts as fooled when the prediction leaves y (for any
    class). Targeted goal (``class``/``least_likely``): one run series on the
    given target t with ``z_y`` replaced by the highest non-target logit,
    success = prediction t (the same as APGD-DLR targeted).

    **Fewer classes.** The normaliser needs a fourth-largest logit: with fewer
    than 4 classes the attack ascends its numerator alone, ``z_t - z_y``
    (targeted ``z_t - max_{k != t} z_k``, the C&W margin); for a binary model
    the single target is the other class, so APGD-T then equals APGD on the
    margin loss. The loss used is recorded in ``AttackOutput.extra["loss"]``
    and in the progress messages.

    Per run: the APGD algorithm of APGD-CE (checkpoints, step-size halving,
    momentum 0.75, best point). Defaults: 100 iterations, 1 run per target,
    9 target classes, rho 0.75. Cost: one forward for the clean ranking,
    then one forward + backward per iteration, run and sample still
    attacked. For samples never fooled the point with the smallest margin
    ``z_y - max_{k != y} z_k`` over all runs is returned. With matched settings
    (``fold_bn`` off, same starts, 4 or more classes) the result equals
    ``torchattacks.APGDT``.
    """

    name = "apgd-t"
    label = "APGD-T"
    description = ("Auto-PGD on the targeted DLR loss, run for each of the most likely wrong classes "
                   "(AutoAttack's APGD-T; white box). With fewer than 4 classes it ascends the margin loss "
                   "and says so.")
    params = (APGD_STEPS_PARAM, RESTARTS_PARAM,
              ParamSpec("n_target_classes", "int", 9, 1, 1000, "classes",
                        "Untargeted goal: how many of the most likely wrong classes to try as targets, one after "
                        "another (at most the number of classes - 1; AutoAttack: 9)."),
              RHO_PARAM, AMP_PARAM)
    fast_settings = ({"steps": 4, "n_target_classes": 2},)
    loss_name = "dlr-targeted"

    def _run(self, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
             progress: ProgressCallback) -> AttackOutput:
        check_input(x)
        steps, restarts, rho = int(self.config["steps"]), int(self.config["restarts"]), float(self.config["rho"])
        n = x.shape[0]
        with torch.no_grad():
            clean = self._logits(x)
        k = int(clean.shape[1])
        rng = SampleRNG.for_samples(x, self.seed, self.name)
        full_dlr = k >= 4
        if targets is not None:
            return self._targeted(x, y, targets, k, rng, progress, steps, restarts, rho)
        n_t = max(1, min(int(self.config["n_target_classes"]), k - 1))
        # the classes other than y, most likely first (clean logits)
        ranked = clean.scatter(1, y[:, None], float("-inf")).argsort(dim=1, descending=True)[:, :n_t]
        loss_used = "dlr-targeted" if full_dlr else fallback_note("margin", "z_t - z_y", 4, k)
        label = progress_label(self.label, loss_used)
        total = n_t * restarts * steps
        adv = x.clone()
        logits = clean.clone()
        success = torch.zeros(n, dtype=torch.bool, device=x.device)
        best_margin = torch.full((n,), float("inf"), device=x.device)
        queries = torch.ones(n, dtype=torch.long, device=x.device)

        for r in range(n_t):
            todo = (~success).nonzero().flatten()
            if todo.numel() == 0:
                break
            t_r = ranked[todo, r]
            y_r = y[todo]

            def objective(lg: torch.Tensor, pos: torch.Tensor, t_r=t_r, y_r=y_r) -> torch.Tensor:
                if full_dlr:
                    return dlr_targeted_loss(lg, y_r[pos], t_r[pos])
                return lg.gather(1, t_r[pos][:, None]).squeeze(1) - lg.gather(1, y_r[pos][:, None]).squeeze(1)

            def fooled(lg: torch.Tensor, pos: torch.Tensor, y_r=y_r) -> torch.Tensor:
                return lg.argmax(dim=1) != y_r[pos]     # untargeted goal: any wrong class

            res = run_apgd_restarts(self, x[todo], objective, fooled, rng.select(todo), progress, steps=steps,
                                    rho=rho, restarts=restarts, done=r * restarts * steps, total=total,
                                    start=self._start, label=f"{label}, target {r + 1}/{n_t}")
            queries[todo] += res.queries
            m_r = margin(res.logits, y_r)
            take = res.success | (m_r < best_margin[todo])
            sel = todo[take]
            adv[sel], logits[sel] = res.adv[take], res.logits[take]
            best_margin[sel] = m_r[take]
            success[sel] = res.success[take]
        return AttackOutput(adv=adv, adv_logits=logits, success=success, queries=queries,
                            extra={"steps": steps, "restarts": restarts, "rho": rho, "loss": loss_used,
                                   "target_classes": n_t})

    def _targeted(self, x, y, targets, k, rng, progress, steps, restarts, rho) -> AttackOutput:
        full_dlr = k >= 4
        loss_used = "dlr-targeted" if full_dlr else fallback_note("targeted margin", "z_t - max_{k != t} z_k", 4, k)

        def objective(lg: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
            t = targets[pos]
            if full_dlr:
                return dlr_targeted_loss(lg, strongest_other(lg, t), t)
            return margin(lg, t)

        def fooled(lg: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
            return lg.argmax(dim=1) == targets[pos]

        res = run_apgd_restarts(self, x, objective, fooled, rng, progress, steps=steps, rho=rho, restarts=restarts,
                                start=self._start, label=progress_label(self.label, loss_used))
        return AttackOutput(adv=res.adv, adv_logits=res.logits, success=res.success, queries=res.queries + 1,
                            extra={"steps": steps, "restarts": restarts, "rho": rho, "loss": loss_used,
                                   "target_classes": 1})
