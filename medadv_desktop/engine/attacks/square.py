"""Square attack (Andriushchenko, Croce, Flammarion, Hein; ECCV 2020)."""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from medadv_desktop.engine.attacks._common import (SampleRNG, as_planes, bview, check_input, l2_norm, p_selection,
                                                   report, search_loss, uniform_to_int)
from medadv_desktop.engine.attacks.base import Attack, AttackOutput, ParamSpec, register
from medadv_desktop.engine.jobs import ProgressCallback


@register
class Square(Attack):
    """Square attack: score-based black-box random search with square-shaped updates.

    Distance measure: L-inf (default) or L2, in [0, 1] image units. Needs only
    the model's outputs (no gradients); runs under ``torch.no_grad()``.

    Loss lowered by the search: margin ``f_y(x') - max_{k != y} f_k(x')``
    (untargeted) or ``CE(f(x'), t)`` (targeted). A candidate replaces the
    current best only if it lowers the loss (or fools the model). Every
    sample stops at its first success (whatever ``early_stop`` says: a
    random search on a fooled sample only spends queries).

    Square side ``s = round(sqrt(p * n_features / C))`` (at least 1 for L-inf,
    at least 3 and odd for L2; at most the image side), with ``p`` starting at
    ``p_init`` and halved at iterations 10, 50, 200, 500, 1000, 2000, 4000,
    6000, 8000 of 10 000, rescaled to ``n_queries``. Default ``p_init`` 0.8
    (AutoAttack's, torchattacks' and ART's choice). The paper's 0.05 was tuned
    for 10 000 queries on ImageNet; with the schedule rescaled to a few
    hundred queries it shrinks the squares to a few pixels within a dozen
    steps, and it left robust accuracy 25 points above the peer's default on
    a gradient-masked model (issue 17; ``benchmarks/attack_speed.py`` prints both).

    L-inf (as in the reference max-andr/square-attack):
      init  x'_0 = clip(x + eps * v), v = vertical stripes, +-1 per (channel, column);
      step  one random s x s window per sample gets a new value +-eps per
            channel (redrawn, up to 10 times, while it would not change x':
            the reference does this, torchattacks does not and wastes such
            queries, which makes it weaker on 1-channel images).
    L2:
      init  a grid of pseudo-Gaussian blocks with random signs, rescaled to ||delta||_2 = eps;
      step  the mass of a random window W2 is moved into a random window W1
            (new pseudo-Gaussian block + the old content of W1, per channel
            rescaled so that the total norm stays eps), then
            x' = clip(x + eps * delta / ||delta||_2).

    Window positions, signs and pattern orientations are drawn per sample
    from the sample's own random stream (seeded from ``seed`` and the
    sample's pixels), so a sample's search does not depend on the batch it is
    in (torchattacks draws one window for the whole batch). Queries are
    counted per sample; the initial evaluation counts as one, so a sample
    uses at most ``n_queries`` forward passes (torchattacks' ``n_queries=q - 1``
    spends the same).

    Volumes (N, C, D, H, W) are treated as N images with C*D channels: every
    slice gets its own stripes, and a square covers the same (row, column)
    window in every slice with an independent sign per slice.
    """

    name = "square"
    label = "Square"
    black_box = True
    description = "Square attack: query-efficient black-box random search with square updates (needs model outputs only)."
    params = (
        ParamSpec("n_queries", "int", 1000, 1, 100000, "queries", "Query budget per sample (forward passes, the first evaluation included)."),
        ParamSpec("p_init", "float", 0.8, 0.0001, 1.0, "fraction",
                  "Initial fraction of pixels changed per step, halved on the paper's schedule rescaled to the "
                  "budget (default 0.8 as AutoAttack, torchattacks and ART; the paper's 0.05 suits 10 000 queries)."),
    )
    fast_settings = ({"n_queries": 30, "p_init": 0.3},)

    def _run(self, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
             progress: ProgressCallback) -> AttackOutput:
        check_input(x)
        shape = x.shape
        xv = as_planes(x)
        n, c, h, w = xv.shape
        dev = x.device
        rng = SampleRNG.for_samples(x, self.seed, self.name)     # per-sample streams (see SampleRNG)
        budget = int(self.config["n_queries"])
        p_init = float(self.config["p_init"])
        eps = self.eps

        def f(z: torch.Tensor) -> torch.Tensor:
            return self._logits(z.reshape((z.shape[0],) + tuple(shape[1:])))

        with torch.no_grad():
            if self.norm == "linf":
                x_best = (xv + eps * rng.signs((c, 1, w), x.dtype)).clamp(0, 1)
            else:
                x_best = (xv + _l2_init(xv, eps, rng)).clamp(0, 1)
            logits = f(x_best)
            loss_min = search_loss(logits, y, targets)
            success = self._is_success(logits, y, targets)
            best_logits = logits.clone()
            queries = torch.ones(n, dtype=torch.long, device=dev)
            for it in range(budget - 1):
                report(progress, self.label, it + 1, budget, ~success, n)
                active = (~success).nonzero().flatten()
                if active.numel() == 0:
                    break
                xa, xb = xv[active], x_best[active]
                ya = y[active]
                ta = None if targets is None else targets[active]
                p = p_selection(p_init, it, budget)
                ra = rng.select(active)
                if self.norm == "linf":
                    x_new = _linf_candidate(xa, xb, eps, p, ra)
                else:
                    x_new = _l2_candidate(xa, xb, eps, p, ra)
                logits_new = f(x_new)
                loss = search_loss(logits_new, ya, ta)
                fooled = self._is_success(logits_new, ya, ta)
                improved = (loss < loss_min[active]) | fooled
                loss_min[active] = torch.where(improved, loss, loss_min[active])
                x_best[active] = torch.where(bview(improved, xb), x_new, xb)
                best_logits[active] = torch.where(improved[:, None], logits_new, best_logits[active])
                success[active] = fooled
                queries[active] += 1
        report(progress, self.label, budget, budget, ~success, n)
        return AttackOutput(adv=x_best.reshape(shape), adv_logits=best_logits, success=success, queries=queries,
                            extra={"n_queries": budget, "p_init": p_init})


def _window_mask(vh: torch.Tensor, vw: torch.Tensor, s: int, h: int, w: int) -> torch.Tensor:
    """(m, 1, h, w) bool mask of the s x s window at (vh, vw) per sample."""
    rows = torch.arange(h, device=vh.device)
    cols = torch.arange(w, device=vh.device)
    mh = (rows[None] >= vh[:, None]) & (rows[None] < vh[:, None] + s)
    mw = (cols[None] >= vw[:, None]) & (cols[None] < vw[:, None] + s)
    return (mh[:, :, None] & mw[:, None, :])[:, None]


#: sign draws per L-inf step: the first that changes the image is used (the reference redraws until one does)
SIGN_DRAWS = 10


def _linf_candidate(xa: torch.Tensor, xb: torch.Tensor, eps: float, p: float, rng: SampleRNG) -> torch.Tensor:
    m, c, h, w = xa.shape
    s = max(int(round(math.sqrt(p * h * w))), 1)
    s = min(s, h, w)
    u = rng.rand((2 + SIGN_DRAWS * c,))          # a fixed count per sample and step: batch-independent streams
    mask = _window_mask(uniform_to_int(u[:, 0], h - s + 1), uniform_to_int(u[:, 1], w - s + 1), s, h, w)
    signs = torch.where(u[:, 2:] < 0.5, -eps, eps).to(xa.dtype).view(m, SIGN_DRAWS, c, 1, 1)
    delta = xb - xa
    cand = (xa + torch.where(mask, signs[:, 0], delta)).clamp(0, 1)
    for r in range(1, SIGN_DRAWS):  # redraw windows that would not change the image (e.g. same signs)
        same = (((cand - xb).abs() < 1e-7) | ~mask).flatten(1).all(dim=1)
        if not bool(same.any()):
            break
        idx = same.nonzero().flatten()
        cand[idx] = (xa[idx] + torch.where(mask[idx], signs[idx, r], delta[idx])).clamp(0, 1)
    return cand


@lru_cache(maxsize=64)
def _eta_cpu(s: int) -> torch.Tensor:
    """The reference's pseudo-Gaussian s x s block: two rectangles of nested
    squares with weights 1/(k+1)^2, opposite signs, unit L2 norm."""
    def rect(a: int, b: int) -> torch.Tensor:
        d = torch.zeros(a, b, dtype=torch.float64)
        xc, yc = a // 2 + 1, b // 2 + 1
        c0, c1 = xc - 1, yc - 1
        for k in range(max(xc, yc)):
            d[max(c0, 0):min(c0 + 2 * k + 1, a), max(0, c1):min(c1 + 2 * k + 1, b)] += 1.0 / (k + 1) ** 2
            c0 -= 1
            c1 -= 1
        norm = d.pow(2).sum().sqrt()
        return d / norm if norm > 0 else d

    e = torch.zeros(s, s, dtype=torch.float64)
    e[: s // 2] = rect(s // 2, s)
    e[s // 2:] = -rect(s - s // 2, s)
    return (e / e.pow(2).sum().sqrt()).float()


def _eta(s: int, like: torch.Tensor) -> torch.Tensor:
    return _eta_cpu(s).to(device=like.device, dtype=like.dtype)


def _l2_init(xv: torch.Tensor, eps: float, rng: SampleRNG) -> torch.Tensor:
    n, c, h, w = xv.shape
    s = max(min(h, w) // 5, 1)
    start = (min(h, w) - 5 * s) // 2
    delta = torch.zeros_like(xv)
    block = _eta(s, xv).view(1, 1, s, s)
    rows = range(start, h - s + 1, s)
    cols = range(start, w - s + 1, s)
    signs = rng.signs((len(rows), len(cols), c), xv.dtype)        # one sign per block and channel
    for i, vh in enumerate(rows):
        for j, vw in enumerate(cols):
            delta[:, :, vh:vh + s, vw:vw + s] += block * signs[:, i, j, :, None, None]
    return delta / (bview(l2_norm(delta), delta) + 1e-12) * eps


def _l2_candidate(xa: torch.Tensor, xb: torch.Tensor, eps: float, p: float, rng: SampleRNG) -> torch.Tensor:
    m, c, h, w = xa.shape
    dev = xa.device
    s = max(int(round(math.sqrt(p * h * w))), 3)
    if s % 2 == 0:
        s += 1
    s = min(s, h, w)
    delta = xb - xa
    u = rng.rand((5 + c,))          # window 1, window 2, pattern orientation, signs per channel
    vh, vw = uniform_to_int(u[:, 0], h - s + 1), uniform_to_int(u[:, 1], w - s + 1)
    vh2, vw2 = uniform_to_int(u[:, 2], h - s + 1), uniform_to_int(u[:, 3], w - s + 1)
    mask1 = _window_mask(vh, vw, s, h, w).to(xa.dtype)
    mask2 = _window_mask(vh2, vw2, s, h, w).to(xa.dtype)
    norms_window_1 = (delta * mask1).pow(2).sum(dim=(2, 3), keepdim=True).sqrt()           # (m, c, 1, 1)
    norms_image = bview(l2_norm(delta), delta)                                              # (m, 1, 1, 1)
    norms_windows = (delta * torch.maximum(mask1, mask2)).pow(2).sum(dim=(2, 3), keepdim=True).sqrt()
    eta = _eta(s, xa)
    flip = (u[:, 4] > 0.5).view(m, 1, 1, 1)
    pattern = torch.where(flip, eta.t()[None, None], eta[None, None])                       # (m, 1, s, s)
    new = pattern * torch.where(u[:, 5:] < 0.5, -1.0, 1.0).to(xa.dtype).view(m, c, 1, 1)
    rows = vh[:, None] + torch.arange(s, device=dev)                                        # (m, s)
    cols = vw[:, None] + torch.arange(s, device=dev)
    ar = torch.arange(m, device=dev)[:, None, None]
    old = delta.permute(0, 2, 3, 1)[ar, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)  # (m, c, s, s)
    new = new + old / (1e-10 + norms_window_1)
    room = (torch.clamp(eps ** 2 - norms_image ** 2, min=0) / c + norms_windows ** 2).sqrt()
    new = new / (new.pow(2).sum(dim=(2, 3), keepdim=True).sqrt() + 1e-12) * room
    delta = delta * (1 - mask2)
    delta.permute(0, 2, 3, 1)[ar, rows[:, :, None], cols[:, None, :]] = new.permute(0, 2, 3, 1)
    return (xa + delta / (bview(l2_norm(delta), delta) + 1e-12) * eps).clamp(0, 1)
