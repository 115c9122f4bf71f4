"""Vertical perturbation attack: MedAdv's own definition of a column-structured perturbation."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from medadv_desktop.engine.attacks._common import (ALPHA_PARAM, AMP_PARAM, STEPS_PARAM, GradientSpace, SampleRNG,
                                                   as_planes, auto_alpha, bview, check_input, p_selection,
                                                   project_delta, random_in_ball, report, run_gradient_attack,
                                                   search_loss, step_direction, uniform_to_int)
from medadv_desktop.engine.attacks.base import Attack, AttackOutput, ParamSpec, register
from medadv_desktop.engine.jobs import ProgressCallback


@register
class VerticalPerturbation(Attack):
    """Vertical perturbation attack (MedAdv's own definition; no standard one exists).

    The perturbation has one value per image column and channel, constant
    down each column: ``delta`` of shape (C, 1, W) broadcast over the H rows
    (``orientation="horizontal"``: one value per row, shape (C, H, 1)). It
    mimics detector or read-out line artefacts. x' = clip_[0,1](x + delta).

    Distance measure: L-inf ``|delta| <= eps`` (default), or L2 with the norm
    of the full broadcast image, ``||delta||_2 = sqrt(H) * ||delta_columns||_2 <= eps``.
    Where clipping to [0, 1] bites, the realised perturbation x' - x is
    smaller than delta in those pixels (never larger).

    ``variant="white_box"``: PGD in the stripe subspace. With g the gradient
    of the loss (``CE(f(x'), y)``, targeted ``-CE(f(x'), t)``) with respect to
    the column values (= the image gradient summed down each column)::

        delta <- Proj_eps(delta + alpha * sign(g))           (L-inf)
        delta <- Proj_eps(delta + alpha * g / ||g||_2)       (L2)

    ``steps`` (10) iterations, ``alpha`` = 2.5 * eps / steps unless set,
    optional random start, per-sample early stop; one forward + backward per step.

    ``variant="black_box"``: random search over column signs. delta = a * s,
    s in {-1, +1}^(C x W) random at start, a = eps (L-inf) or
    eps / sqrt(C * H * W) (L2, so that ||delta||_2 = eps). Each query flips
    the signs of a random block of ``max(1, round(p * W))`` adjacent columns
    in a random non-empty subset of channels, and keeps the flip if it lowers
    the margin loss ``f_y - max_{k != y} f_k`` (targeted: ``CE(f(x'), t)``) or
    fools the model. ``p`` starts at ``p_init`` and follows the Square
    attack's halving schedule rescaled to ``n_queries``. Budget ``n_queries``
    per sample, the first evaluation included; every sample stops at success.

    Volumes (N, C, D, H, W): each slice gets its own column values
    (constant along H within the slice).
    """

    name = "vertical"
    label = "Vertical perturbation (MedAdv definition)"
    description = ("Column-constant perturbation mimicking detector line artefacts; MedAdv's own definition "
                   "(white-box: PGD on column values; black-box: random search over column signs).")
    params = (
        ParamSpec("variant", "choice", "white_box", help="white_box: gradient steps on the column values; black_box: random search over column signs (outputs only).",
                  choices=("white_box", "black_box")),
        ParamSpec("orientation", "choice", "vertical", help="vertical: constant down each column; horizontal: constant along each row.",
                  choices=("vertical", "horizontal")),
        ALPHA_PARAM,
        STEPS_PARAM,
        ParamSpec("random_start", "bool", False, help="White box: start from random column values in the eps-ball."),
        ParamSpec("n_queries", "int", 1000, 1, 100000, "queries", "Black box: query budget per sample (first evaluation included)."),
        ParamSpec("p_init", "float", 0.1, 0.0001, 1.0, "fraction", "Black box: initial fraction of columns flipped per query (halving schedule)."),
        AMP_PARAM,
    )
    fast_settings = ({"steps": 4}, {"steps": 4, "orientation": "horizontal", "random_start": True},
                     {"variant": "black_box", "n_queries": 30})

    @classmethod
    def is_black_box(cls, params: Mapping[str, Any] | None = None) -> bool:
        """The black-box variant needs only the model's outputs; the white-box one gradients."""
        default = next(p.default for p in cls.params if p.name == "variant")
        return (params or {}).get("variant", default) == "black_box"

    # -- orientation: work on a (N, P, H, W) view whose columns are the stripes
    def _orient(self, x: torch.Tensor) -> torch.Tensor:
        v = as_planes(x)
        return v.transpose(2, 3) if self.config["orientation"] == "horizontal" else v

    def _unorient(self, v: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        if self.config["orientation"] == "horizontal":
            v = v.transpose(2, 3)
        return v.reshape((v.shape[0],) + tuple(shape[1:]))

    def _run(self, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
             progress: ProgressCallback) -> AttackOutput:
        check_input(x)
        if self.config["variant"] == "black_box":
            return self._black_box(x, y, targets, progress)
        return self._white_box(x, y, targets, progress)

    def _white_box(self, x, y, targets, progress) -> AttackOutput:
        steps = int(self.config["steps"])
        alpha = auto_alpha(self.config["alpha"], self.eps, steps)
        eps, norm = self.eps, self.norm
        shape = x.shape
        rows = self._orient(x).shape[2]
        scale = math.sqrt(rows)

        def init(xs, random_start, rng):
            v = self._orient(xs)
            cols = (v.shape[0], v.shape[1], 1, v.shape[3])
            if not random_start or rng is None:
                return torch.zeros(cols, device=xs.device, dtype=xs.dtype)
            return random_in_ball(cols, eps, norm, rng, xs.dtype, norm_scale=scale)

        def adv(xs, delta):
            return self._unorient((self._orient(xs) + delta).clamp(0, 1), shape)

        def update(xs, delta, grad):
            return project_delta(delta + alpha * step_direction(grad, norm), eps, norm, norm_scale=scale).detach()

        out = run_gradient_attack(self, x, y, targets, progress, space=GradientSpace(init, adv, update), steps=steps,
                                  random_start=bool(self.config["random_start"]))
        out.extra.update({"alpha": alpha, "variant": "white_box"})
        return out

    def _black_box(self, x, y, targets, progress) -> AttackOutput:
        shape = x.shape
        xo = self._orient(x)
        n, c, h, w = xo.shape
        dev = x.device
        rng = SampleRNG.for_samples(x, self.seed, self.name)     # per-sample streams (see SampleRNG)
        budget = int(self.config["n_queries"])
        p_init = float(self.config["p_init"])
        a = self.eps if self.norm == "linf" else self.eps / math.sqrt(c * h * w)

        def f(v: torch.Tensor) -> torch.Tensor:
            return self._logits(self._unorient(v, shape))

        with torch.no_grad():
            signs = rng.signs((c, 1, w), x.dtype)
            x_best = (xo + a * signs).clamp(0, 1)
            logits = f(x_best)
            loss_min = search_loss(logits, y, targets)
            success = self._is_success(logits, y, targets)
            best_logits = logits.clone()
            queries = torch.ones(n, dtype=torch.long, device=dev)
            cols = torch.arange(w, device=dev)
            chans = torch.arange(c, device=dev)
            for it in range(budget - 1):
                report(progress, self.label, it + 1, budget, ~success, n)
                active = (~success).nonzero().flatten()
                if active.numel() == 0:
                    break
                b = min(w, max(1, int(round(p_selection(p_init, it, budget) * w))))
                u = rng.select(active).rand((2 + c,))        # block start, channel pick, channel subset
                start = uniform_to_int(u[:, 0], w - b + 1)
                col_mask = ((cols[None] >= start[:, None]) & (cols[None] < start[:, None] + b))[:, None, None, :]
                chan = (u[:, 2:] < 0.5)[:, :, None, None]
                none = ~chan.flatten(1).any(dim=1)
                pick = uniform_to_int(u[:, 1], c)
                chan = chan | (none[:, None, None, None] & (chans[None, :, None, None] == pick[:, None, None, None]))
                s_old = signs[active]
                s_new = torch.where(col_mask & chan, -s_old, s_old)
                x_new = (xo[active] + a * s_new).clamp(0, 1)
                logits_new = f(x_new)
                ya = y[active]
                ta = None if targets is None else targets[active]
                loss = search_loss(logits_new, ya, ta)
                fooled = self._is_success(logits_new, ya, ta)
                improved = (loss < loss_min[active]) | fooled
                loss_min[active] = torch.where(improved, loss, loss_min[active])
                signs[active] = torch.where(bview(improved, s_new), s_new, s_old)
                x_best[active] = torch.where(bview(improved, x_new), x_new, x_best[active])
                best_logits[active] = torch.where(improved[:, None], logits_new, best_logits[active])
                success[active] = fooled
                queries[active] += 1
        report(progress, self.label, budget, budget, ~success, n)
        return AttackOutput(adv=self._unorient(x_best, shape).contiguous(), adv_logits=best_logits, success=success,
                            queries=queries, extra={"variant": "black_box", "n_queries": budget, "p_init": p_init})
