"""APGD-CE: auto-PGD with the cross-entropy loss (Croce & Hein, ICML 2020).

This module also holds the APGD algorithm itself (:func:`run_apgd`), which
APGD-DLR (:mod:`.apgd_dlr`) and APGD-T (:mod:`.apgd_targeted`) run with
other losses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from medadv_desktop.engine.attacks._common import AMP_PARAM, SampleRNG, bview, check_input, gradient_objective, report
from medadv_desktop.engine.attacks.base import Attack, AttackOutput, ParamSpec, register
from medadv_desktop.engine.jobs import ProgressCallback

#: momentum of the APGD update (the reference's alpha = 0.75, fixed in the paper)
MOMENTUM = 0.75

APGD_STEPS_PARAM = ParamSpec("steps", "int", 100, 1, 10000, "steps",
                             "Iterations per run (one forward + backward each); AutoAttack uses 100.")
RESTARTS_PARAM = ParamSpec(
    "restarts", "int", 1, 1, 100, "runs",
    "Runs from new random starts on the samples still robust; the best result per sample is kept.")
RHO_PARAM = ParamSpec("rho", "float", 0.75, 0.0, 1.0, "fraction",
                      "Step-size halving threshold: halve when at most rho of the steps since the last checkpoint "
                      "raised the loss (paper and reference: 0.75).")

#: (logits, positions of the samples in the run) -> per-sample value
SampleFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class APGDResult:
    """Per sample of one :func:`run_apgd` call."""

    adv: torch.Tensor        # fooling iterate if fooled (first with early stop, else last), else the best-loss point
    logits: torch.Tensor     # logits of ``adv``
    success: torch.Tensor    # fooled at some iterate
    loss: torch.Tensor       # best loss reached (the loss at ``adv`` for unfooled samples)
    queries: torch.Tensor    # forward passes (each with one backward)


def _sq_norm(t: torch.Tensor) -> torch.Tensor:
    """Per-sample L2 norm, kept as (N, 1, ...) (the reference's sqrt of a sum of squares)."""
    return (t ** 2).sum(dim=tuple(range(1, t.dim())), keepdim=True).sqrt()


def apgd_checkpoints(steps: int) -> list[int]:
    """Iterations (0-based, after which) APGD checks its step size: the
    reference's integer form of p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06),
    i.e. window lengths ``max(int(0.22 N), 1)`` shrinking by ``max(int(0.03 N), 1)``
    down to ``max(int(0.06 N), 1)``."""
    k, k_min, k_dec = max(int(0.22 * steps), 1), max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)
    out, at = [], k - 1
    while at < steps:
        out.append(at)
        k = max(k - k_dec, k_min)
        at += k
    return out


def random_start(x: torch.Tensor, eps: float, norm: str, rng: SampleRNG) -> torch.Tensor:
    """APGD's starting point (as in the reference): x + eps * t / ||t||, t uniform
    in [-1, 1] per element with the L-inf norm (a point on the L-inf sphere), t
    standard normal with L2 (a point on the L2 sphere); clipped to [0, 1]."""
    if norm == "linf":
        t = 2 * rng.rand(tuple(x.shape[1:]), x.dtype) - 1
        tmax = t.flatten(1).abs().max(dim=1).values
        return (x + eps * t / bview(tmax, t)).clamp(0.0, 1.0)
    t = rng.randn(tuple(x.shape[1:]), x.dtype)
    return (x + eps * t / (_sq_norm(t) + 1e-12)).clamp(0.0, 1.0)


def _frozen(grad: torch.Tensor, grad_best: torch.Tensor, x_adv: torch.Tensor, x_old: torch.Tensor,
            x_best: torch.Tensor) -> torch.Tensor:
    """Samples whose later L-inf iterates cannot change: an exactly zero input gradient here and at the best
    point, no momentum (the iterate did not move) and the iterate is the best point. Their next step would return
    the same point with the same loss and gradient, and a checkpoint restart would return to it too, so
    stopping them changes no result, only saves passes (a gradient-masked model: a quantiser, an argmax)."""
    flat = grad.flatten(1).abs().amax(dim=1) == 0
    flat &= grad_best.flatten(1).abs().amax(dim=1) == 0
    still = (x_adv == x_old).flatten(1).all(dim=1) & (x_adv == x_best).flatten(1).all(dim=1)
    return flat & still


def run_apgd(attack: Attack, x: torch.Tensor, objective: SampleFn, fooled: SampleFn, rng: SampleRNG,
             progress: ProgressCallback, *, steps: int, rho: float, done: int, total: int,
             start: Callable[[torch.Tensor, SampleRNG], torch.Tensor] | None = None,
             label: str | None = None) -> APGDResult:
    """One APGD run on the batch ``x`` (all samples; the caller picks them).

    ``objective(logits, pos)`` is the per-sample loss ascended and
    ``fooled(logits, pos)`` the success test, ``pos`` the positions in ``x`` of
    the rows of ``logits``. ``done``/``total``: progress steps before this
    run / in the whole attack; ``label`` names the attack in progress
    messages. See :class:`APGDCE` for the algorithm.
    """
    eps, norm = attack.eps, attack.norm
    m = x.shape[0]
    dev = x.device
    every = torch.arange(m, device=dev)
    x_adv = (start or (lambda xs, r: random_start(xs, eps, norm, r)))(x, rng).detach()

    def forward(xa: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        xa = xa.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = attack._logits(xa)
            loss = objective(logits, pos)
            grad, = torch.autograd.grad(loss.sum(), xa)
        return logits.detach(), loss.detach(), grad.detach()

    logits, loss, grad = forward(x_adv, every)
    queries = torch.ones(m, dtype=torch.long, device=dev)
    success = fooled(logits, every)
    out_adv = x_adv.clone()
    out_logits = logits.clone()
    moving = ~success if attack.early_stop else torch.ones(m, dtype=torch.bool, device=dev)

    x_best, grad_best, loss_best, logits_best = x_adv.clone(), grad.clone(), loss.clone(), logits.clone()
    x_old = x_adv.clone()
    step = torch.full((m,), 2.0 * eps, device=dev, dtype=x.dtype)
    # the oscillation count compares each iterate's loss with the previous iterate's; as in the
    # reference implementation, the first iterate is compared with 0 (its loss history starts at zeros)
    loss_prev = torch.zeros(m, device=dev, dtype=loss.dtype)
    n_up = torch.zeros(m, dtype=torch.long, device=dev)
    reduced_last = torch.ones(m, dtype=torch.bool, device=dev)
    loss_best_last = loss_best.clone()
    freeze = norm == "linf"          # L2's normalised step and projection move a point by float rounding
    if freeze:
        moving &= ~_frozen(grad, grad_best, x_adv, x_old, x_best)
    window = max(int(0.22 * steps), 1)
    w_min, w_dec = max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)
    since = 0
    label = label or attack.label or attack.name
    for i in range(steps):
        report(progress, label, done + i, total, ~success, m)
        if not bool(moving.any()):
            break
        idx = None if bool(moving.all()) else moving.nonzero().flatten()
        pos = every if idx is None else idx
        xs, xa, xo, g, st = (t if idx is None else t[idx] for t in (x, x_adv, x_old, grad, step))
        st = bview(st, xs)
        a = MOMENTUM if i > 0 else 1.0
        with torch.no_grad():
            mom = xa - xo
            if norm == "linf":
                z = xa + st * torch.sign(g)
                z = torch.clamp(torch.min(torch.max(z, xs - eps), xs + eps), 0.0, 1.0)
                z = torch.clamp(torch.min(torch.max(xa + (z - xa) * a + mom * (1 - a), xs - eps), xs + eps), 0.0, 1.0)
            else:
                z = xa + st * g / (_sq_norm(g) + 1e-12)
                d = z - xs
                nd = _sq_norm(d)
                z = torch.clamp(xs + d / (nd + 1e-12) * torch.clamp(nd, max=eps), 0.0, 1.0)
                z = xa + (z - xa) * a + mom * (1 - a)
                d = z - xs
                nd = _sq_norm(d)
                z = torch.clamp(xs + d / (nd + 1e-12) * torch.clamp(nd + 1e-12, max=eps), 0.0, 1.0)
        lg, ls, gr = forward(z, pos)
        queries[pos] += 1
        x_old[pos] = xa
        x_adv[pos] = z
        grad[pos] = gr
        n_up[pos] += (ls > loss_prev[pos]).long()
        loss_prev[pos] = ls
        better = ls > loss_best[pos]
        if bool(better.any()):
            b = pos[better]
            x_best[b], grad_best[b], loss_best[b], logits_best[b] = z[better], gr[better], ls[better], lg[better]
        hit = fooled(lg, pos)
        if bool(hit.any()):
            h = pos[hit]
            out_adv[h], out_logits[h] = z[hit], lg[hit]
            success[h] = True
            if attack.early_stop:
                moving[h] = False
        if freeze:
            moving[pos] &= ~_frozen(gr, grad_best[pos], z, xa, x_best[pos])
        since += 1
        if since == window:
            # condition 1: at most rho of the window's steps raised the loss;
            # condition 2: the step size was not halved at the last checkpoint and the best loss did not improve
            halve = (n_up.double() <= window * rho) | (~reduced_last & (loss_best_last >= loss_best))
            reduced_last = halve
            loss_best_last = loss_best.clone()
            if bool(halve.any()):
                step = torch.where(halve, step / 2.0, step)
                x_adv[halve] = x_best[halve]
                grad[halve] = grad_best[halve]
            n_up.zero_()
            since = 0
            window = max(window - w_dec, w_min)
    report(progress, label, done + steps, total, ~success, m)
    keep = ~success
    out_adv[keep] = x_best[keep]
    out_logits[keep] = logits_best[keep]
    return APGDResult(adv=out_adv, logits=out_logits, success=success, loss=loss_best, queries=queries)


def _on_subset(fn: SampleFn, todo: torch.Tensor) -> SampleFn:
    """``fn`` for a run on the samples ``todo``: positions in the run map to positions in the batch."""
    def on_subset(logits: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        return fn(logits, todo[pos])
    return on_subset


def run_apgd_restarts(attack: Attack, x: torch.Tensor, objective: SampleFn, fooled: SampleFn, rng: SampleRNG,
                      progress: ProgressCallback, *, steps: int, rho: float, restarts: int,
                      done: int = 0, total: int | None = None,
                      start: Callable[[torch.Tensor, SampleRNG], torch.Tensor] | None = None,
                      label: str | None = None) -> APGDResult:
    """``restarts`` APGD runs, each on the samples not yet fooled (new random
    starts from their own streams); per sample a fooling result, else the
    run with the highest loss, is kept."""
    n = x.shape[0]
    total = steps * restarts if total is None else total
    best: APGDResult | None = None
    for r in range(restarts):
        todo = torch.arange(n, device=x.device) if best is None else (~best.success).nonzero().flatten()
        if todo.numel() == 0:
            break
        full = todo.numel() == n
        res = run_apgd(attack, x if full else x[todo],
                       objective if full else _on_subset(objective, todo),
                       fooled if full else _on_subset(fooled, todo),
                       rng if full else rng.select(todo), progress, steps=steps, rho=rho,
                       done=done + r * steps, total=total, start=start, label=label)
        if best is None:
            best = res
            continue
        take = res.success | (res.loss > best.loss[todo])
        sel = todo[take]
        best.adv[sel], best.logits[sel] = res.adv[take], res.logits[take]
        best.success[sel], best.loss[sel] = res.success[take], res.loss[take]
        best.queries[todo] += res.queries
    assert best is not None
    return best


def class_count(attack: Attack, x: torch.Tensor) -> int:
    """Number of classes of the model (one forward on one sample, not counted as a query)."""
    with torch.no_grad():
        return int(attack._logits(x[:1]).shape[1])


@register
class APGDCE(Attack):
    """APGD-CE: auto-PGD on the cross-entropy loss (Croce & Hein, ICML 2020; AutoAttack's first attack).

    Distance measure: L-inf (default) or L2, in [0, 1] image units.

    Loss ascended: ``CE(f(x'), y)`` untargeted; ``-CE(f(x'), t)`` targeted.
    Start: x'_0 = clip_[0,1](x + eps * u / ||u||) with u uniform in [-1, 1]^d
    (L-inf norm) or standard normal (L2 norm), drawn from the sample's own
    random stream (the same start whatever batch the sample is in).
    Update, for k = 0 .. N-1, with g the gradient at x'_k, eta_k the
    per-sample step size (eta_0 = 2 eps) and a = 1 at k = 0, 0.75 after::

        z       = P(x'_k + eta_k * sign(g))                 (L2: eta_k * g / ||g||_2)
        x'_k+1  = P(x'_k + a (z - x'_k) + (1 - a)(x'_k - x'_k-1))

    P = projection onto the eps-ball around x, then clipping to [0, 1].
    Checkpoints after iterations w_1 = 0.22 N, then windows shrinking by
    0.03 N down to 0.06 N (the paper's p_j). At each checkpoint the step size
    of a sample is halved, and the sample restarts from its best point (the
    iterate with the highest loss so far, with its gradient), if

      1. at most rho (0.75) of the window's steps raised the loss, or
      2. its step size was not halved at the previous checkpoint and its best
         loss did not improve since then.

    As in the reference implementation (fra31/auto-attack, ported by
    torchattacks), condition 2 is first checked at the second checkpoint and
    the first iterate's loss is compared with 0 in condition 1. A sample is
    fooled if any iterate (the start included) fools the model; with
    ``early_stop`` it is frozen at that iterate, without it it keeps going and
    its last fooling iterate is returned (as the reference does). For samples
    never fooled the best-loss point is returned.

    Defaults (AutoAttack's): 100 iterations, 1 run, rho 0.75, momentum 0.75.
    ``restarts`` > 1 reruns the still-robust samples from new random starts.
    Cost: one forward + backward per iteration and sample still attacked,
    plus one for the start; with L-inf a sample whose iterate cannot change
    any more (exactly zero gradient, no momentum, at its best point: a
    gradient-masked model, dead ReLUs) stops there, with the same result. With matched settings (``fold_bn`` off) the
    result equals ``torchattacks.APGD`` from the same starting point.
    """

    name = "apgd-ce"
    label = "APGD-CE"
    description = ("Auto-PGD with the cross-entropy loss: step size halved on stalling, momentum, best-point "
                   "restarts (Croce & Hein 2020; AutoAttack's first attack; white box).")
    params: ClassVar[tuple[ParamSpec, ...]] = (APGD_STEPS_PARAM, RESTARTS_PARAM, RHO_PARAM, AMP_PARAM)
    fast_settings: ClassVar[tuple[dict[str, Any], ...]] = ({"steps": 5}, {"steps": 3, "restarts": 2})

    #: the loss as recorded in ``AttackOutput.extra["loss"]``
    loss_name = "ce"

    def _start(self, x: torch.Tensor, rng: SampleRNG) -> torch.Tensor:
        """The starting point of one run (a seam for tests that replay a peer's start)."""
        return random_start(x, self.eps, self.norm, rng)

    def _losses(self, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None) -> tuple[SampleFn, str]:
        """(objective, description of the loss actually used)."""
        def objective(logits: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
            return gradient_objective(logits, y[pos], None if targets is None else targets[pos])
        return objective, "ce" if targets is None else "ce-targeted"

    def _run(self, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
             progress: ProgressCallback) -> AttackOutput:
        check_input(x)
        steps, restarts, rho = int(self.config["steps"]), int(self.config["restarts"]), float(self.config["rho"])
        objective, loss_used = self._losses(x, y, targets)

        def fooled(logits: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
            return self._is_success(logits, y[pos], None if targets is None else targets[pos])

        rng = SampleRNG.for_samples(x, self.seed, self.name)
        res = run_apgd_restarts(self, x, objective, fooled, rng, progress, steps=steps, rho=rho,
                                restarts=restarts, start=self._start, label=progress_label(self.label, loss_used))
        return AttackOutput(adv=res.adv, adv_logits=res.logits, success=res.success, queries=res.queries,
                            extra={"steps": steps, "restarts": restarts, "rho": rho, "loss": loss_used,
                                   "checkpoints": apgd_checkpoints(steps)})


def progress_label(label: str, loss_used: str) -> str:
    """The attack's name in progress messages; a loss fallback (see :func:`fallback_note`) is named there too."""
    if FALLBACK_MARK not in loss_used:
        return label
    return f"{label} [{loss_used.split(' loss')[0]} loss: too few classes for DLR]"


FALLBACK_MARK = "the DLR loss needs at least"


def fallback_note(loss: str, formula: str, needed: int, k: int) -> str:
    """What ``AttackOutput.extra["loss"]`` says when a DLR loss cannot be used."""
    return (f"{loss} loss {formula} ({FALLBACK_MARK} {needed} classes and this model has {k}: "
            "its numerator, the margin, was ascended without the normaliser)")


__all__ = ["APGDCE", "APGDResult", "FALLBACK_MARK", "MOMENTUM", "apgd_checkpoints", "class_count", "fallback_note",
           "progress_label", "random_start", "run_apgd", "run_apgd_restarts"]
