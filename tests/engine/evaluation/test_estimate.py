"""The time estimate said before an evaluation starts: each attack's most model calls per sample, and the
upper bound built from them. Counted model calls of real attack runs never exceed the declared ones, so
the bound stays a bound (no wall-clock assertions)."""

from __future__ import annotations

import pytest
import torch

from medadv_desktop.engine.attacks import available, get_attack
from medadv_desktop.engine.evaluation.estimate import (
    CallSeconds, attack_seconds_upper_bound, measure_call_seconds, model_calls_per_sample)
from tests.engine.attacks.conftest import TinyCNN


def test_declared_model_calls_follow_the_settings():
    assert get_attack("fgsm").model_calls({}, 2) == (2, 1)
    assert get_attack("pgd").model_calls({"steps": 10}, 2) == (2, 10)
    assert get_attack("pgd").model_calls({"steps": 10, "restarts": 3}, 2) == (4, 30)
    assert get_attack("square").model_calls({"n_queries": 5000}, 2) == (5001, 0)
    # targets: at most K - 1 of the requested ones
    assert get_attack("apgd-t").model_calls({}, 2)[1] == 100
    assert get_attack("apgd-t").model_calls({}, 10)[1] == 9 * 100
    assert get_attack("fab-t").model_calls({"n_target_classes": 3}, 10)[1] == 3 * 100
    assert get_attack("vertical").model_calls({"variant": "black_box", "n_queries": 30}, 2) == (31, 0)
    assert model_calls_per_sample([("fgsm", {}), ("square", {"n_queries": 100})], 2) == (2 + 101, 1)


def test_the_upper_bound_multiplies_calls_batches_budgets_and_models():
    speed = CallSeconds(batch=32, forward_s=0.01, gradient_s=0.03)
    attacks = [("pgd", {"steps": 10})]                                   # 2 forwards + 10 gradients a sample
    one = attack_seconds_upper_bound(attacks, speed, n_samples=64, n_eps=1, n_classes=2, batch_size=32)
    assert one == pytest.approx(2 * (2 * 0.01 + 10 * 0.03))               # two batches
    both = attack_seconds_upper_bound(attacks, speed, n_samples=64, n_eps=3, n_classes=2, batch_size=32,
                                      n_models=2)
    assert both == pytest.approx(6 * one)
    # a smaller last batch is charged as a whole one; a batch of 16 at half the measured batch's time
    assert attack_seconds_upper_bound(attacks, speed, n_samples=16, n_eps=1, n_classes=2,
                                      batch_size=16) == pytest.approx(0.5 * (2 * 0.01 + 10 * 0.03))


def test_measuring_restores_the_models_mode_and_flags():
    model = TinyCNN(1, 3).train()
    flags = [p.requires_grad for p in model.parameters()]
    speed = measure_call_seconds(model, torch.rand(4, 1, 16, 16))
    assert speed.batch == 4 and speed.forward_s > 0 and speed.gradient_s > 0
    assert model.training and [p.requires_grad for p in model.parameters()] == flags


@pytest.mark.parametrize("name", [n for n in available()])
def test_a_real_run_never_costs_more_model_calls_than_declared(name):
    """Every attack, with its cheap settings and early stopping off (every sample runs to the end), calls
    the model on at most the declared number of sample-rows: the estimate is an upper bound."""
    cls = get_attack(name)
    model = TinyCNN(1, 4).eval()
    rows = [0]
    model.register_forward_hook(lambda _m, inputs, _out: rows.__setitem__(0, rows[0] + int(inputs[0].shape[0])))
    x = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x).argmax(1)
    for settings in cls.fast_settings:
        params = {"eps": 8 / 255, "early_stop": False, **settings}
        rows[0] = 0
        cls(model, **params).perturb(x, y)
        forwards, gradients = cls.model_calls(params, 4)
        assert rows[0] <= (forwards + gradients) * len(x), (name, settings, rows[0] / len(x), forwards, gradients)
