"""engine/perturbation.py on real attacks: an L-inf FGSM is recognised as a uniform |delta| (no wash is drawn),
an L2 FGSM is not, the signed display range is symmetric and robust, the attribution is |delta x gradient|."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from medadv_desktop.engine.attacks import create_attack
from medadv_desktop.engine.perturbation import (
    attribution_map, is_uniform_magnitude, overlay_map, signed_delta, summarize, symmetric_range,
)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                          nn.Linear(64, 3)).eval()
    x = 0.2 + 0.6 * torch.rand(2, 1, 32, 32)          # away from 0 and 1: the clip changes nothing
    y = torch.tensor([0, 1])
    return model, x, y


def _attack(tiny, norm, eps):
    model, x, y = tiny
    out = create_attack("fgsm", model, eps=eps, norm=norm, early_stop=False, fold_bn=False).perturb(x, y)
    return x[0, 0].numpy() * 400 - 160, out.adv[0, 0].numpy() * 400 - 160     # as HU through a 40/400 window


def test_linf_fgsm_is_uniform_and_gets_no_magnitude_overlay(tiny):
    clean, adv = _attack(tiny, "linf", 4 / 255)
    delta = signed_delta(clean, adv)
    assert is_uniform_magnitude(delta)
    eps_hu = 4 / 255 * 400
    assert np.abs(delta).max() == pytest.approx(eps_hu, rel=1e-3)
    assert symmetric_range(delta) == pytest.approx(eps_hu, rel=1e-3)
    overlay = overlay_map(clean, adv, units="HU")
    assert overlay.array is None and overlay.kind == "none"
    assert "L∞" in overlay.label and "uniform" in overlay.label
    s = summarize(clean, adv)
    assert s.uniform and s.changed_fraction > 0.95 and s.linf == pytest.approx(eps_hu, rel=1e-3)


def test_l2_fgsm_is_not_uniform_and_shows_its_magnitude(tiny):
    clean, adv = _attack(tiny, "l2", 0.5)
    delta = signed_delta(clean, adv)
    assert not is_uniform_magnitude(delta)
    overlay = overlay_map(clean, adv, units="HU")
    assert overlay.kind == "magnitude" and overlay.label == "|Δ| HU"
    np.testing.assert_allclose(overlay.array, np.abs(adv - clean), rtol=1e-6)
    assert overlay.levels == (0.0, pytest.approx(symmetric_range(delta)))


def test_attribution_from_the_real_input_gradient(tiny):
    model, x, y = tiny
    clean, adv = _attack(tiny, "linf", 4 / 255)
    xg = x[:1].clone().requires_grad_(True)
    loss = nn.functional.cross_entropy(model(xg), y[:1])
    grad = torch.autograd.grad(loss, xg)[0][0, 0].numpy() / 400     # d loss / d HU
    overlay = overlay_map(clean, adv, units="HU", gradient=grad)
    assert overlay.kind == "attribution" and "∂loss" in overlay.label
    np.testing.assert_allclose(overlay.array, np.abs((adv - clean) * grad), rtol=1e-5, atol=1e-12)
    # it is not flat where |delta| is: it follows the gradient
    assert overlay.array.std() > 0.1 * overlay.array.mean()
    # first order: the sum of delta x gradient approximates the loss change of this small step
    with torch.no_grad():
        adv_t = torch.from_numpy((adv + 160) / 400)[None, None]
        change = float(nn.functional.cross_entropy(model(adv_t), y[:1]) - loss)
    assert float(((adv - clean) * grad).sum()) == pytest.approx(change, rel=0.2)


def test_symmetric_range_is_robust_to_one_outlier():
    delta = np.zeros((100, 100), np.float32)
    delta[:50] = np.linspace(-5, 5, 5000).reshape(50, 100)
    delta[99, 99] = 1000.0
    r = symmetric_range(delta)
    assert 4.5 < r < 6
    few = np.zeros((64, 64), np.float32)
    few[3, 3] = -2.0                                    # a one-pixel change is not mapped to white
    assert symmetric_range(few) == pytest.approx(2.0)
    assert symmetric_range(np.zeros((4, 4))) == 1.0


def test_colour_keeps_the_largest_channel_change_with_its_sign():
    clean = np.zeros((2, 2, 3), np.float32)
    adv = clean.copy()
    adv[0, 0] = (1, -3, 2)
    adv[1, 1] = (0.5, 0.5, 0.5)
    np.testing.assert_array_equal(signed_delta(clean, adv), [[-3, 0], [0, 0.5]])
    assert attribution_map(adv - clean, np.ones_like(adv))[0, 0] == pytest.approx(6)
    with pytest.raises(ValueError, match="shape"):
        signed_delta(clean, adv[:1])
    assert overlay_map(clean, clean).kind == "none"
