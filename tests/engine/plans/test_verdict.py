"""Applying test plans to evaluation results: verdict rows, overall verdict, exit code."""

import json

import pytest
from scipy import stats

from medadv_desktop.engine.metrics import worst_case_records
from medadv_desktop.engine.plans import (
    EXIT_FAIL, EXIT_PASS, FAIL, NOT_EVALUABLE, PASS, check_plan_fits, evaluate_plan, exit_code, parse_plan)
from medadv_desktop.engine.results import IntensitySummary
from medadv_desktop.engine.results.evaluation import WORST_CASE
from tests.engine.reports.fixtures import make_result


def plan(*criteria, **head):
    return parse_plan({"plan": {"title": "Test", "version": "1", **head}, "criteria": list(criteria)})


def robust_sens(threshold, **kw):
    return {"metric": "robust_sensitivity", "class": "lesion", "eps": "2/255", "comparison": ">=",
            "threshold": threshold, **kw}


@pytest.fixture(scope="module")
def result():
    return make_result(n_samples=40)


def _worst_lesion_counts(res, eps):
    per_attack = [[s for s in res.samples if s.attack == a and abs(s.eps - eps) < 1e-12] for a in res.attacks]
    wc = worst_case_records(per_attack)
    k = sum(1 for r in wc if r.true_label == 1 and r.adv_pred == 1)
    return k, sum(1 for r in wc if r.true_label == 1)


def test_failing_plan_gives_a_fail_row_and_exit_code_3(result):
    k, n = _worst_lesion_counts(result, 2 / 255)
    v = evaluate_plan(plan({"metric": "clean_accuracy", "comparison": ">=", "threshold": 0.5},
                           robust_sens(0.99)), result)
    assert [r.status for r in v.rows] == [PASS, FAIL]
    assert v.status == FAIL and v.exit_code == EXIT_FAIL == exit_code(v) == 3
    row = v.rows[1]
    assert row.status_word == "FAIL" and (row.k, row.n) == (k, n)
    exact_low = stats.beta.ppf(0.025, k, n - k + 1) if k else 0.0
    assert row.compared == pytest.approx(exact_low, rel=1e-9) and row.low == row.compared
    assert row.measured == pytest.approx(k / n)
    assert row.text == ("Worst-case robust sensitivity of class 'lesion' at eps 2/255 (3.14 HU) >= 99 % "
                        "(lower 95 % bound)")
    assert row.reason.startswith("lower 95 % bound") and "is below 99 %" in row.reason and f"({k} of {n})" in row.reason
    assert any("Worst case over the attacks run: fgsm, pgd, square" in t for t in row.notes)
    assert v.summary().endswith("FAIL (1 pass, 1 fail, 0 not evaluable)")


def test_passing_plan_exit_code_0(result):
    v = evaluate_plan(plan({"metric": "clean_accuracy", "comparison": ">=", "threshold": 0.5},
                           robust_sens(0.0),
                           {"metric": "attack_success_rate", "attack": "fgsm", "eps": "1/255", "comparison": "<=",
                            "threshold": 1.0},
                           {"metric": "no_sanity_flag", "codes": ["zero_gradients", "probabilities"]}), result)
    assert v.status == PASS and v.exit_code == EXIT_PASS == 0
    assert all(r.status == PASS for r in v.rows)
    assert "no sanity flag raised" in v.rows[-1].reason
    assert v.plan_sha256 and v.plan_title == "Test"


def test_bound_choice_decides(result):
    """The same rate passes on the point estimate and fails on the lower bound."""
    k, n = _worst_lesion_counts(result, 2 / 255)
    point = k / n
    assert 0 < point < 1
    low = stats.beta.ppf(0.025, k, n - k + 1)
    mid = (low + point) / 2
    v = evaluate_plan(plan(robust_sens(mid, bound="point"), robust_sens(mid, bound="lower", id="L")), result)
    assert [r.status for r in v.rows] == [PASS, FAIL]
    wilson = evaluate_plan(plan(robust_sens(mid), interval="wilson"), result).rows[0]
    assert wilson.low == pytest.approx(stats.binomtest(k, n).proportion_ci(0.95, "wilson").low)


def test_not_evaluable_rows_say_why_and_never_pass_the_gate(result):
    v = evaluate_plan(plan(
        robust_sens(0.5, **{"class": "nodule"}),
        robust_sens(0.5, eps="8/255", id="E"),
        robust_sens(0.5, attack="apgd", id="A"),
        robust_sens(0.1, min_samples=1000, id="M"),
        {"metric": "clean_accuracy", "comparison": ">=", "threshold": 0.1}), result)
    statuses = [r.status for r in v.rows]
    assert statuses == [NOT_EVALUABLE] * 4 + [PASS]
    reasons = [r.reason for r in v.rows]
    assert "class 'nodule' is not one of the model's classes (no_finding, lesion)" in reasons[0]
    assert "eps 8/255" in reasons[1] and "was not evaluated" in reasons[1] and "2/255 (3.14 HU)" in reasons[1]
    assert "attack 'apgd' was not run (attacks: fgsm, pgd, square)" in reasons[2]
    assert "only 20 samples of class 'lesion'; the plan asks for at least 1000" in reasons[3]
    assert v.status == NOT_EVALUABLE and v.exit_code == EXIT_FAIL
    assert all(r.status_word == "NOT EVALUABLE" for r in v.rows[:4])


def test_eps_in_native_units_and_decimals_match_the_grid(result):
    v = evaluate_plan(plan(robust_sens(0.0, eps="3.1HU"), robust_sens(0.0, eps="0.0078", id="D"),
                           robust_sens(0.0, eps=0.00784313725490196, id="F"),
                           robust_sens(0.0, eps="0.01", id="X"), robust_sens(0.0, eps="5HU", id="Y"),
                           robust_sens(0.0, eps="3.1mm", id="U")), result)
    assert [r.status for r in v.rows] == [PASS, PASS, PASS, NOT_EVALUABLE, NOT_EVALUABLE, NOT_EVALUABLE]
    assert all(r.eps == pytest.approx(2 / 255) for r in v.rows[:3])
    assert v.rows[0].eps_native == pytest.approx(2 / 255 * 400)
    assert "does not match the study's units 'HU'" in v.rows[5].reason
    # a per-image intensity mapping has no HU: a budget in HU cannot be evaluated
    per_image = make_result(n_samples=12)
    per_image.eps_native = [None] * len(per_image.eps_grid)
    per_image.model.intensity = IntensitySummary(mode="minmax")
    row = evaluate_plan(plan(robust_sens(0.0, eps="3.1HU")), per_image).rows[0]
    assert row.status == NOT_EVALUABLE and "native units" in row.reason


def test_sanity_flag_criterion(result):
    assert [f.code for f in result.flags] == ["black_box_beats_white_box"]
    v = evaluate_plan(plan({"metric": "no_sanity_flag"},
                           {"metric": "no_sanity_flag", "codes": ["zero_gradients"]}), result)
    assert [r.status for r in v.rows] == [FAIL, PASS]
    assert "1 sanity flag raised (black_box_beats_white_box: " in v.rows[0].reason
    assert v.rows[0].text == "No sanity flag" and v.rows[1].text == "No sanity flag of the kind zero_gradients"


def test_cumulative_rows_and_small_samples_are_noted():
    res = make_result(n_samples=12)
    for r in res.rows:
        r.cumulative = r.attack in ("pgd", "square")
    v = evaluate_plan(plan({"metric": "attack_success_rate", "attack": "pgd", "eps": "2/255",
                            "comparison": "<=", "threshold": 1.0}), res)
    row = v.rows[0]
    assert row.status == PASS
    assert any("attack cascade (fgsm, pgd)" in t for t in row.notes)
    assert any(t.startswith("Few samples (n = ") or t.startswith("Very few samples") for t in row.notes)


def test_balanced_accuracy_point_only(result):
    v = evaluate_plan(plan({"metric": "balanced_accuracy", "comparison": ">=", "threshold": 0.5}), result)
    assert v.rows[0].status == PASS and v.rows[0].measured == pytest.approx(result.balanced_accuracy)
    assert v.rows[0].low is None and "point estimate" in v.rows[0].text


def test_verdict_is_json_serialisable(result):
    from medadv_desktop.engine.serialization import dumps
    v = evaluate_plan(plan(robust_sens(0.5)), result)
    data = json.loads(dumps(v))
    assert data["status"] == v.status and data["rows"][0]["criterion_id"] == "C1"


def test_check_plan_fits_before_the_run():
    p = plan(robust_sens(0.5, **{"class": "nodule"}), robust_sens(0.5, eps="4/255", id="E"),
             robust_sens(0.5, attack="square", id="A"), robust_sens(0.5, eps="3.1HU", id="H"),
             {"metric": "clean_accuracy", "comparison": ">=", "threshold": 0.9})
    problems = check_plan_fits(p, class_names=["no_finding", "lesion"], attacks=["FGSM", "pgd"],
                               eps_grid=[1 / 255, 2 / 255], native_per_unit=400.0, units="HU")
    assert len(problems) == 3
    assert problems[0].startswith("criteria[0].class: 'nodule'")
    assert problems[1].startswith("criteria[1].eps: eps 4/255")
    assert problems[2].startswith("criteria[2].attack: 'square' is not among the attacks to run (fgsm, pgd)")
    assert check_plan_fits(p, class_names=["no_finding", "lesion", "nodule"], attacks=["fgsm", "square"],
                           eps_grid=[2 / 255, 4 / 255], native_per_unit=400.0, units="HU") == []
    assert WORST_CASE == p.criteria[0].attack


def test_reason_never_rounds_onto_the_threshold():
    from medadv_desktop.engine.plans.verdict import _pct_beside
    assert _pct_beside(0.79996, 0.80) == "79.996"
    assert _pct_beside(0.8, 0.80) == "80.0"
    assert _pct_beside(0.723, 0.80) == "72.3"


def test_at_plan_is_the_one_home_of_a_verdicts_interval():
    """A rate measured at the plan's method and confidence is reused as is; any other k-of-n rate (a
    corruption row's Rate, an interval at another level) is recomputed from its counts."""
    from medadv_desktop.engine.metrics.intervals import proportion
    from medadv_desktop.engine.plans import parse_plan
    from medadv_desktop.engine.plans.verdict import at_plan
    from medadv_desktop.engine.results.corruption import Rate

    crit = {"metric": "clean_accuracy", "comparison": ">=", "threshold": 0.5}
    exact = parse_plan({"plan": {"title": "t"}, "criteria": [crit]})
    wilson = parse_plan({"plan": {"title": "t", "interval": "wilson", "confidence": 0.9}, "criteria": [crit]})
    p = proportion(17, 20)
    assert at_plan(p, exact) is p
    w = at_plan(p, wilson)
    assert (w.method, w.confidence) == ("wilson", 0.9)
    assert (w.low, w.high) == (proportion(17, 20, confidence=0.9, method="wilson").low,
                               proportion(17, 20, confidence=0.9, method="wilson").high)
    row = Rate(k=17, n=20, value=0.85, low=p.low, high=p.high)          # as a corruption row stores it
    assert at_plan(row, exact) == p and at_plan(row, wilson) == w
