"""Targeted and least-likely modes, binary single-logit and 3-class models, grayscale and RGB."""

from __future__ import annotations

import pytest
import torch

from medadv_desktop.engine.attacks import create_attack
from medadv_desktop.errors import AttackConfigError

from .conftest import SingleLogitBinary, TinyCNN, correct_labels

WHITE = [("fgsm", {}), ("pgd", {"steps": 10}), ("smia", {"steps": 10, "kernel_size": 3}),
         ("vertical", {"steps": 10})]
# the vertical attacks search a much smaller space (one value per column): give them a larger budget
EPS = {"vertical": 32 / 255}
BLACK = [("square", {"n_queries": 150, "p_init": 0.3}), ("vertical", {"variant": "black_box", "n_queries": 150})]


def _batch(model, n=16, chans=1, seed=0):
    x = torch.rand(n, chans, 16, 16, generator=torch.Generator().manual_seed(seed))
    return x, correct_labels(model, x)


@pytest.mark.parametrize("name,params", WHITE + BLACK, ids=lambda v: v if isinstance(v, str) else "")
def test_targeted_class_hits_target_more_than_chance(name, params):
    model = TinyCNN(1, 3, seed=6).eval()
    x, y = _batch(model)
    keep = y != 1
    x, y = x[keep], y[keep]
    out = create_attack(name, model, eps=EPS.get(name, 16 / 255), targeted="class", target_class=1, seed=0,
                        **params).perturb(x, y)
    hit = out.adv_logits.argmax(1) == 1
    assert torch.equal(out.targets, torch.ones_like(y))
    assert torch.equal(out.success, hit)
    # chance: a random wrong prediction would hit class 1 for at most half of the samples
    assert hit.float().mean() > 0.5, (name, hit.float().mean())


@pytest.mark.parametrize("name,params", [("pgd", {"steps": 10}), ("square", {"n_queries": 150, "p_init": 0.3})],
                         ids=["pgd", "square"])
def test_least_likely_targets_the_clean_least_likely_class(name, params):
    model = TinyCNN(1, 3, seed=6).eval()
    x, y = _batch(model)
    with torch.no_grad():
        least = model(x).argmin(1)
    out = create_attack(name, model, eps=16 / 255, targeted="least_likely", **params).perturb(x, y)
    assert torch.equal(out.targets, least)
    assert (out.adv_logits.argmax(1) == least).float().mean() > 1 / 3


def test_target_class_outside_the_model_is_refused(gray_model, gray_batch):
    x, y = gray_batch
    with pytest.raises(AttackConfigError, match="class 7 does not exist"):
        create_attack("pgd", gray_model, targeted="class", target_class=7).perturb(x, y)


@pytest.mark.parametrize("name,params", WHITE + BLACK, ids=lambda v: v if isinstance(v, str) else "")
def test_single_logit_binary_model(name, params):
    model = SingleLogitBinary().eval()
    x, y = _batch(model, n=12, seed=3)
    out = create_attack(name, model, eps=EPS.get(name, 16 / 255), **params).perturb(x, y)
    assert out.adv_logits.shape == (12, 2)
    assert float(out.success.float().mean()) > 0.25, name


@pytest.mark.parametrize("name,params", WHITE + BLACK, ids=lambda v: v if isinstance(v, str) else "")
def test_rgb_two_class_model(name, params, rgb_model):
    x, y = _batch(rgb_model, n=12, chans=3, seed=4)
    out = create_attack(name, rgb_model, eps=16 / 255, **params).perturb(x, y)
    assert out.adv.shape == x.shape
    assert float((out.adv - x).abs().max()) <= 16 / 255 + 1e-6
    assert float(out.success.float().mean()) > 0.25, name


def test_pgd_beats_fgsm_and_grayscale_three_classes(gray_model):
    x, y = _batch(gray_model, n=24, seed=5)
    fgsm = create_attack("fgsm", gray_model, eps=4 / 255).perturb(x, y)
    pgd = create_attack("pgd", gray_model, eps=4 / 255, steps=10).perturb(x, y)
    assert int(fgsm.success.sum()) > 0                  # FGSM works on this model: the comparison means something
    assert int(pgd.success.sum()) >= int(fgsm.success.sum())


def test_vertical_perturbation_is_constant_down_columns(gray_model):
    x = 0.2 + 0.6 * torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(6))  # no clipping at 8/255
    y = correct_labels(gray_model, x)
    for variant in ("white_box", "black_box"):
        out = create_attack("vertical", gray_model, eps=8 / 255, variant=variant, n_queries=40).perturb(x, y)
        d = out.adv - x
        torch.testing.assert_close(d, d[:, :, :1].expand_as(d), atol=1e-6, rtol=0)
        out = create_attack("vertical", gray_model, eps=8 / 255, variant=variant, n_queries=40,
                            orientation="horizontal").perturb(x, y)
        d = out.adv - x
        torch.testing.assert_close(d, d[:, :, :, :1].expand_as(d), atol=1e-6, rtol=0)


def test_smia_with_beta_zero_equals_bim(gray_model):
    x, y = _batch(gray_model, n=8, seed=7)
    for norm, eps, alpha in (("linf", 6 / 255, 1 / 255), ("l2", 0.5, 0.1)):
        bim = create_attack("pgd", gray_model, norm=norm, eps=eps, alpha=alpha, steps=6, random_start=False).perturb(x, y)
        smia = create_attack("smia", gray_model, norm=norm, eps=eps, alpha=alpha, steps=6, beta=0.0).perturb(x, y)
        assert torch.equal(smia.adv, bim.adv)
        assert torch.equal(smia.queries, bim.queries)


def test_smia_stabilisation_changes_the_result_and_kernel_checks(gray_model):
    x, y = _batch(gray_model, n=8, seed=7)
    a = create_attack("smia", gray_model, eps=6 / 255, beta=0.0, early_stop=False).perturb(x, y)
    b = create_attack("smia", gray_model, eps=6 / 255, beta=5.0, early_stop=False).perturb(x, y)
    assert not torch.equal(a.adv, b.adv)
    with pytest.raises(AttackConfigError, match="odd"):
        create_attack("smia", gray_model, kernel_size=4)
    with pytest.raises(AttackConfigError, match="larger than the image"):
        create_attack("smia", gray_model, kernel_size=31).perturb(x, y)


def test_gaussian_smoothing_keeps_constants_and_works_for_one_and_three_channels():
    from medadv_desktop.engine.attacks.smia import gaussian_kernel, gaussian_smooth
    k = gaussian_kernel(5, 1.0)
    assert k.shape == (5, 5) and abs(float(k.sum()) - 1) < 1e-6 and torch.equal(k, k.t())
    for c in (1, 3):
        const = torch.full((2, c, 9, 9), 0.3)
        torch.testing.assert_close(gaussian_smooth(const, 5, 1.0), const)
    x = torch.zeros(1, 3, 9, 9)
    x[0, 1, 4, 4] = 1.0
    s = gaussian_smooth(x, 3, 1.0)
    assert float(s[0, 0].abs().max()) == 0.0 and float(s[0, 2].abs().max()) == 0.0   # depthwise
    assert abs(float(s[0, 1].sum()) - 1.0) < 1e-6
