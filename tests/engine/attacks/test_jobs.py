"""Job behaviour of attacks: progress, cancellation, restored model state, early stop, queries, seeds."""

from __future__ import annotations

import pytest
import torch

from medadv_desktop.engine.attacks import create_attack, parse_budget
from medadv_desktop.engine.jobs import CancelToken, ProgressCallback
from medadv_desktop.errors import AttackConfigError, JobCancelled, ModelInputError

from .conftest import TinyCNN, correct_labels

LONG = [("pgd", {"steps": 50}), ("square", {"n_queries": 500}), ("vertical", {"steps": 50}),
        ("vertical", {"variant": "black_box", "n_queries": 500}), ("smia", {"steps": 50, "kernel_size": 3}),
        ("fgsm", {})]


@pytest.mark.parametrize("name,params", LONG, ids=[f"{n}-{i}" for i, (n, _) in enumerate(LONG)])
def test_cancel_raises_promptly_and_restores_train_mode_and_grad_flags(name, params):
    model = TinyCNN(1, 3).train()
    model.head.weight.requires_grad_(False)            # a user's frozen layer stays frozen
    x = torch.rand(4, 1, 16, 16)
    y = torch.zeros(4, dtype=torch.long)
    token = CancelToken()
    events = []

    def on_event(event):
        events.append(event)
        token.cancel()

    with pytest.raises(JobCancelled):
        create_attack(name, model, eps=8 / 255, early_stop=False, **params).perturb(
            x, y, ProgressCallback(token, on_event))
    assert len(events) <= 2
    assert model.training and model.features.training
    assert model.features[0].weight.requires_grad and not model.head.weight.requires_grad
    # a finished attack restores the same state, and BatchNorm statistics were not updated
    mean = model.features[3].running_mean.clone()
    create_attack(name, model, eps=8 / 255, **{k: min(v, 3) if isinstance(v, int) else v for k, v in params.items()}).perturb(x, y)
    assert model.training and torch.equal(model.features[3].running_mean, mean)


@pytest.mark.parametrize("name,params,total", [("pgd", {"steps": 5}, 5), ("square", {"n_queries": 20}, 20),
                                               ("smia", {"steps": 5, "kernel_size": 3}, 5)])
def test_progress_events(gray_model, gray_batch, name, params, total):
    x, y = gray_batch
    events = []
    create_attack(name, gray_model, eps=1 / 255, early_stop=False, **params).perturb(
        x, y, ProgressCallback(callback=events.append))
    assert events and all(e.stage == "attack" and e.total == total for e in events)
    assert [e.done for e in events] == sorted(e.done for e in events) and events[0].done < total
    last = events[-1]
    assert last.done == total and last.fraction == 1.0
    assert last.data["samples"] == len(y) and 0 <= last.data["fooled"] <= len(y)
    assert f"step {total}/{total}" in last.message and f"{last.data['fooled']}/{len(y)} samples fooled" in last.message


def test_progress_events_are_queued_without_a_callback(gray_model, gray_batch):
    x, y = gray_batch
    progress = ProgressCallback()
    create_attack("pgd", gray_model, steps=3, early_stop=False).perturb(x, y, progress)
    events = progress.drain()
    assert events and all(e.stage == "attack" and e.total == 3 for e in events)
    assert events[0].done == 0 and events[-1].done == 3 and events[-1].data["samples"] == len(y)
    assert progress.drain() == []


def test_early_stop_freezes_fooled_samples_at_their_first_fooling_iterate():
    model = TinyCNN(1, 3, seed=4).eval()
    x = torch.rand(12, 1, 16, 16, generator=torch.Generator().manual_seed(11))
    y = correct_labels(model, x)
    kw = dict(eps=2 / 255, alpha=0.5 / 255, random_start=False)
    out = create_attack("pgd", model, steps=10, **kw).perturb(x, y)
    full = create_attack("pgd", model, steps=10, early_stop=False, **kw).perturb(x, y)
    assert out.success.any() and not out.success.all()
    assert bool((full.queries == 11).all())
    checked = 0
    for i in out.success.nonzero().flatten().tolist():
        k = int(out.queries[i]) - 1           # forwards spent = iterates evaluated; the last one fooled
        assert k < 10
        ref = create_attack("pgd", model, steps=max(k, 1), early_stop=False, **kw).perturb(x[i:i + 1], y[i:i + 1])
        expected = x[i:i + 1] if k == 0 else ref.adv
        torch.testing.assert_close(out.adv[i:i + 1], expected, atol=1e-6, rtol=0)
        checked += 1
    assert checked
    # unfooled samples got every step
    assert bool((out.queries[~out.success] == 11).all())


def test_square_counts_queries_per_sample_and_stops_at_success(gray_model):
    x = torch.rand(16, 1, 16, 16, generator=torch.Generator().manual_seed(12))
    y = correct_labels(gray_model, x)
    out = create_attack("square", gray_model, eps=16 / 255, n_queries=80, p_init=0.3).perturb(x, y)
    assert bool((out.queries >= 1).all()) and bool((out.queries <= 80).all())
    assert bool((out.queries[~out.success] == 80).all())
    assert out.success.any() and bool((out.queries[out.success] < 80).any())
    # the Square schedule is rescaled to the budget, so smaller budgets take other paths;
    # what must hold is that a fooled sample spent fewer queries than an unfooled one


def test_seeded_and_global_rng_untouched(gray_model, gray_batch):
    x, y = gray_batch
    state = torch.get_rng_state()
    a = create_attack("square", gray_model, eps=8 / 255, n_queries=30, seed=3).perturb(x, y)
    b = create_attack("square", gray_model, eps=8 / 255, n_queries=30, seed=3).perturb(x, y)
    c = create_attack("square", gray_model, eps=8 / 255, n_queries=30, seed=4).perturb(x, y)
    d = create_attack("pgd", gray_model, eps=8 / 255, steps=2, seed=3).perturb(x, y)
    e = create_attack("pgd", gray_model, eps=8 / 255, steps=2, seed=3).perturb(x, y)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.adv, b.adv) and not torch.equal(a.adv, c.adv) and torch.equal(d.adv, e.adv)


def test_parameters_are_validated_with_named_errors(gray_model, gray_batch):
    with pytest.raises(AttackConfigError, match="steps"):
        create_attack("pgd", gray_model, steps=0)
    with pytest.raises(AttackConfigError, match="unknown parameter"):
        create_attack("fgsm", gray_model, steps=3)
    with pytest.raises(AttackConfigError, match="variant"):
        create_attack("vertical", gray_model, variant="sideways")
    x, y = gray_batch
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ModelInputError):
        create_attack("fgsm", gray_model).perturb(bad, y)


def test_parse_budget_units():
    assert parse_budget("4/255") == pytest.approx(4 / 255)
    assert parse_budget("6HU", native_per_unit=400, units="HU") == pytest.approx(6 / 400)
    with pytest.raises(AttackConfigError):
        parse_budget("6HU")
