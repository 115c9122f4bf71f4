"""FAB-T against the peer implementation (torchattacks' port of the reference FAB) on tiny real models,
and its box-constrained boundary projection against a bisection on the same problem."""

from __future__ import annotations

import pytest
import torch

from medadv_desktop.engine._torch_compat import import_timm
from medadv_desktop.engine.attacks import create_attack
from medadv_desktop.engine.attacks.fab import boundary_step, sample_norm

from .conftest import TinyCNN, correct_labels

import_timm()  # the torchvision fix must be in place before torchattacks imports torchvision
import torchattacks  # noqa: E402  (test oracle, installed by quickstart.sh with --no-deps; never skipped)

PEER_NORM = {"linf": "Linf", "l2": "L2"}


def _batch(model, n=32, seed=3):
    x = torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(seed))
    return x, correct_labels(model, x)


def _peer(model, x, y, k, norm, eps, steps):
    """torchattacks' FAB as AutoAttack runs it (multi-targeted): fooled within eps, and the norms."""
    adv = torchattacks.FAB(model, norm=PEER_NORM[norm], eps=eps, steps=steps, multi_targeted=True, n_classes=k,
                           n_restarts=1, seed=0)(x, y)
    with torch.no_grad():
        fooled = model(adv).argmax(1) != y
    norms = sample_norm(adv - x, norm)
    return fooled & (norms <= eps * (1 + 1e-5)), norms


@pytest.mark.parametrize("norm,eps", [("linf", 4 / 255), ("l2", 0.3)])
@pytest.mark.parametrize("k", [2, 3, 10])
def test_fab_t_is_at_least_as_strong_as_torchattacks(norm, eps, k):
    """Same model as loaded, same iterations and targets: at least the peer's samples fooled within eps, and
    (without early stop, both minimising the norm) the same smallest adversarial norms."""
    model = TinyCNN(1, k, seed=7).eval()
    x, y = _batch(model)
    steps = 15
    peer_fooled, peer_norms = _peer(model, x, y, k, norm, eps, steps)
    assert 0 < int(peer_fooled.sum()) < len(y)
    ours = create_attack("fab-t", model, eps=eps, norm=norm, steps=steps, fold_bn=False).perturb(x, y)
    with torch.no_grad():
        assert torch.equal(ours.success, model(ours.adv).argmax(1) != y)    # the verdict on the returned image
    assert int(ours.success.sum()) >= int(peer_fooled.sum())
    assert bool(ours.success[peer_fooled].all())
    assert float(sample_norm(ours.adv - x, norm).max()) <= eps * (1 + 1e-5)
    full = create_attack("fab-t", model, eps=eps, norm=norm, steps=steps, fold_bn=False,
                         early_stop=False).perturb(x, y)
    mine = torch.tensor(full.extra["min_norm"])
    both = peer_fooled & full.success
    assert torch.allclose(mine[both], peer_norms[both], rtol=1e-3, atol=1e-6)
    assert ours.extra["target_classes"] == min(9, k - 1)


def test_fab_t_targeted_goal_reaches_the_target():
    model = TinyCNN(1, 5, seed=2).eval()
    x, y = _batch(model, n=16)
    out = create_attack("fab-t", model, eps=16 / 255, steps=30, targeted="class", target_class=4,
                        fold_bn=False).perturb(x, y)
    with torch.no_grad():
        pred = model(out.adv).argmax(1)
    assert bool(out.success.any())
    assert torch.equal(out.success, pred == 4)
    assert float((out.adv - x).abs().max()) <= 16 / 255 + 1e-6


def test_fab_t_on_a_gradient_masked_model_reports_nothing_it_did_not_find():
    """An input quantiser has a zero input gradient: FAB cannot move, and says nothing is fooled."""
    net = TinyCNN(1, 3, seed=7).eval()

    class Quantised(torch.nn.Module):
        def forward(self, x):
            return net(torch.round(x * 7) / 7)

    model = Quantised().eval()
    x, y = _batch(model, n=8)
    out = create_attack("fab-t", model, eps=2 / 255, steps=5).perturb(x, y)
    assert not bool(out.success.any())
    assert float((out.adv - x).abs().max()) <= 2 / 255 + 1e-6


def _bisect(p, w, c, norm):
    """The smallest step size reaching w . d = c inside the box, by bisection (independent of the sort)."""
    sgn = 1.0 if c >= 0 else -1.0
    ws = w * sgn
    room = torch.where(ws > 0, 1 - p, p)
    a = ws.abs()

    def reach(r):
        mag = torch.minimum(torch.full_like(room, r), room) if norm == "linf" else torch.minimum(r * a, room)
        return float((a * torch.where(a > 0, mag, torch.zeros_like(mag))).sum())

    lo, hi = 0.0, 1e6
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if reach(mid) >= abs(c) else (mid, hi)
    mag = torch.minimum(torch.full_like(room, hi), room) if norm == "linf" else torch.minimum(hi * a, room)
    return torch.where(a > 0, mag, torch.zeros_like(mag)) * torch.sign(ws)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_boundary_step_is_the_box_constrained_projection(norm):
    g = torch.Generator().manual_seed(0)
    p = torch.rand(6, 40, generator=g, dtype=torch.float64)
    w = torch.randn(6, 40, generator=g, dtype=torch.float64)
    w[0, :20] = 0.0                                      # coordinates the plane does not depend on stay put
    c = torch.tensor([0.5, -0.3, 0.0, 2.0, -1.0, 1e3], dtype=torch.float64)   # the last is out of the box's reach
    d = boundary_step(p, w, c, norm)
    assert bool(((p + d) >= -1e-12).all() and ((p + d) <= 1 + 1e-12).all())
    assert bool((d[0, :20] == 0).all())
    for i in range(6):
        ref = _bisect(p[i], w[i], float(c[i]), norm)
        assert torch.allclose(d[i], ref, atol=1e-9), i
    reachable = torch.tensor([True] * 5 + [False])
    assert torch.allclose((w * d).sum(1)[reachable], c[reachable], atol=1e-9)
    # out of reach: the box's corner in the plane's direction
    assert torch.allclose(d[5], torch.where(w[5] > 0, 1 - p[5], -p[5]) * (w[5] != 0), atol=1e-12)  # c > 0
