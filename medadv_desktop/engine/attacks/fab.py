"""FAB-T: the targeted fast adaptive boundary attack (Croce & Hein, ICML 2020; AutoAttack's third attack)."""

from __future__ import annotations

import torch

from medadv_desktop.engine.attacks._common import AMP_PARAM, SampleRNG, bview, check_input, l2_norm, report
from medadv_desktop.engine.attacks.base import Attack, AttackOutput, ParamSpec, register
from medadv_desktop.engine.jobs import ProgressCallback

#: a step that cannot reach the linearised boundary inside [0, 1] moves to the box's corner
_FAR = float("inf")


def sample_norm(d: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-sample L-inf or L2 norm of ``d`` (N, ...) -> (N,)."""
    return d.flatten(1).abs().amax(dim=1) if norm == "linf" else l2_norm(d)


def boundary_step(p: torch.Tensor, w: torch.Tensor, c: torch.Tensor, norm: str) -> torch.Tensor:
    """The smallest step ``d`` (L-inf or L2 norm) from the points ``p`` (N, D) in [0, 1] with ``w . d = c``
    and ``p + d`` in [0, 1] (the projection onto a hyperplane inside the box; exact, per sample).

    Moving towards the plane, coordinate i can travel ``room_i`` (to 1 where it raises ``w . d`` towards
    ``c``, to 0 where it lowers it). For a step size r (L-inf: the norm; L2: the Lagrange multiplier,
    ``d_i = min(r |w_i|, room_i)``) the reachable change is piecewise linear and increasing in r:
    ``g(r) = sum_i |w_i| min(r s_i, room_i)`` (L-inf s_i = 1, L2 s_i = |w_i|). With the breakpoints
    ``room_i / s_i`` sorted, the first breakpoint where ``g >= |c|`` gives r in closed form. Where even the
    whole box cannot reach the plane, the step goes to the box's corner in the plane's direction
    (as the reference implementation does).
    """
    direction = torch.where(c >= 0, 1.0, -1.0).to(p.dtype)
    ws = w * direction[:, None]                       # now ws . d = |c| >= 0 is wanted
    a = ws.abs()
    room = torch.where(ws > 0, 1.0 - p, p).clamp_min(0.0)
    need = c.abs()
    if norm == "linf":
        bp, slope = room, a
    else:
        bp = torch.where(a > 0, room / a.clamp_min(1e-30), torch.full_like(a, 1e30))
        slope = a * a
    sat = a * room                                    # w . d contributed by a saturated coordinate
    order = bp.argsort(dim=1)
    bp_s, slope_s, sat_s = bp.gather(1, order), slope.gather(1, order), sat.gather(1, order)
    sat_before = sat_s.cumsum(dim=1) - sat_s          # coordinates with smaller breakpoints: saturated
    slope_from = slope_s.flip(1).cumsum(dim=1).flip(1)  # coordinates from this breakpoint on: still free
    reached = sat_before + bp_s * slope_from >= need[:, None]
    feasible = reached.any(dim=1)
    j = reached.to(torch.int8).argmax(dim=1, keepdim=True)
    base, free = sat_before.gather(1, j).squeeze(1), slope_from.gather(1, j).squeeze(1)
    r = torch.where(free > 0, (need - base) / free.clamp_min(1e-30), torch.zeros_like(need)).clamp_min(0.0)
    r = torch.where(feasible, r, torch.full_like(r, _FAR))
    if norm == "linf":
        mag = torch.where(a > 0, torch.minimum(r[:, None].expand_as(room), room), torch.zeros_like(room))
    else:
        mag = torch.where(a > 0, torch.minimum(r[:, None] * a, room), torch.zeros_like(room))
    return mag * torch.sign(ws)


@register
class FABT(Attack):
    """FAB-T: the targeted fast adaptive boundary attack (Croce & Hein, ICML 2020), as AutoAttack runs it.

    Distance measure: L-inf (default) or L2, in [0, 1] image units. A minimum-norm attack: it walks to the
    decision boundary between the true class y and a target class t and then shrinks the perturbation; a
    sample counts as fooled when an adversarial point within ``eps`` was found.

    Each iteration, at the current point x_k (x_0 = x; a restart starts at a random point of norm
    ``0.5 * min(best norm, eps)`` around x), with ``g = f_t - f_y`` (logits) and ``w`` its input gradient:

        d1 = smallest step from x_k onto {z : g(x_k) + w . (z - x_k) = 0} inside [0, 1]
        d2 = the same step from the original x onto that plane
        alpha  = min(||d1|| / (||d1|| + ||d2||), alpha_max)
        x_k+1  = clip_[0,1]((1 - alpha)(x_k + eta d1) + alpha (x + eta d2))

    (the exact box-constrained projection of :func:`boundary_step`). When x_k+1 is adversarial it is kept if
    its norm is the smallest so far, and the walk steps back towards x: x_k+1 <- x + beta (x_k+1 - x).

    Untargeted goal (``targeted="none"``, AutoAttack's use): the targets are the ``n_target_classes`` most
    likely wrong classes of the clean image (at most K - 1; AutoAttack: 9), tried one after another on the
    samples not yet fooled within ``eps``; success = any wrong class. A binary model has one target, the
    other class. Targeted goal (``class``/``least_likely``): one target t, the plane is between t and the
    strongest other class, success = prediction t.

    Defaults (AutoAttack's FAB-T): 100 iterations, 1 run per target (no random start), 9 target classes,
    alpha_max 0.1, eta 1.05, beta 0.9. With ``early_stop`` a sample stops as soon as it has an adversarial
    point within eps (the robust accuracy is the same; without it the norm keeps shrinking, as in the
    reference). Returned: the smallest adversarial point found, projected onto the eps-ball and [0, 1], or
    for a sample never fooled within eps the last iterate projected so; ``success`` is the model's
    verdict (the model as loaded, not its BatchNorm-folded copy) on exactly the returned image (one final
    forward). Cost: one forward + backward per
    iteration and sample still attacked (plus one more after each step back), one forward at the end.
    """

    name = "fab-t"
    label = "FAB-T"
    description = ("Fast adaptive boundary attack, targeted at the most likely wrong classes (Croce & Hein 2020; "
                   "AutoAttack's FAB-T; white box, minimum norm).")
    params = (ParamSpec("steps", "int", 100, 1, 10000, "steps",
                        "Iterations per target and run (one forward + backward each); AutoAttack uses 100."),
              ParamSpec("n_target_classes", "int", 9, 1, 1000, "classes",
                        "Untargeted goal: how many of the most likely wrong classes to try as targets, one after "
                        "another (at most the number of classes - 1; AutoAttack: 9)."),
              ParamSpec("restarts", "int", 1, 1, 100, "runs",
                        "Runs per target; runs after the first start from a random point around the image."),
              ParamSpec("alpha_max", "float", 0.1, 0.0, 1.0, "fraction",
                        "Largest weight of the step from the original image (reference: 0.1)."),
              ParamSpec("eta", "float", 1.05, 1.0, 2.0, "factor", "Overshoot of each step (reference: 1.05)."),
              ParamSpec("beta", "float", 0.9, 0.0, 1.0, "fraction",
                        "Step back towards the image after an adversarial point (reference: 0.9)."),
              AMP_PARAM)
    fast_settings = ({"steps": 5, "n_target_classes": 2}, {"steps": 3, "restarts": 2, "n_target_classes": 1})

    def _run(self, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
             progress: ProgressCallback) -> AttackOutput:
        check_input(x)
        cfg = self.config
        steps, restarts = int(cfg["steps"]), int(cfg["restarts"])
        n = x.shape[0]
        with torch.no_grad():
            clean = self._logits(x)
        k = int(clean.shape[1])
        rng = SampleRNG.for_samples(x, self.seed, self.name)
        if targets is None:
            n_t = max(1, min(int(cfg["n_target_classes"]), k - 1))
            ranked = clean.scatter(1, y[:, None], float("-inf")).argsort(dim=1, descending=True)[:, :n_t]
        else:
            n_t, ranked = 1, targets[:, None]
        best = x.clone()
        best_norm = torch.full((n,), float("inf"), device=x.device, dtype=x.dtype)
        last = x.clone()
        queries = torch.ones(n, dtype=torch.long, device=x.device)
        total = n_t * restarts * steps
        for r in range(n_t):
            for run in range(restarts):
                todo = (~(best_norm <= self.eps)).nonzero().flatten()
                if todo.numel() == 0:
                    break
                label = f"{self.label}, target {r + 1}/{n_t}" if n_t > 1 else self.label
                self._walk(x, y, targets, ranked[:, r], todo, run, rng, best, best_norm, last, queries, progress,
                           label=label, done=(r * restarts + run) * steps, total=total)
        # the returned image: the smallest adversarial point found (else the last iterate), inside the budget
        out = torch.where(bview(torch.isfinite(best_norm), x), best, last)
        out = self._inside(x, out)
        with torch.no_grad():   # the verdict of the model as loaded: a minimum-norm point lies near the boundary,
            # where the BatchNorm-folded copy's float rounding could differ
            logits = self.model(out).float() if self.folded_pairs else self._logits(out)
        queries += 1
        success = self._is_success(logits, y, targets)
        report(progress, self.label, total, total, ~success, n)
        return AttackOutput(adv=out, adv_logits=logits, success=success, queries=queries,
                            extra={"steps": steps, "restarts": restarts, "target_classes": n_t,
                                   "min_norm": [float(v) for v in best_norm.tolist()]})

    def _inside(self, x: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
        d = adv - x
        if self.norm == "linf":
            d = d.clamp(-self.eps, self.eps)
        else:
            d = d * bview(torch.clamp(self.eps / (l2_norm(d) + 1e-12), max=1.0), d)
        return (x + d).clamp(0.0, 1.0)

    def _walk(self, x, y, targets, target, todo, run, rng, best, best_norm, last, queries, progress, *,
              label: str, done: int, total: int) -> None:
        """One FAB run on the samples ``todo`` (positions in the batch), updating ``best``/``best_norm``/``last``
        in place."""
        eps, norm = self.eps, self.norm
        alpha_max, eta, beta = float(self.config["alpha_max"]), float(self.config["eta"]), float(self.config["beta"])
        steps = int(self.config["steps"])
        x0, y0, t0 = x[todo], y[todo], target[todo]
        goal = None if targets is None else targets[todo]
        m = x0.shape[0]
        if run == 0:
            x1 = x0.clone()
        else:
            sub = rng.select(todo)
            radius = 0.5 * torch.clamp(best_norm[todo], max=eps)
            if norm == "linf":
                t = 2 * sub.rand(tuple(x0.shape[1:]), x0.dtype) - 1
                scale = t.flatten(1).abs().amax(dim=1)
            else:
                t = sub.randn(tuple(x0.shape[1:]), x0.dtype)
                scale = l2_norm(t)
            x1 = (x0 + bview(radius / (scale + 1e-12), t) * t).clamp(0.0, 1.0)
        active = torch.ones(m, dtype=torch.bool, device=x.device)

        def probe(pos: torch.Tensor, with_grad: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            """(logits, g = f_t - f_ref, input gradient of g) at x1[pos]."""
            xa = x1[pos].detach().requires_grad_(with_grad)
            with torch.enable_grad() if with_grad else torch.no_grad():
                logits = self._logits(xa)
                tt = t0[pos]
                if goal is None:
                    ref = y0[pos]
                else:                                   # targeted goal: the strongest class other than t
                    ref = logits.detach().scatter(1, tt[:, None], float("-inf")).argmax(dim=1)
                g = logits.gather(1, tt[:, None]).squeeze(1) - logits.gather(1, ref[:, None]).squeeze(1)
                grad = torch.autograd.grad(g.sum(), xa)[0] if with_grad else torch.zeros_like(xa)
            queries[todo[pos]] += 1
            return logits.detach(), g.detach(), grad.detach()

        def record(pos: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
            """Keep adversarial points of ``pos`` with a smaller norm; step those back; -> the mask of them."""
            adv = self._is_success(logits, y0[pos], None if goal is None else goal[pos])
            if bool(adv.any()):
                a = pos[adv]
                nrm = sample_norm(x1[a] - x0[a], norm)
                glob = todo[a]
                better = nrm < best_norm[glob]
                best[glob[better]] = x1[a[better]]
                best_norm[glob[better]] = nrm[better]
                x1[a] = x0[a] + beta * (x1[a] - x0[a])
                if self.early_stop:
                    active[a[best_norm[glob] <= eps]] = False
            return adv

        for i in range(steps + 1):
            report(progress, label, min(done + i, total), total, active, m)
            if not bool(active.any()):
                break
            pos = active.nonzero().flatten()
            final = i == steps
            logits, g, grad = probe(pos, not final)
            adv = record(pos, logits)
            if final:
                break
            redo = adv & active[pos]
            if bool(redo.any()):                        # stepped back: the plane at the new point
                lr, gr, dr = probe(pos[redo], True)
                g[redo], grad[redo] = gr, dr
            keep = active[pos]
            if not bool(keep.any()):
                break
            pos, g, grad = pos[keep], g[keep], grad[keep]
            xa, xo = x1[pos].flatten(1), x0[pos].flatten(1)
            w = grad.flatten(1)
            c1 = -g                                     # from x_k: w . d = -g(x_k)
            c0 = -g - (w * (xo - xa)).sum(dim=1)        # from x: the same plane
            d1 = boundary_step(xa, w, c1, norm)
            d2 = boundary_step(xo, w, c0, norm)
            n1 = sample_norm(d1, norm).clamp_min(1e-8)
            n2 = sample_norm(d2, norm).clamp_min(1e-8)
            alpha = (n1 / (n1 + n2)).clamp(0.0, alpha_max)[:, None]
            step = ((xa + eta * d1) * (1 - alpha) + (xo + eta * d2) * alpha).clamp(0.0, 1.0)
            x1[pos] = step.view_as(x1[pos])
        last[todo] = x1


__all__ = ["FABT", "boundary_step", "sample_norm"]
