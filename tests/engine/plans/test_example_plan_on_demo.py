"""The shipped example plan applied to a real evaluation: the demo model on real demo CT patches
(synthetic lesions), FGSM and PGD at 2/255. Every verdict is checked against counts taken
from the per-sample records here and bounds from scipy.stats."""

import pytest
from scipy import stats

from medadv_desktop.engine.plans import EXIT_FAIL, EXIT_PASS, FAIL, PASS, check_plan_fits, evaluate_plan, load_plan
from medadv_desktop.engine.results.evaluation import WORST_CASE
from medadv_desktop.paths import demo_model_card, resources_dir

N_TEST = 24


@pytest.fixture(scope="module")
def demo_result(tmp_path_factory):
    card = demo_model_card()
    if not card.is_file():
        pytest.skip(f"the demo model is not built ({card} missing)")
    from medadv_desktop.engine._torch_compat import import_timm
    from medadv_desktop.engine.datasets import LabelledDataset
    from medadv_desktop.engine.demo import write_demo_dataset
    from medadv_desktop.engine.evaluation import evaluate_job
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.models import load_classifier

    import_timm()
    root = tmp_path_factory.mktemp("demo")
    write_demo_dataset(root / "demo", n_train=2, n_test=N_TEST)
    clf = load_classifier(card, device="cpu")
    ds = LabelledDataset.from_folder(root / "demo" / "test", clf.class_names)
    return run_job(evaluate_job(clf, ds, [("fgsm", {}), ("pgd", {"steps": 5})], [2 / 255],
                                batch_size=N_TEST, n_examples=0))


def _counts(res, metric, cls, attack, eps):
    """(k, n) of a metric straight from the per-sample records (the definitions in the README)."""
    names = res.class_names
    c = names.index(cls) if cls else None
    if attack is None:
        recs = [s for s in res.samples if s.attack == res.attacks[0] and abs(s.eps - res.eps_grid[0]) < 1e-12]
        pred = [s.clean_pred for s in recs]
    else:
        by_attack = {a: [s for s in res.samples if s.attack == a and abs(s.eps - eps) < 1e-12] for a in res.attacks}
        if attack == WORST_CASE:
            recs = list(by_attack[res.attacks[0]])
            for i in range(len(recs)):      # fooled by any attack -> the first fooling record
                fooled = [by_attack[a][i] for a in res.attacks
                          if by_attack[a][i].success is not None and by_attack[a][i].adv_pred != recs[i].true_label]
                if fooled:
                    recs[i] = fooled[0]
        else:
            recs = by_attack[attack]
        pred = [s.adv_pred for s in recs]
    y = [s.true_label for s in recs]
    if metric in ("clean_accuracy", "robust_accuracy"):
        return sum(1 for t, p, s in zip(y, pred, recs, strict=True) if t == p == s.clean_pred), len(y)
    if metric == "attack_success_rate":
        att = [s for s in recs if s.success is not None]
        return sum(1 for s in att if s.success), len(att)
    if metric.endswith("sensitivity"):
        return sum(1 for t, p in zip(y, pred, strict=True) if t == c and p == c), sum(1 for t in y if t == c)
    return sum(1 for t, p in zip(y, pred, strict=True) if t != c and p != c), sum(1 for t in y if t != c)


@pytest.mark.slow
def test_example_plan_on_a_real_evaluation(demo_result):
    res = demo_result
    plan = load_plan(resources_dir() / "plans" / "example.toml")
    assert res.class_names == ["no_finding", "lesion"] and res.units == "HU"
    assert check_plan_fits(plan, class_names=res.class_names, attacks=res.attacks, eps_grid=res.eps_grid,
                           eps_native=res.eps_native, units=res.units, native_per_unit=400.0) == []
    verdict = evaluate_plan(plan, res)
    assert len(verdict.rows) == len(plan.criteria)
    for crit, row in zip(plan.criteria, verdict.rows, strict=True):
        if crit.metric == "no_sanity_flag":
            hits = [f for f in res.flags if f.code in crit.codes]
            assert row.status == (FAIL if hits else PASS)
            continue
        eps = 2 / 255 if crit.eps else None
        k, n = _counts(res, crit.metric, crit.class_name, crit.attack, eps)
        assert (row.k, row.n) == (k, n), crit.id
        assert row.eps == (pytest.approx(eps) if eps else None)
        if crit.bound == "lower":
            bound = stats.beta.ppf(0.025, k, n - k + 1) if k else 0.0
        else:
            bound = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
        assert row.compared == pytest.approx(bound, rel=1e-9, abs=1e-12), crit.id
        holds = bound >= crit.threshold if crit.comparison == ">=" else bound <= crit.threshold
        assert row.status == (PASS if holds else FAIL), (crit.id, row.reason)
        assert any(t.startswith("Few samples") or t.startswith("Very few") for t in row.notes)   # n <= 24
    worst = next(r for r in verdict.rows if r.metric == "robust_sensitivity")
    assert worst.eps_native == pytest.approx(2 / 255 * 400) and "(3.14 HU)" in worst.text
    assert verdict.exit_code == (EXIT_PASS if verdict.status == PASS else EXIT_FAIL)
    # the worst case the plan used is the one the summary row reports
    from medadv_desktop.engine.metrics import per_class_measures
    m = per_class_measures(res)
    for eps in res.eps_grid:
        assert m.at(WORST_CASE, eps).robust_accuracy.value == pytest.approx(res.row(WORST_CASE, eps).robust_accuracy)
