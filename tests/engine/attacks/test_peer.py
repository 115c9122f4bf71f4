"""Our attacks against the peer library torchattacks (test-only dependency)."""

from __future__ import annotations

import pytest
import torch

from medadv_desktop.engine._torch_compat import import_timm
from medadv_desktop.engine.attacks import create_attack

from .conftest import TinyCNN, correct_labels

import_timm()  # the torchvision fix must be in place before torchattacks imports torchvision
import torchattacks  # noqa: E402  (test oracle, installed by quickstart.sh with --no-deps; never skipped)


@pytest.fixture(scope="module")
def timm_rgb():
    timm = import_timm()
    torch.manual_seed(0)
    model = timm.create_model("test_resnet", pretrained=False, num_classes=3, in_chans=3).eval()
    x = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    return model, x, torch.tensor([0, 1, 2, 0, 1, 2])


@pytest.mark.parametrize("eps", [2 / 255, 8 / 255])
def test_fgsm_equals_torchattacks(timm_rgb, eps):
    model, x, y = timm_rgb
    theirs = torchattacks.FGSM(model, eps=eps)(x, y)
    ours = create_attack("fgsm", model, eps=eps, early_stop=False, fold_bn=False).perturb(x, y)
    assert torch.equal(ours.adv, theirs)


def test_fgsm_equals_torchattacks_targeted(gray_batch, gray_model):
    x, y = gray_batch
    target = (y + 1) % 3
    peer = torchattacks.FGSM(gray_model, eps=4 / 255)
    peer.set_mode_targeted_by_label(quiet=True)
    theirs = peer(x, target)
    ours = create_attack("fgsm", gray_model, eps=4 / 255, early_stop=False, targeted="class", target_class=0,
                         fold_bn=False)
    # class mode targets one class for all; compare on the samples whose target is that class
    out = ours.perturb(x, y)
    sel = target == 0
    assert sel.any()
    assert torch.equal(out.adv[sel], theirs[sel])


@pytest.mark.parametrize("eps,alpha,steps", [(4 / 255, 1 / 255, 7), (8 / 255, 2 / 255, 10)])
def test_pgd_equals_torchattacks_without_random_start(timm_rgb, eps, alpha, steps):
    model, x, y = timm_rgb
    theirs = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)
    ours = create_attack("pgd", model, eps=eps, alpha=alpha, steps=steps, random_start=False,
                         early_stop=False, fold_bn=False).perturb(x, y)
    assert torch.equal(ours.adv, theirs)
    assert ours.queries.tolist() == [steps + 1] * len(y)


def test_pgd_l2_equals_torchattacks_pgdl2(gray_batch, gray_model):
    x, y = gray_batch
    theirs = torchattacks.PGDL2(gray_model, eps=0.5, alpha=0.1, steps=5, random_start=False)(x, y)
    ours = create_attack("pgd", gray_model, norm="l2", eps=0.5, alpha=0.1, steps=5, random_start=False,
                         early_stop=False, fold_bn=False).perturb(x, y)
    assert torch.equal(ours.adv, theirs)


def test_bn_folding_default_agrees_with_torchattacks(timm_rgb):
    """Bit-equality above is for the model as loaded (fold_bn off). With the default BatchNorm
    folding the arithmetic differs only by float rounding: the same fooled samples, and at most a
    handful of pixels whose gradient sign flipped at a near-zero gradient."""
    model, x, y = timm_rgb
    eps, alpha, steps = 8 / 255, 2 / 255, 10
    theirs = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)
    attack = create_attack("pgd", model, eps=eps, alpha=alpha, steps=steps, random_start=False, early_stop=False)
    ours = attack.perturb(x, y)
    assert attack.folded_pairs > 0
    assert (ours.adv - theirs).abs().gt(1e-6).float().mean() < 1e-3
    with torch.no_grad():
        assert torch.equal(model(ours.adv).argmax(1) != y, model(theirs).argmax(1) != y)


def _fooled(model, adv, y):
    with torch.no_grad():
        return int((model(adv).argmax(1) != y).sum())


@pytest.mark.parametrize("p_init", [0.8, 0.05])
def test_square_linf_at_least_as_strong_as_torchattacks(p_init):
    """Same model, samples, eps, p_init and query budget (ours counts the first
    evaluation, so torchattacks gets n_queries - 1 iterations + its init),
    summed over two seeds."""
    model = TinyCNN(1, 3, seed=7).eval()
    x = torch.rand(48, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    y = correct_labels(model, x)
    ours_total = theirs_total = 0
    for seed in (0, 1):
        out = create_attack("square", model, eps=0.03, n_queries=60, p_init=p_init, seed=seed).perturb(x, y)
        assert int(out.queries.max()) <= 60
        assert _fooled(model, out.adv, y) == int(out.success.sum())
        ours_total += int(out.success.sum())
        peer = torchattacks.Square(model, norm="Linf", eps=0.03, n_queries=59, p_init=p_init, seed=seed)
        theirs_total += _fooled(model, peer(x, y), y)
    assert theirs_total > 0
    assert ours_total >= theirs_total, (ours_total, theirs_total)


class Quantised(torch.nn.Module):
    """An input quantiser (``levels`` grey levels) in front of a network: zero input gradient, so only a
    black-box attack can succeed (gradient masking, as in issue 17's audit model)."""

    def __init__(self, net: torch.nn.Module, levels: int = 16) -> None:
        super().__init__()
        self.net, self.levels = net, levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.round(x * (self.levels - 1)) / (self.levels - 1))


def test_square_default_at_least_as_strong_as_the_peers_default_on_a_masked_model():
    """Issue 17's failing case in small: a gradient-masked model (a quantiser in front of a CNN on
    32 x 32 images), 8/255, 200 queries, each library's own defaults (torchattacks: p_init 0.8).
    With the former default p_init 0.05 MedAdv fooled fewer images than the peer (robustness
    over-reported); with the default it fools at least as many on each seed (seeds 0-3 tried:
    27/27/27/27 against 24/23/26/25 of 32; former default 21/20/21/20). The same held on a
    quantised timm test_resnet (seeds 0-3: 13/13/13/10 against 7/11/8/9; former 6/6/8/6)."""
    model = Quantised(TinyCNN(1, 3, size=32, seed=8)).eval()
    x = torch.rand(32, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    y = correct_labels(model, x)
    old_total = theirs_total = 0
    for seed in (0, 1):
        ours = create_attack("square", model, eps=8 / 255, n_queries=200, seed=seed).perturb(x, y)
        assert _fooled(model, ours.adv, y) == int(ours.success.sum())
        theirs = _fooled(model, torchattacks.Square(model, eps=8 / 255, n_queries=199, seed=seed)(x, y), y)
        assert int(ours.success.sum()) >= theirs, (seed, int(ours.success.sum()), theirs)
        theirs_total += theirs
        old = create_attack("square", model, eps=8 / 255, n_queries=200, p_init=0.05, seed=seed).perturb(x, y)
        old_total += int(old.success.sum())
    assert old_total < theirs_total          # the case failed with the former default


def test_square_l2_default_at_least_as_strong_as_the_peers_default_on_a_masked_tiny_model():
    """L2, a quantiser in front of the tiny CNN, 200 queries, each library's defaults, summed over three
    seeds (seeds 0-7 tried: 333 against 322 of 8 x 64)."""
    model = Quantised(TinyCNN(1, 3, seed=7)).eval()
    x = torch.rand(64, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    y = correct_labels(model, x)
    ours_total = theirs_total = 0
    for seed in (0, 1, 2):
        out = create_attack("square", model, norm="l2", eps=0.5, n_queries=200, seed=seed).perturb(x, y)
        ours_total += int(out.success.sum())
        peer = torchattacks.Square(model, norm="L2", eps=0.5, n_queries=199, seed=seed)
        theirs_total += _fooled(model, peer(x, y), y)
    assert 0 < theirs_total <= ours_total < 3 * len(y), (ours_total, theirs_total)
