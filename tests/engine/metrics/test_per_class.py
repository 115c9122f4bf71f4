"""Per-class clean and robust measures with intervals."""

import pytest

from medadv_desktop.engine.metrics import (
    WILSON, class_rates, clopper_pearson_interval, per_class_measures, robustness_by_class, wilson_interval)
from medadv_desktop.engine.results.evaluation import WORST_CASE, EvaluationResult, SampleRecord
from tests.engine.reports.fixtures import make_result


def _rec(i, attack, true, clean, adv, eps=0.01):
    success = None if clean != true else (adv != true)
    return SampleRecord(sample_id=f"s{i}", true_label=true, attack=attack, eps=eps, clean_pred=clean,
                        adv_pred=adv, clean_conf_true=0.9, adv_conf_true=0.5, success=success)


def test_class_rates_counts_and_intervals():
    y = [0, 0, 0, 1, 1, 2]
    p = [0, 0, 1, 1, 0, 2]
    a, b, c = class_rates(y, p, ["a", "b", "c"])
    assert (a.sensitivity.k, a.sensitivity.n, a.specificity.k, a.specificity.n) == (2, 3, 2, 3)
    assert (b.sensitivity.k, b.sensitivity.n, b.specificity.k, b.specificity.n) == (1, 2, 3, 4)
    assert (c.sensitivity.k, c.sensitivity.n) == (1, 1) and c.specificity.value == 1.0
    assert (a.sensitivity.low, a.sensitivity.high) == pytest.approx(clopper_pearson_interval(2, 3))
    w = class_rates(y, p, ["a", "b", "c"], method=WILSON)[1]
    assert (w.specificity.low, w.specificity.high) == pytest.approx(wilson_interval(3, 4))
    none = class_rates([0, 0], [0, 1], ["a", "b"])[1]
    assert none.sensitivity.n == 0 and none.sensitivity.value is None


def test_robust_rates_of_three_classes():
    # sample: true, clean, adversarial
    table = [(0, 0, 1), (0, 0, 0), (0, 1, 1), (1, 1, 1), (1, 1, 2), (2, 2, 0), (2, 2, 2), (2, 0, 0)]
    recs = [_rec(i, "pgd", *t) for i, t in enumerate(table)]
    r = robustness_by_class(recs, ["a", "b", "c"], attack="pgd", eps=0.01)
    assert (r.robust_accuracy.k, r.robust_accuracy.n) == (3, 8)
    assert (r.attack_success_rate.k, r.attack_success_rate.n) == (3, 6)   # 6 correct on clean input
    a = r.of("a")
    assert (a.sensitivity.k, a.sensitivity.n) == (1, 3)                   # only sample 1 still 'a'
    assert (a.specificity.k, a.specificity.n) == (3, 5)                   # samples 5 and 7 called 'a'
    assert r.caveat is not None and "more than two classes" in r.caveat


def test_per_class_measures_agree_with_the_summary_rows():
    res = make_result(n_samples=40)
    m = per_class_measures(res)
    assert m.n_samples == 40 and m.class_names == ("no_finding", "lesion")
    assert m.clean_accuracy.value == pytest.approx(res.clean_accuracy)
    for mine, theirs in zip(m.clean, res.per_class, strict=True):
        assert mine.sensitivity.value == pytest.approx(theirs.sensitivity)
        assert mine.specificity.value == pytest.approx(theirs.specificity)
    assert len(m.robust) == len(res.rows)          # every attack and the worst case, per eps
    for row in res.rows:
        r = m.at(row.attack, row.eps)
        assert r is not None and r.caveat is None
        assert r.robust_accuracy.value == pytest.approx(row.robust_accuracy), row.attack
        assert r.attack_success_rate.value == pytest.approx(row.attack_success_rate), row.attack
        for c, rates in enumerate(r.classes):      # robust sensitivity = diagonal of the transition matrix
            t = row.transitions[c]
            assert (rates.sensitivity.k, rates.sensitivity.n) == (t[c], sum(t))
            other = [row.transitions[j] for j in range(2) if j != c]
            assert rates.specificity.k == sum(sum(t2) - t2[c] for t2 in other)
        assert r.robust_accuracy.low <= r.robust_accuracy.value <= r.robust_accuracy.high
    wc = m.at(WORST_CASE, res.eps_grid[-1])
    assert wc.robust_accuracy.k <= min(m.at(a, res.eps_grid[-1]).robust_accuracy.k for a in res.attacks)


def test_cumulative_flag_and_json_round_trip():
    res = make_result(n_samples=12)
    for row in res.rows:
        if row.attack == "pgd":
            row.cumulative = True
    again = EvaluationResult.from_json(res.to_json())
    m = per_class_measures(again)
    assert m.at("pgd", res.eps_grid[0]).cumulative and not m.at("fgsm", res.eps_grid[0]).cumulative
    assert m.at(WORST_CASE, res.eps_grid[0]).robust_accuracy.value == pytest.approx(
        res.row(WORST_CASE, res.eps_grid[0]).robust_accuracy)


def test_without_samples_the_clean_rates_come_from_the_confusion_matrix():
    res = make_result(n_samples=12)
    res.samples = []
    m = per_class_measures(res)
    assert m.robust == ()
    assert m.clean_accuracy.value == pytest.approx(res.clean_accuracy) and m.clean_accuracy.n == 12
    assert m.clean_of("lesion").sensitivity.value == pytest.approx(res.per_class[1].sensitivity)


def test_paired_robustness_before_after_on_the_same_samples():
    from scipy import stats

    from medadv_desktop.engine.metrics import paired_robustness, records_at
    before = make_result(n_samples=24, seed=0, sample_prefix="S1")
    after = make_result(n_samples=24, seed=5, sample_prefix="S1")
    eps = before.eps_grid[-1]
    b = {r.sample_id: r.adv_pred == r.true_label == r.clean_pred for r in records_at(before, WORST_CASE, eps)}
    a = {r.sample_id: r.adv_pred == r.true_label == r.clean_pred for r in records_at(after, WORST_CASE, eps)}
    lost = sum(1 for i in b if b[i] and not a[i])
    gained = sum(1 for i in b if a[i] and not b[i])
    cmp = paired_robustness(before, after, attack=WORST_CASE, eps=eps)
    assert (cmp.only_before, cmp.only_after, cmp.n) == (lost, gained, 24)
    assert cmp.after.value - cmp.before.value == pytest.approx(cmp.difference)
    assert cmp.before.value == pytest.approx(before.row(WORST_CASE, eps).robust_accuracy)
    ref = stats.binomtest(min(lost, gained), lost + gained, 0.5).pvalue if lost + gained else 1.0
    assert cmp.p_value == pytest.approx(ref)
    assert cmp.caution() is not None and "n = 24" in cmp.caution()
    clean = paired_robustness(before, after)             # same clean predictions in both fixtures
    assert clean.only_before == clean.only_after == 0 and clean.p_value == 1.0
    other = make_result(n_samples=24, sample_prefix="S2")
    with pytest.raises(ValueError, match="not the same samples"):
        paired_robustness(before, other)
