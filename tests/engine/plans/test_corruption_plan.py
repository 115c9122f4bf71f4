"""Test-plan criteria on corruption rows: parsing, verdicts on a real corruption evaluation (demo CT
patches, a tiny TorchScript model), refusals before work, and the attack/corruption split."""
import pytest

from medadv_desktop.engine.datasets import LabelledDataset
from medadv_desktop.engine.evaluation.corruption import corruption_evaluation_job
from medadv_desktop.engine.jobs import run_job
from medadv_desktop.engine.metrics.intervals import proportion
from medadv_desktop.engine.models import load_classifier
from medadv_desktop.engine.plans import (
    EXIT_FAIL,
    EXIT_PASS,
    FAIL,
    NOT_EVALUABLE,
    PASS,
    PlanError,
    check_corruption_plan_fits,
    check_plan_fits,
    evaluate_corruption_plan,
    evaluate_plan,
    format_verdict,
    parse_plan,
)
from tests.conftest import make_tiny_card


def plan(*criteria, **head):
    return parse_plan({"plan": {"title": "Corruption gate", **head}, "criteria": list(criteria)})


def acc(corruption="jpeg2000", severity=3, **kw):
    return {"metric": "corruption_accuracy", "corruption": corruption, "severity": severity, "comparison": ">=",
            "threshold": 0.8, **kw}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    from medadv_desktop.engine.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("pdemo") / "data"
    write_demo_dataset(root, n_train=2, n_test=16)
    clf = load_classifier(make_tiny_card(tmp_path_factory.mktemp("pmodel"), format="torchscript"), device="cpu")
    ds = LabelledDataset.from_folder(root / "test", clf.class_names)
    return run_job(corruption_evaluation_job(clf, ds, [("ct_dose", {}), ("jpeg2000", {})], [1, 3]))


def test_corruption_criteria_parse_and_describe():
    p = plan(acc(), {"metric": "corruption_sensitivity", "class": "lesion", "corruption": "JPEG-2000"[:4] + "2000",
                     "severity": 5, "comparison": ">=", "threshold": 0.7},
             {"metric": "relative_mce", "comparison": "<=", "threshold": 2.0},
             {"metric": "corruption_flip_rate", "corruption": "ct_dose", "severity": 1, "comparison": "<=",
              "threshold": 0.1})
    a, s, r, f = p.criteria
    assert (a.corruption, a.severity, a.bound) == ("jpeg2000", 3, "lower")
    assert a.describe() == "Accuracy under jpeg2000 at severity 3 >= 80 % (lower 95 % bound)"
    assert s.describe().startswith("Sensitivity of class 'lesion' under jpeg2000 at severity 5")
    assert r.threshold == 2.0 and r.bound == "point" and "<= 2x (point estimate)" in r.describe()
    assert f.bound == "upper"


@pytest.mark.parametrize("criterion, needle", [
    ({"metric": "corruption_accuracy", "corruption": "blur", "comparison": ">=", "threshold": 0.8},
     "criteria[0].severity: missing"),
    (acc(severity=6), "criteria[0].severity: 6 is above 5"),
    (acc(severity="3"), "criteria[0].severity: must be a whole number"),
    ({"metric": "corruption_accuracy", "severity": 3, "comparison": ">=", "threshold": 0.8},
     "criteria[0].corruption: missing"),
    ({"metric": "clean_accuracy", "corruption": "blur", "comparison": ">=", "threshold": 0.8},
     "criteria[0].corruption: clean_accuracy is not measured per corruption"),
    ({"metric": "mce", "severity": 3, "comparison": "<=", "threshold": 0.2}, "criteria[0].severity: mce is not"),
    ({"metric": "corruption_error", "corruption": "blur", "severity": 2, "comparison": "<=", "threshold": 0.2},
     "criteria[0].severity"),
    (acc(threshold=1.5), "criteria[0].threshold: 1.5 is outside [0, 1]"),
    ({"metric": "relative_mce", "comparison": "<=", "threshold": -1}, "criteria[0].threshold: -1 is negative"),
    ({"metric": "relative_mce", "comparison": "<=", "threshold": 2, "bound": "upper"}, "use bound = \"point\""),
])
def test_bad_corruption_criteria_name_the_field(criterion, needle):
    with pytest.raises(PlanError) as e:
        plan(criterion)
    assert needle in str(e.value)


def test_row_criteria_compare_the_plans_bound_of_the_row(result):
    row = result.row("jpeg2000", 3)
    low = proportion(row.accuracy.k, row.accuracy.n).low
    v = evaluate_corruption_plan(plan(acc(threshold=max(0.0, low - 0.01), id="P"),
                                      acc(threshold=min(1.0, low + 0.01), id="F")), result)
    p, f = v.rows
    assert (p.status, f.status) == (PASS, FAIL) and v.status == FAIL and v.exit_code == EXIT_FAIL
    assert (p.k, p.n) == (row.accuracy.k, row.accuracy.n) == (f.k, f.n)
    assert p.compared == pytest.approx(low) and p.measured == pytest.approx(row.accuracy.value)
    assert f"({row.accuracy.k} of {row.accuracy.n})" in p.reason
    # the plan's interval method and confidence, not the row's stored ones
    w = evaluate_corruption_plan(plan(acc(threshold=0.0), interval="wilson", confidence=0.9), result).rows[0]
    assert w.low == pytest.approx(proportion(row.accuracy.k, row.accuracy.n, confidence=0.9, method="wilson").low)
    assert w.status == PASS and w.low != pytest.approx(low)


def test_flips_per_class_clean_and_summary_metrics(result):
    r1 = result.row("ct_dose", 1)
    les = result.class_names.index("lesion")
    sens = r1.per_class[les].sensitivity
    v = evaluate_corruption_plan(plan(
        {"metric": "corruption_flip_rate", "corruption": "ct_dose", "severity": 1, "comparison": "<=",
         "threshold": 1.0},
        {"metric": "corruption_sensitivity", "class": "lesion", "corruption": "ct_dose", "severity": 1,
         "comparison": ">=", "threshold": 0.0},
        {"metric": "clean_accuracy", "comparison": ">=", "threshold": 0.0},
        {"metric": "mce", "comparison": "<=", "threshold": 1.0},
        {"metric": "corruption_error", "corruption": "jpeg2000", "comparison": "<=", "threshold": 0.0},
        {"metric": "relative_mce", "comparison": "<=", "threshold": 1000.0}), result)
    flips, s, clean, mce, ce, rel = v.rows
    assert flips.status == PASS and (flips.k, flips.n) == (r1.flips.k, r1.flips.n)
    assert s.status == PASS and (s.k, s.n) == (sens.k, sens.n)
    assert clean.status == PASS and clean.k == result.clean.accuracy.k
    assert mce.status == PASS and mce.measured == pytest.approx(result.mce)
    assert "severities 1,3" in mce.notes[0]
    j2k = result.summary("jpeg2000")
    assert ce.measured == pytest.approx(j2k.ce) and ce.status == (PASS if j2k.ce == 0 else FAIL)
    if result.relative_mce is None:            # clean error 0: a multiple of it is undefined
        assert rel.status == NOT_EVALUABLE and "clean error is 0" in rel.reason
    else:
        assert rel.status == PASS and rel.measured == pytest.approx(result.relative_mce)
        assert "x the clean error" in rel.reason
    text = format_verdict(v)
    assert text.splitlines()[0].startswith("Test plan 'Corruption gate'") and "[PASS] C1:" in text


def test_not_evaluable_rows_and_refusals_before_work(result):
    v = evaluate_corruption_plan(plan(
        acc(severity=5), acc(corruption="blur"),
        {"metric": "corruption_robust_accuracy", "corruption": "ct_dose", "severity": 1, "comparison": ">=",
         "threshold": 0.1},
        {"metric": "robust_accuracy", "eps": "2/255", "comparison": ">=", "threshold": 0.1},
        {"metric": "no_sanity_flag"}), result)
    assert [r.status for r in v.rows] == [NOT_EVALUABLE] * 5 and v.exit_code == EXIT_FAIL
    assert "severity 5 was not evaluated" in v.rows[0].reason
    assert "corruption 'blur' was not evaluated" in v.rows[1].reason
    assert "no attack ran" in v.rows[2].reason
    assert "medadv evaluate" in v.rows[3].reason and "medadv evaluate" in v.rows[4].reason

    p = plan(acc(severity=5), acc(corruption="blur"), acc(corruption="nosuch"),
             {"metric": "corruption_robust_accuracy", "corruption": "ct_dose", "severity": 1, "comparison": ">=",
              "threshold": 0.1},
             {"metric": "corruption_specificity", "class": "cyst", "corruption": "ct_dose", "severity": 1,
              "comparison": ">=", "threshold": 0.1},
             {"metric": "robust_accuracy", "eps": "2/255", "comparison": ">=", "threshold": 0.1})
    problems = check_corruption_plan_fits(p, class_names=["no_finding", "lesion"],
                                          corruptions=["ct_dose", "jpeg2000"], severities=[1, 3], attack=False)
    assert [q.split(":")[0] for q in problems] == [
        "criteria[0].severity", "criteria[1].corruption", "criteria[2].corruption", "criteria[3].metric",
        "criteria[4].class", "criteria[5].metric"]
    assert "no corruption named 'nosuch'" in problems[2]
    # default/all: the names are chosen from the data later, so only their existence is checked
    assert check_corruption_plan_fits(plan(acc(corruption="blur")), class_names=["a"], corruptions=None,
                                      severities=[3], attack=False) == []
    ok = plan(acc(threshold=0.0), {"metric": "relative_mce", "comparison": "<=", "threshold": 1e9})
    assert check_corruption_plan_fits(ok, class_names=result.class_names, corruptions=result.corruptions,
                                      severities=[1, 3], attack=False) == []


def test_the_attack_evaluation_refuses_corruption_criteria(tmp_path):
    import numpy as np

    from medadv_desktop.engine.evaluation import evaluate_job
    from tests.engine.evaluation.conftest import MeanModel, mean_dataset

    ds, _ = mean_dataset(n=8)
    res = run_job(evaluate_job(MeanModel(), ds, [("fgsm", {})], [2 / 255]))
    p = plan({"metric": "clean_accuracy", "comparison": ">=", "threshold": 0.0}, acc())
    v = evaluate_plan(p, res)
    assert [r.status for r in v.rows] == [PASS, NOT_EVALUABLE] and "evaluate-corruptions" in v.rows[1].reason
    problems = check_plan_fits(p, class_names=res.class_names, attacks=["fgsm"], eps_grid=[2 / 255])
    assert len(problems) == 1 and problems[0].startswith("criteria[1].metric") and np.isfinite(v.rows[0].measured)
    assert EXIT_PASS == 0


def test_the_example_corruption_plan_fits_the_demo_model_and_its_default_run():
    from pathlib import Path

    from medadv_desktop.engine.models import ModelCard
    from medadv_desktop.engine.plans import load_plan

    root = Path(__file__).resolve().parents[3] / "resources"
    p = load_plan(root / "plans" / "corruptions_example.toml")
    card = ModelCard.load(root / "demo_model")
    assert [c.metric for c in p.criteria] == ["clean_accuracy", "corruption_accuracy", "corruption_sensitivity",
                                              "corruption_flip_rate", "relative_mce"]
    assert check_corruption_plan_fits(p, class_names=card.class_names, corruptions=["ct_dose", "jpeg2000"],
                                      severities=[1, 2, 3, 4, 5], attack=False) == []
    assert check_corruption_plan_fits(p, class_names=card.class_names, corruptions=None, severities=[1, 2, 3],
                                      attack=False) == ["criteria[2].severity: 5 is not among the severities to "
                                                        "run (1,2,3)"]
