import pytest

from medadv_desktop.engine.results.evaluation import WORST_CASE, SampleRecord
from medadv_desktop.engine.metrics import (
    classification_summary, summarize_records, transition_matrix, worst_case_records)


def test_classification_summary_per_class():
    y = [0, 0, 0, 1, 1, 2]
    p = [0, 0, 1, 1, 0, 2]
    s = classification_summary(y, p, ["a", "b", "c"])
    assert s.accuracy == pytest.approx(4 / 6)
    a, b, c = s.per_class
    assert [(m.class_name, m.index) for m in s.per_class] == [("a", 0), ("b", 1), ("c", 2)]
    assert a.n == 3 and a.sensitivity == pytest.approx(2 / 3)
    assert a.specificity == pytest.approx(2 / 3)      # negatives 1,1,2 -> preds 1,0,2 -> 2 not 'a'
    assert b.sensitivity == pytest.approx(0.5) and b.specificity == pytest.approx(3 / 4)
    assert c.sensitivity == 1.0 and c.specificity == 1.0
    assert s.balanced_accuracy == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert s.confusion == [[2, 1, 0], [1, 1, 0], [0, 0, 1]]


def test_class_absent_has_no_sensitivity():
    s = classification_summary([0, 0], [0, 1], ["a", "b"])
    assert s.per_class[1].sensitivity is None
    assert s.balanced_accuracy == pytest.approx(0.5)


def test_transition_matrix():
    assert transition_matrix([0, 1, 1, 0], [1, 1, 0, 0], 2) == [[1, 1], [1, 1]]


def _rec(i, attack, true, clean, adv, success, linf=0.01, q=10):
    return SampleRecord(sample_id=f"s{i}", true_label=true, attack=attack, eps=0.01, clean_pred=clean,
                        adv_pred=adv, clean_conf_true=0.9, adv_conf_true=0.4 if adv != true else 0.8,
                        success=success, linf=linf, l2=2 * linf, queries=q, time_s=0.1)


def test_summarize_records_and_worst_case():
    fgsm = [_rec(0, "fgsm", 0, 0, 1, True, q=1), _rec(1, "fgsm", 1, 1, 1, False, q=1),
            _rec(2, "fgsm", 1, 0, 0, None, linf=0.0, q=0), _rec(3, "fgsm", 0, 0, 0, False, q=1)]
    square = [_rec(0, "square", 0, 0, 0, False, q=100), _rec(1, "square", 1, 1, 0, True, q=30),
              _rec(2, "square", 1, 0, 0, None, linf=0.0, q=0), _rec(3, "square", 0, 0, 0, False, q=100)]
    row = summarize_records(fgsm, "fgsm", 0.01, 4.0, 2)
    assert row.n_samples == 4
    assert row.robust_accuracy == pytest.approx(2 / 4)
    assert row.attack_success_rate == pytest.approx(1 / 3)
    assert row.mean_linf == pytest.approx(0.01)          # over the 3 attacked samples
    assert row.mean_queries == pytest.approx(1.0)
    assert row.mean_conf_drop == pytest.approx((0.5 + 0.1 + 0.1) / 3)
    assert row.transitions == [[1, 1], [1, 1]]
    sq = summarize_records(square, "square", 0.01, 4.0, 2)
    assert sq.mean_queries == pytest.approx(30.0)        # over successes only
    wc = worst_case_records([fgsm, square])
    assert [r.attack for r in wc] == [WORST_CASE] * 4
    assert [r.success for r in wc] == [True, True, None, False]
    assert wc[0].queries == 1 and wc[1].queries == 31 and wc[3].queries == 101
    wrow = summarize_records(wc, WORST_CASE, 0.01, 4.0, 2)
    assert wrow.robust_accuracy == pytest.approx(1 / 4)
    assert wrow.robust_accuracy <= min(row.robust_accuracy, sq.robust_accuracy)
    assert wrow.attack_success_rate == pytest.approx(2 / 3)
