"""Shared pieces of the attacks: norms, projections, losses, random numbers,
the Square p schedule, 5-D handling and the white-box gradient loop.

Conventions used by every attack:

* images are in [0, 1] image units (the study's intensities after the model
  card's intensity mapping), shape (N, C, H, W) or (N, C, D, H, W);
* ``delta = adv - x``; L-inf distance ``max |delta|``, L2 distance
  ``sqrt(sum delta**2)`` over all of a sample's pixels and channels;
* randomness is drawn per sample (:class:`SampleRNG`): every sample has its
  own random stream, seeded from the attack's ``seed``, the attack's name and
  the sample's own pixels (a hash of its bytes). A sample's random start and
  search therefore do not depend on which other samples share its batch, nor
  on their order, so the evaluation cascade (a later attack runs only on the
  samples still robust) gives each sample exactly the result of that attack
  run alone. The numbers are drawn on the CPU (the same on every device); the
  global RNG is never touched.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from medadv_desktop.engine.attacks.base import Attack, AttackOutput, ParamSpec
from medadv_desktop.engine.jobs import Progress, ProgressCallback
from medadv_desktop.errors import ModelInputError

#: Seconds between two progress events of one attack (the cancel check runs every step).
PROGRESS_THROTTLE_S = 0.1

ALPHA_PARAM = ParamSpec(
    "alpha", "float", 0.0, 0.0, 1.0, "[0,1]",
    "Step size per iteration in [0, 1] units (L2: length of the step). 0 = automatic: 2.5 * eps / steps.")
STEPS_PARAM = ParamSpec("steps", "int", 10, 1, 10000, "steps", "Number of gradient steps (one forward + backward each).")
AMP_PARAM = ParamSpec(
    "amp", "bool", False,
    help="On an NVIDIA GPU, run the model in bfloat16 autocast (faster; gradients less exact). Ignored on CPU.",
    label="bf16 autocast")


# -- shapes ---------------------------------------------------------------------
def check_input(x: torch.Tensor) -> None:
    if x.dim() not in (4, 5):
        raise ModelInputError(
            f"An attack needs a batch of images (N, C, H, W) or volumes (N, C, D, H, W); got shape {tuple(x.shape)}.")


def as_planes(x: torch.Tensor) -> torch.Tensor:
    """View a 5-D batch (N, C, D, H, W) as 4-D (N, C*D, H, W): every slice of
    every channel becomes one plane. 4-D input is returned unchanged."""
    if x.dim() == 5:
        n, c, d, h, w = x.shape
        return x.reshape(n, c * d, h, w)
    return x


def bview(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a per-sample vector (N,) to broadcast against ``like`` (N, ...)."""
    return v.reshape(-1, *([1] * (like.dim() - 1)))


# -- norms and projections ---------------------------------------------------------
def l2_norm(t: torch.Tensor) -> torch.Tensor:
    """Per-sample L2 norm ``sqrt(sum t**2)`` over all but the first dimension -> (N,)."""
    return t.flatten(1).norm(p=2, dim=1)


def step_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """Steepest-ascent direction of unit size: ``sign(g)`` (L-inf) or
    ``g / (||g||_2 + 1e-10)`` (L2, per sample)."""
    if norm == "linf":
        return grad.sign()
    return grad / (bview(l2_norm(grad), grad) + 1e-10)


def project_delta(delta: torch.Tensor, eps: float, norm: str, norm_scale: float = 1.0) -> torch.Tensor:
    """Project onto the eps-ball: clamp to [-eps, eps] (L-inf) or scale by
    ``min(1, eps / (norm_scale * ||delta||_2))`` (L2). ``norm_scale`` converts the
    norm of a compact parametrisation to the norm of the full image (e.g. a
    column perturbation repeated over H rows has ``norm_scale = sqrt(H)``)."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    n = l2_norm(delta) * norm_scale
    factor = torch.clamp(eps / (n + 1e-12), max=1.0)
    return delta * bview(factor, delta)


def random_in_ball(shape: tuple[int, ...], eps: float, norm: str, rng: SampleRNG,
                   dtype: torch.dtype = torch.float32, norm_scale: float = 1.0) -> torch.Tensor:
    """Uniform sample in the eps-ball, one per sample of ``rng`` (``shape[0] == len(rng)``).
    L-inf: U(-eps, eps) per element. L2: direction ~ normalised Gaussian,
    radius ``eps * u**(1/d)`` with u ~ U(0, 1), d the number of free elements
    (uniform in the ball)."""
    per = tuple(shape[1:])
    if norm == "linf":
        return (rng.rand(per, dtype) * 2 - 1) * eps
    z = rng.randn(per, dtype)
    d = int(math.prod(per))
    u = rng.rand((), dtype)
    radius = eps * u.pow(1.0 / max(d, 1)) / norm_scale
    return z / (bview(l2_norm(z), z) + 1e-12) * bview(radius, z)


class SampleRNG:
    """Random numbers with one independent stream per sample.

    Sample i's stream is a CPU :class:`torch.Generator` seeded with the first
    63 bits of ``blake2b(stream name, seed, the sample's float32 bytes)``.
    Every draw returns one row per sample (stacked, moved to ``device``), and
    a sample's rows depend only on its own stream: what a sample draws does
    not change with the batch it is attacked in, its position there, or how
    many other samples are still being attacked. ``select(idx)`` is a view on
    some of the samples that shares (and advances) their streams. Two samples
    with identical pixels get identical streams (they are the same sample).
    """

    def __init__(self, gens: list[torch.Generator], device: torch.device) -> None:
        self.gens = gens
        self.device = device

    @classmethod
    def for_samples(cls, x: torch.Tensor, seed: int, stream: str) -> SampleRNG:
        flat = x.detach().to("cpu", torch.float32).contiguous().flatten(1).numpy()
        gens = []
        for row in flat:
            h = hashlib.blake2b(digest_size=8)
            h.update(f"medadv:{stream}:{int(seed)}:".encode())
            h.update(row.tobytes())
            g = torch.Generator()
            g.manual_seed(int.from_bytes(h.digest(), "little") & ((1 << 63) - 1))
            gens.append(g)
        return cls(gens, x.device)

    def __len__(self) -> int:
        return len(self.gens)

    def select(self, idx: torch.Tensor | list[int]) -> SampleRNG:
        """The streams of the samples ``idx`` (positions in this RNG), shared, not copied."""
        items = idx.tolist() if isinstance(idx, torch.Tensor) else list(idx)
        return SampleRNG([self.gens[int(i)] for i in items], self.device)

    def _stack(self, rows: list[torch.Tensor], shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        if not rows:
            return torch.empty((0, *shape), dtype=dtype, device=self.device)
        return torch.stack(rows).to(device=self.device, dtype=dtype)

    def rand(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(len, *shape) uniform in [0, 1)."""
        return self._stack([torch.rand(shape, generator=g) for g in self.gens], shape, dtype)

    def randn(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(len, *shape) standard normal."""
        return self._stack([torch.randn(shape, generator=g) for g in self.gens], shape, dtype)

    def signs(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(len, *shape) independent +-1 with probability 1/2 each."""
        return torch.where(self.rand(shape) < 0.5, -1.0, 1.0).to(dtype)


def uniform_to_int(u: torch.Tensor, high: int) -> torch.Tensor:
    """Map uniforms in [0, 1) to integers uniform in [0, high) (``high`` >= 1)."""
    return (u * high).long().clamp_(min=0, max=int(high) - 1)


# -- losses -------------------------------------------------------------------
def margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample margin ``f_y - max_{k != y} f_k`` (logits); < 0 means misclassified."""
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf")).amax(dim=1)
    return true - others


def gradient_objective(logits: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
    """Per-sample loss a white-box attack ascends: ``CE(f(x'), y)`` untargeted,
    ``-CE(f(x'), t)`` targeted (natural logarithm, logits in)."""
    if targets is None:
        return F.cross_entropy(logits, y, reduction="none")
    return -F.cross_entropy(logits, targets, reduction="none")


def search_loss(logits: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
    """Per-sample loss a random search lowers: margin ``f_y - max_{k != y} f_k``
    (untargeted) or ``CE(f(x'), t)`` (targeted), as in the Square attack paper."""
    if targets is None:
        return margin(logits, y)
    return F.cross_entropy(logits, targets, reduction="none")


def dlr_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Difference-of-logits-ratio loss (Croce & Hein 2020), ascended by APGD-DLR::

        DLR(z, y) = -(z_y - max_{k != y} z_k) / (z_pi1 - z_pi3 + 1e-12)

    with z_pi1 >= z_pi2 >= ... the sorted logits. Invariant to shifting and
    positive scaling of the logits. Needs at least 3 classes."""
    srt = logits.sort(dim=1, descending=True).values
    return -margin(logits, labels) / (srt[:, 0] - srt[:, 2] + 1e-12)


def dlr_targeted_loss(logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Targeted DLR loss (Croce & Hein 2020), ascended by APGD-T::

        DLR_t(z, y, t) = -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)

    Needs at least 4 classes."""
    srt = logits.sort(dim=1, descending=True).values
    num = logits.gather(1, labels[:, None]).squeeze(1) - logits.gather(1, targets[:, None]).squeeze(1)
    return -num / (srt[:, 0] - 0.5 * srt[:, 2] - 0.5 * srt[:, 3] + 1e-12)


def p_selection(p_init: float, it: int, n_iters: int) -> float:
    """The Square attack's schedule of the square size fraction ``p``:
    halved at iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 of a
    10 000-query budget, rescaled to ``n_iters``."""
    it = int(it / max(n_iters, 1) * 10000)
    for k, bound in enumerate((10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)):
        if it <= bound:
            return p_init / (2 ** k)
    return p_init / 512


def report(progress: ProgressCallback, name: str, done: int, total: int, active: int | torch.Tensor, n: int) -> None:
    """Progress event (throttled, except the first and the last) plus the
    cancellation check (called once per step). ``active`` may be a bool mask
    of the samples still being attacked; it is only counted when an event is
    actually sent (no device synchronisation on throttled steps)."""
    progress.check()
    if not progress.due(interval_s=PROGRESS_THROTTLE_S, force=done in (0, total)):
        return
    if isinstance(active, torch.Tensor):
        active = int(active.sum())
    progress.report(Progress("attack", done, total, f"{name}: step {done}/{total}, {n - active}/{n} samples fooled",
                             {"fooled": n - active, "samples": n}), force=True)


def auto_alpha(alpha: float, eps: float, steps: int) -> float:
    """``alpha`` if positive, else Madry's rule ``2.5 * eps / steps``."""
    return float(alpha) if alpha > 0 else 2.5 * eps / steps


# -- the white-box loop -----------------------------------------------------------
@dataclass
class GradientSpace:
    """How an iterative gradient attack parametrises the adversarial image.

    ``init(x, random_start, rng) -> state`` (``rng``: the :class:`SampleRNG`
    of exactly the samples of ``x``, None without random start),
    ``adv(x, state) -> x'`` (differentiable in state),
    ``update(x, state, grad) -> new state`` (includes projection and
    clipping). State has the batch as its first dimension.
    """

    init: Callable[[torch.Tensor, bool, SampleRNG | None], torch.Tensor]
    adv: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    update: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def image_space(eps: float, norm: str, alpha: float) -> GradientSpace:
    """The full image space of PGD/BIM. Update (torchattacks' arithmetic, so
    that the result is bit-identical with ``torchattacks.PGD(random_start=False)``)::

        x' <- x' + alpha * sign(g)                         (L-inf)
        x' <- x' + alpha * g / ||g||_2                     (L2)
        x' <- clip_[0,1](x + Proj_eps(x' - x))
    """

    def init(x, random_start, rng):
        if not random_start or rng is None:
            return x.clone()
        return (x + random_in_ball(tuple(x.shape), eps, norm, rng, x.dtype)).clamp(0, 1)

    def adv(x, state):
        return state

    def update(x, state, grad):
        state = state.detach() + alpha * step_direction(grad, norm)
        delta = project_delta(state - x, eps, norm)
        return torch.clamp(x + delta, min=0, max=1).detach()

    return GradientSpace(init, adv, update)


def run_gradient_attack(attack: Attack, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
                        progress: ProgressCallback, *, space: GradientSpace, steps: int,
                        random_start: bool = False, restarts: int = 1,
                        objective: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None],
                                            tuple[torch.Tensor, torch.Tensor]] | None = None) -> AttackOutput:
    """Iterative projected gradient ascent with per-sample early stop and restarts.

    Each step costs exactly one forward and one backward pass on the samples
    still being attacked; the success check uses the logits of that same
    forward. With ``attack.early_stop`` a sample is frozen at the first
    iterate that fools the model (and dropped from later batches). One final
    forward (no gradient) scores the last iterate. Restarts (only with a
    random start) rerun the remaining unfooled samples and keep per sample a
    fooling result, else the one with the highest objective. Random starts
    come from per-sample streams (:class:`SampleRNG`), so each sample's
    result is the same whatever batch it is attacked in.

    ``objective(x_adv, y, targets) -> (logits, per-sample objective)``;
    default: logits of the model and :func:`gradient_objective`.
    """
    if objective is None:
        def objective(adv, yy, tt):
            logits = attack._logits(adv)
            return logits, gradient_objective(logits, yy, tt)

    n = x.shape[0]
    # per-sample streams: a sample's random starts do not depend on its batch (see SampleRNG)
    rng = SampleRNG.for_samples(x, attack.seed, attack.name) if random_start else None
    runs = max(1, int(restarts)) if random_start else 1
    total = steps * runs
    best_adv = x.clone()
    best_logits: torch.Tensor | None = None
    best_obj = torch.full((n,), float("-inf"), device=x.device)
    success = torch.zeros(n, dtype=torch.bool, device=x.device)
    queries = torch.zeros(n, dtype=torch.long, device=x.device)
    t_all = targets
    done_steps = 0
    for run in range(runs):
        todo = (~success).nonzero().flatten()
        if todo.numel() == 0:
            break
        full = todo.numel() == n
        xs = x if full else x[todo]
        ys = y if full else y[todo]
        ts = None if t_all is None else (t_all if full else t_all[todo])
        state = space.init(xs, random_start, None if rng is None else (rng if full else rng.select(todo)))
        m = xs.shape[0]
        # samples of this run: still moving, their frozen adv/logits when fooled
        moving = torch.ones(m, dtype=torch.bool, device=x.device)
        run_adv = torch.empty_like(xs)
        run_logits: torch.Tensor | None = None
        run_obj = torch.empty(m, device=x.device)
        run_queries = torch.zeros(m, dtype=torch.long, device=x.device)
        for _ in range(steps):
            report(progress, attack.label or attack.name, done_steps, total, moving, m)
            idx = moving.nonzero().flatten() if not bool(moving.all()) else None
            s_in = state if idx is None else state[idx]
            x_in = xs if idx is None else xs[idx]
            y_in = ys if idx is None else ys[idx]
            t_in = None if ts is None else (ts if idx is None else ts[idx])
            s_in = s_in.detach().requires_grad_(True)
            with torch.enable_grad():
                adv = space.adv(x_in, s_in)
                logits, obj = objective(adv, y_in, t_in)
                grad, = torch.autograd.grad(obj.sum(), s_in)
            run_queries += moving.long()
            new_state = space.update(x_in, s_in.detach(), grad)
            if attack.early_stop:
                fooled = attack._is_success(logits.detach(), y_in, t_in)
                if bool(fooled.any()):
                    where = fooled.nonzero().flatten()
                    glob = where if idx is None else idx[where]
                    run_adv[glob] = adv.detach()[where]
                    run_logits = _store(run_logits, glob, logits.detach()[where], m)
                    run_obj[glob] = obj.detach()[where]
                    keep = ~fooled
                    new_state = torch.where(bview(keep, new_state), new_state, s_in.detach())
                    moving[glob] = False
            if idx is None:
                state = new_state
            else:
                state = state.clone()
                state[idx] = new_state
            done_steps += 1
            if not bool(moving.any()):
                break
        # score the last iterate of the samples still moving (one forward, no gradient)
        rest = moving.nonzero().flatten()
        if rest.numel():
            progress.check()
            s_r = state[rest]
            t_r = None if ts is None else ts[rest]
            with torch.no_grad():
                adv_r = space.adv(xs[rest], s_r)
                if runs == 1:  # the objective only ranks restarts: one plain forward is enough
                    logits_r = attack._logits(adv_r)
                    obj_r = gradient_objective(logits_r, ys[rest], t_r)
                else:
                    logits_r, obj_r = objective(adv_r, ys[rest], t_r)
            run_adv[rest] = adv_r
            run_logits = _store(run_logits, rest, logits_r, m)
            run_obj[rest] = obj_r
            run_queries[rest] += 1
        assert run_logits is not None
        run_success = attack._is_success(run_logits, ys, ts)
        glob = todo
        better = run_success | ((~success[glob]) & (run_obj > best_obj[glob]))
        if run == 0:
            better = torch.ones_like(better)
        sel = glob[better]
        best_adv[sel] = run_adv[better]
        best_logits = _store(best_logits, sel, run_logits[better], n)
        best_obj[sel] = run_obj[better]
        success[sel] = run_success[better]
        queries[glob] += run_queries
    report(progress, attack.label or attack.name, total, total, ~success, n)
    assert best_logits is not None
    return AttackOutput(adv=best_adv, adv_logits=best_logits, success=success, queries=queries,
                        extra={"steps": steps, "runs": runs})


def _store(buf: torch.Tensor | None, idx: torch.Tensor, values: torch.Tensor, n: int) -> torch.Tensor:
    if buf is None:
        buf = torch.zeros((n, values.shape[1]), dtype=values.dtype, device=values.device)
    buf[idx] = values
    return buf
