import threading
import time

import numpy as np
import pytest

from medadv_desktop.engine.evaluation import WORST_CASE, EvaluationResult, evaluate_job
from medadv_desktop.engine.jobs import CancelToken, run_job
from medadv_desktop.errors import AttackConfigError, JobCancelled

from .conftest import MeanModel, mean_dataset

EPS = [1 / 255, 8 / 255, 24 / 255]
ATTACKS = [("fgsm", {}), ("pgd", {"steps": 5, "random_start": False})]


def _run(model, ds, attacks=ATTACKS, eps=EPS, **kw):
    events = []
    result = run_job(evaluate_job(model, ds, attacks, eps, batch_size=8, **kw), events.append)
    return result, events


def test_rows_worst_case_and_expected_numbers(mean_model, mean_data):
    ds, means = mean_data
    result, events = _run(mean_model, ds)
    n = len(ds)
    assert result.n_samples == n and result.clean_accuracy == pytest.approx((n - 2) / n)
    assert len(result.rows) == len(EPS) * 3
    assert len(result.samples) == len(EPS) * 2 * n
    correct = np.ones(n, bool)
    correct[:2] = False
    for eps in EPS:
        f, p, w = result.row("fgsm", eps), result.row("pgd", eps), result.row(WORST_CASE, eps)
        assert w.robust_accuracy <= min(f.robust_accuracy, p.robust_accuracy) + 1e-12
        expected = np.sum(correct & (np.abs(means - 0.5) > eps + 1e-6)) / n
        assert f.robust_accuracy == pytest.approx(expected, abs=1.5 / n)
        assert f.mean_linf <= eps + 1e-6
        assert f.eps_native is None            # no model card: no window, a.u.
        assert f.attack_success_rate == pytest.approx(1 - f.robust_accuracy * n / (n - 2))
    ras = [result.row("fgsm", e).robust_accuracy for e in EPS]
    assert ras == sorted(ras, reverse=True)
    assert result.units == "a.u." and result.flags == []
    assert result.examples and all(len(e.original) == 16 for e in result.examples)
    assert result.dataset.counts == {"dark": ds.class_counts()["dark"], "bright": ds.class_counts()["bright"]}
    assert result.provenance.seed == 0 and "T" in result.provenance.date_utc
    assert result.attack_details("pgd").params["steps"] == 5
    ev = [e for e in events if e.stage == "evaluate"]
    assert ev[-1].fraction == pytest.approx(1.0) and "eta_s" in ev[-1].data
    assert all(b.done >= a.done for a, b in zip(ev, ev[1:]))


def test_json_round_trip(mean_model, mean_data, tmp_path):
    result, _ = _run(mean_model, mean_data[0], eps=EPS[:2])
    text = result.to_json()
    back = EvaluationResult.from_json(text)
    assert back.to_json() == text
    assert back.row(WORST_CASE, EPS[0]).robust_accuracy == result.row(WORST_CASE, EPS[0]).robust_accuracy
    path = result.save(tmp_path / "r.json")
    assert EvaluationResult.load(path).n_samples == result.n_samples
    from medadv_desktop.errors import OutputExistsError
    with pytest.raises(OutputExistsError):
        result.save(path)


def test_default_attack_cascade_is_exact_worst_case(mean_model, mean_data):
    """Default: the attack cascade (later rows cumulative); full_rows=True: each attack's own row.
    Both (and the plain loop) agree on the worst case."""
    ds, _ = mean_data
    grid = EPS[1:]
    default, _ = _run(mean_model, ds, eps=grid)
    full, _ = _run(mean_model, ds, eps=grid, full_rows=True)
    plain, _ = _run(mean_model, ds, eps=grid, cascade=False, full_rows=True)
    assert default.provenance.full_rows is False and full.provenance.full_rows is True
    for eps in grid:
        w = full.row(WORST_CASE, eps).robust_accuracy
        assert default.row(WORST_CASE, eps).robust_accuracy == pytest.approx(w)
        assert plain.row(WORST_CASE, eps).robust_accuracy >= w - 1e-12   # eps reuse only helps
        # the first attack's row is its own, later rows are cumulative (robust after attacks 1..k)
        assert not default.row("fgsm", eps).cumulative and default.row("pgd", eps).cumulative
        assert not any(r.cumulative for r in full.rows)
        assert default.row("fgsm", eps).robust_accuracy == pytest.approx(full.row("fgsm", eps).robust_accuracy)
        assert default.row("pgd", eps).robust_accuracy == pytest.approx(w)   # the last cumulative row
        assert not default.row(WORST_CASE, eps).cumulative
        # worst case = robust to every attack, computed from the per-sample records
        recs = {}
        for r in full.samples:
            if r.eps == eps:
                recs.setdefault(r.sample_id, []).append(r)
        robust = sum(all(r.adv_pred == r.true_label for r in rs) and rs[0].clean_pred == rs[0].true_label
                     for rs in recs.values())
        assert w == pytest.approx(robust / full.n_samples)
    # later attacks only run on the samples still robust: no more work than every attack on every sample
    q_full = sum(r.queries for r in full.samples if r.attack == "pgd")
    q_default = sum(r.queries for r in default.samples if r.attack == "pgd")
    assert q_default <= q_full
    assert EvaluationResult.from_json(default.to_json()).row("pgd", grid[0]).cumulative


def test_probability_model_is_flagged(mean_data):
    result, _ = _run(MeanModel(softmax=True), mean_data[0], attacks=[("fgsm", {})], eps=[4 / 255])
    assert "probabilities" in [f.code for f in result.flags]


def test_bad_config_fails_before_work(mean_model, mean_data):
    with pytest.raises(AttackConfigError):
        run_job(evaluate_job(mean_model, mean_data[0], [("nope", {})], [0.01]))
    with pytest.raises(AttackConfigError):
        run_job(evaluate_job(mean_model, mean_data[0], ATTACKS, [2.0]))


def test_cancel_mid_attack_is_prompt():
    ds, _ = mean_dataset(n=64, size=32)
    token = CancelToken()
    job = evaluate_job(MeanModel(a=0.5), ds, [("pgd", {"steps": 10000, "random_start": False})], [1 / 255],
                       batch_size=64, cancel=token)
    timer = threading.Timer(0.5, token.cancel)
    t0 = time.perf_counter()
    timer.start()
    with pytest.raises(JobCancelled):
        run_job(job)
    assert time.perf_counter() - t0 < 5.0


def test_black_box_beats_masked_gradients_end_to_end():
    from .conftest import MaskedMeanModel

    ds, _ = mean_dataset(n=16, size=8, wrong=0)
    result, _ = _run(MaskedMeanModel(), ds, attacks=[("fgsm", {}), ("square", {"n_queries": 60, "p_init": 0.3})],
                     eps=[24 / 255])
    codes = [f.code for f in result.flags]
    assert "zero_gradients" in codes and "black_box_beats_white_box" in codes
    assert result.row("square", 24 / 255).robust_accuracy < result.row("fgsm", 24 / 255).robust_accuracy
    assert {a.attack: a.black_box for a in result.attack_info} == {"fgsm": False, "square": True}
