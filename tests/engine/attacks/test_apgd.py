"""APGD-CE, APGD-DLR and APGD-T against the peer implementation (torchattacks' port of the
reference code) on tiny real models, and the DLR loss on models with few classes."""

from __future__ import annotations

import pytest
import torch

from medadv_desktop.engine._torch_compat import import_timm
from medadv_desktop.engine.attacks import create_attack, get_attack
from medadv_desktop.engine.attacks.apgd import apgd_checkpoints
from medadv_desktop.engine.jobs import ProgressCallback

from .conftest import SingleLogitBinary, TinyCNN, correct_labels

import_timm()  # the torchvision fix must be in place before torchattacks imports torchvision
import torchattacks  # noqa: E402  (test oracle, installed by quickstart.sh with --no-deps; never skipped)

PEER_NORM = {"linf": "Linf", "l2": "L2"}


def _peer_start(x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """torchattacks' APGD starting point, drawn from the global RNG exactly as it draws it."""
    if norm == "linf":
        t = 2 * torch.rand(x.shape) - 1
        scale = t.reshape([t.shape[0], -1]).abs().max(dim=1, keepdim=True)[0].reshape([-1, 1, 1, 1])
    else:
        t = torch.randn(x.shape)
        scale = (t ** 2).sum(dim=(1, 2, 3), keepdim=True).sqrt() + 1e-12
    return (x + eps * torch.ones([x.shape[0], 1, 1, 1]) * t / scale).clamp(0.0, 1.0)


def replaying(name: str):
    """Our attack class, started from the points the peer draws with ``torch.manual_seed(seed)``
    (a test seam: ``_start`` is the one place the starting point is made)."""

    class Replay(get_attack(name)):
        def perturb(self, x, y, progress=None):
            torch.manual_seed(self.seed)
            return super().perturb(x, y, progress)

        def _start(self, x, rng):
            return _peer_start(x, self.eps, self.norm)

    return Replay


def _fooled(model, adv, y) -> torch.Tensor:
    with torch.no_grad():
        return model(adv).argmax(1) != y


def _batch(model, n=32, chans=1, size=16, seed=3):
    x = torch.rand(n, chans, size, size, generator=torch.Generator().manual_seed(seed))
    return x, correct_labels(model, x)


def test_checkpoints_are_the_papers():
    # p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 of 100 iterations (0-based: after iteration w - 1)
    assert apgd_checkpoints(100) == [21, 40, 56, 69, 79, 86, 92, 98]
    assert apgd_checkpoints(10) == [1, 2, 3, 4, 5, 6, 7, 8, 9]


@pytest.mark.parametrize("loss", ["ce", "dlr"])
@pytest.mark.parametrize("norm,eps", [("linf", 4 / 255), ("l2", 0.3)])
@pytest.mark.parametrize("k", [3, 10])
def test_apgd_equals_torchattacks_from_the_same_start(loss, norm, eps, k):
    """Same start, settings and model as loaded: the same samples fooled, at bit-identical images
    (without early stop both return the last fooling iterate, after every checkpoint)."""
    model = TinyCNN(1, k, seed=7).eval()
    x, y = _batch(model, n=24)
    steps = 20
    theirs = torchattacks.APGD(model, norm=PEER_NORM[norm], eps=eps, steps=steps, loss=loss, seed=0)(x, y)
    peer_fooled = _fooled(model, theirs, y)
    assert 0 < int(peer_fooled.sum()) < len(y)
    ours = replaying(f"apgd-{loss}")(model, eps=eps, norm=norm, steps=steps, early_stop=False,
                                     fold_bn=False).perturb(x, y)
    assert torch.equal(ours.success, peer_fooled)
    assert torch.equal(ours.adv[peer_fooled], theirs[peer_fooled])
    # every pass the peer makes, except where an L-inf iterate cannot change any more (exactly zero gradient)
    assert max(ours.queries.tolist()) == steps + 1 and min(ours.queries.tolist()) >= 1
    if norm == "l2":
        assert ours.queries.tolist() == [steps + 1] * len(y)
    # with the default early stop: the same fooled samples, fewer passes
    fast = replaying(f"apgd-{loss}")(model, eps=eps, norm=norm, steps=steps, fold_bn=False).perturb(x, y)
    assert torch.equal(fast.success, peer_fooled)
    assert int(fast.queries.sum()) < int(ours.queries.sum())


@pytest.mark.parametrize("k", [4, 6])
def test_apgd_t_equals_torchattacks_linf(k):
    model = TinyCNN(1, k, seed=7).eval()
    x, y = _batch(model, n=24)
    eps, steps = 2 / 255, 12
    theirs = torchattacks.APGDT(model, norm="Linf", eps=eps, steps=steps, n_classes=k, seed=0)(x, y)
    peer_fooled = _fooled(model, theirs, y)
    assert 0 < int(peer_fooled.sum()) < len(y)
    ours = replaying("apgd-t")(model, eps=eps, steps=steps, n_target_classes=k - 1, early_stop=False,
                               fold_bn=False).perturb(x, y)
    assert ours.extra["loss"] == "dlr-targeted"
    assert torch.equal(ours.success, peer_fooled)
    assert torch.equal(ours.adv[peer_fooled], theirs[peer_fooled])


def test_apgd_t_l2_at_least_as_strong_as_torchattacks():
    """torchattacks' APGDT (L2) steps every sample with the first sample's step size
    (``step_size[0]``); ours keeps the per-sample step size of the reference APGD."""
    model = TinyCNN(1, 5, seed=7).eval()
    x, y = _batch(model, n=24)
    theirs = torchattacks.APGDT(model, norm="L2", eps=0.15, steps=12, n_classes=5, seed=0)(x, y)
    ours = replaying("apgd-t")(model, eps=0.15, norm="l2", steps=12, early_stop=False, fold_bn=False).perturb(x, y)
    assert int(ours.success.sum()) >= int(_fooled(model, theirs, y).sum()) > 0


PEERS = {
    "apgd-ce": lambda m, eps, norm, seed: torchattacks.APGD(m, norm=norm, eps=eps, steps=20, loss="ce", seed=seed),
    "apgd-dlr": lambda m, eps, norm, seed: torchattacks.APGD(m, norm=norm, eps=eps, steps=20, loss="dlr", seed=seed),
    "apgd-t": lambda m, eps, norm, seed: torchattacks.APGDT(m, norm=norm, eps=eps, steps=20, n_classes=4, seed=seed),
}


@pytest.mark.parametrize("name,norm,eps", [("apgd-ce", "linf", 2 / 255), ("apgd-ce", "l2", 0.15),
                                           ("apgd-dlr", "linf", 2 / 255), ("apgd-t", "linf", 2 / 255)])
def test_own_random_starts_at_least_as_strong_on_several_seeds(name, norm, eps):
    """With its own per-sample random starts (defaults otherwise, BatchNorm folding on), on each of
    three seeds MedAdv's robust accuracy is at most the peer's."""
    model = TinyCNN(1, 4, seed=8).eval()
    x, y = _batch(model, n=24, seed=5)
    for seed in (0, 1, 2):
        theirs = int(_fooled(model, PEERS[name](model, eps, PEER_NORM[norm], seed)(x, y), y).sum())
        out = create_attack(name, model, eps=eps, norm=norm, steps=20, seed=seed).perturb(x, y)
        assert torch.equal(out.success, _fooled(model, out.adv, y))
        assert 0 < int(out.success.sum()) < len(y)
        assert int(out.success.sum()) >= theirs, (seed, int(out.success.sum()), theirs)


@pytest.mark.parametrize("name", ["apgd-dlr", "apgd-t"])
@pytest.mark.parametrize("targeted", ["none", "class"])
def test_dlr_on_a_binary_model_falls_back_to_the_margin_and_says_so(name, targeted):
    """A binary (single-logit) model has no third logit: the DLR normaliser does not exist.
    The attack ascends the margin instead, records it and names it in its progress messages."""
    model = SingleLogitBinary().eval()
    x = torch.rand(12, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    y = correct_labels(model, x)
    if targeted == "class":
        keep = y == 0
        x, y = x[keep], y[keep]
    events = []
    out = create_attack(name, model, eps=16 / 255, steps=20, targeted=targeted, target_class=1).perturb(
        x, y, ProgressCallback(callback=events.append))
    assert "margin loss" in out.extra["loss"] and "needs at least" in out.extra["loss"]
    assert "this model has 2" in out.extra["loss"]
    assert any("margin loss: too few classes for DLR" in e.message for e in events)
    assert float(out.success.float().mean()) > 0.25
    assert torch.equal(out.success, _fooled(model, out.adv, y))


def test_targeted_dlr_on_three_classes_falls_back_untargeted_dlr_does_not():
    model = TinyCNN(1, 3, seed=6).eval()
    x, y = _batch(model, n=12)
    assert create_attack("apgd-dlr", model, steps=5).perturb(x, y).extra["loss"] == "dlr"
    out = create_attack("apgd-t", model, steps=5).perturb(x, y)
    assert "needs at least 4 classes" in out.extra["loss"] and out.extra["target_classes"] == 2


def test_apgd_t_tries_the_most_likely_wrong_classes_in_turn():
    model = TinyCNN(1, 10, seed=7).eval()
    x, y = _batch(model, n=16)
    one = create_attack("apgd-t", model, eps=1 / 255, steps=20, n_target_classes=1).perturb(x, y)
    three = create_attack("apgd-t", model, eps=1 / 255, steps=20, n_target_classes=3).perturb(x, y)
    assert three.extra["target_classes"] == 3
    # the first target's run is the same in both (per-sample streams); later targets only add
    assert bool((three.success | ~one.success).all())
    assert 0 < int(three.success.sum()) < len(y)
    # unfooled samples were attacked once per target (plus one clean forward and one start each)
    assert bool((three.queries[~three.success] == 1 + 3 * 21).all())


class _Quantised(torch.nn.Module):
    """An input quantiser in front of a CNN: zero input gradient everywhere (gradient masking)."""

    def __init__(self, net: torch.nn.Module, levels: int = 8) -> None:
        super().__init__()
        self.net, self.levels = net, levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.round(x * (self.levels - 1)) / (self.levels - 1))


@pytest.mark.parametrize("name,norm,eps", [("apgd-ce", "linf", 8 / 255), ("apgd-t", "linf", 8 / 255),
                                           ("apgd-dlr", "linf", 8 / 255)])
def test_samples_that_cannot_move_stop_early_with_the_same_result(monkeypatch, name, norm, eps):
    """On a gradient-masked model every L-inf iterate equals the start, so the iterations are skipped: the
    same adversarial images and successes as the full run, with fewer passes."""
    import medadv_desktop.engine.attacks.apgd as apgd

    model = _Quantised(TinyCNN(1, 4, seed=5)).eval()
    x, y = _batch(model, n=12)
    params = {"eps": eps, "norm": norm, "steps": 20, "seed": 1}
    fast = create_attack(name, model, **params).perturb(x, y)
    monkeypatch.setattr(apgd, "_frozen", lambda g, *rest: torch.zeros(len(g), dtype=torch.bool, device=g.device))
    full = create_attack(name, model, **params).perturb(x, y)
    assert torch.equal(fast.adv, full.adv) and torch.equal(fast.success, full.success)
    robust = ~full.success
    assert bool(robust.any())
    assert bool((fast.queries[robust] < full.queries[robust]).all())
    # a model with gradients is not affected
    plain = TinyCNN(1, 4, seed=5).eval()
    xp, yp = _batch(plain, n=12)
    monkeypatch.undo()
    a = create_attack(name, plain, **params).perturb(xp, yp)
    monkeypatch.setattr(apgd, "_frozen", lambda g, *rest: torch.zeros(len(g), dtype=torch.bool, device=g.device))
    b = create_attack(name, plain, **params).perturb(xp, yp)
    assert torch.equal(a.adv, b.adv) and torch.equal(a.queries, b.queries)
