"""Named attack suites (attacks/spec.py): the AutoAttack-grade default, the labelled quick suite, the full one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medadv_desktop.engine.attacks import default_attacks, get_attack, suite_attacks
from medadv_desktop.engine.attacks.spec import DEFAULT_SUITE, SUITES, get_suite, split_suite
from medadv_desktop.errors import AttackConfigError


def test_the_standard_suite_is_the_default_and_autoattack_grade():
    assert DEFAULT_SUITE == "standard"
    # FAB-T is in: on the demo model it found adversarial examples APGD-CE and APGD-T missed
    # (benchmarks/autoattack_compare.py --add-fab; README, measured table)
    assert suite_attacks() == [("apgd-ce", {}), ("apgd-t", {}), ("fab-t", {}), ("square", {"n_queries": 5000})]
    assert default_attacks() == ["apgd-ce", "apgd-t", "fab-t", "square"]
    # the suite's attacks at their defaults are AutoAttack's settings: 100 iterations, 9 target classes, p_init 0.8
    defaults = {n: {p.name: p.default for p in get_attack(n).params} for n in default_attacks()}
    assert defaults["apgd-ce"]["steps"] == 100 and defaults["apgd-t"]["steps"] == 100
    assert defaults["apgd-t"]["n_target_classes"] == 9 and defaults["square"]["p_init"] == 0.8
    assert defaults["fab-t"]["steps"] == 100 and defaults["fab-t"]["n_target_classes"] == 9
    assert not SUITES["standard"].upper_bound


def test_the_quick_suite_is_labelled_an_upper_bound_and_full_has_every_attack():
    quick = get_suite("Quick")
    assert quick.upper_bound and "upper bound" in quick.label.lower() and "UPPER BOUND" in quick.description
    assert [n for n, _ in suite_attacks("quick")] == ["fgsm", "apgd-ce", "square"]
    full = default_attacks("full")
    assert full[:4] == ["apgd-ce", "apgd-t", "fab-t", "square"] and set(full) >= {"fgsm", "pgd", "apgd-dlr", "vertical", "smia"}
    assert len(full) == len(set(full))
    assert get_attack("fgsm").default_suites == ("quick", "full")
    assert get_attack("square").default_suites == ("standard", "quick", "full")


def test_a_suite_is_one_choice_and_unknown_suites_are_clear_errors():
    assert split_suite(["standard"])[0] is SUITES["standard"]
    assert split_suite(["fgsm", "pgd"]) == (None, ["fgsm", "pgd"])
    with pytest.raises(AttackConfigError, match="cannot be combined"):
        split_suite(["standard", "fgsm"])
    with pytest.raises(AttackConfigError, match="no attack suite named 'fast'; suites: standard, quick, full"):
        get_suite("fast")
    # the suite's stored settings cannot be changed through the lists it hands out
    suite_attacks("standard")[3][1]["n_queries"] = 1
    assert suite_attacks("standard")[3][1]["n_queries"] == 5000


def test_an_evaluation_of_a_suite_runs_its_attacks_with_their_settings_and_records_the_suite(gray_model):
    from medadv_desktop.engine.datasets import LabelledDataset
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.workflows.evaluation import EvaluationRequest, attack_specs, evaluation_workflow

    assert attack_specs(["quick"]) == [("fgsm", {}), ("apgd-ce", {"steps": 20}), ("square", {"n_queries": 1000})]
    x = np.random.default_rng(0).uniform(0, 1, (6, 1, 16, 16)).astype(np.float32)
    with torch.no_grad():
        y = gray_model(torch.from_numpy(x)).argmax(1).tolist()
    ds = LabelledDataset.from_arrays(x, y, ["a", "b", "c"], name="suite test", synthetic=True)
    outcome = run_job(evaluation_workflow(gray_model, EvaluationRequest(data=ds, attacks=["quick"], eps="8/255",
                                                                        n_examples=0)))
    suite = outcome.result.provenance.suite
    assert suite["name"] == "quick" and suite["upper_bound"] and suite["label"].startswith("Quick")
    assert outcome.result.attacks[:3] == ["fgsm", "apgd-ce", "square"]
    explicit = run_job(evaluation_workflow(gray_model, EvaluationRequest(data=ds, attacks=["fgsm"], eps="8/255",
                                                                         n_examples=0)))
    assert explicit.result.provenance.suite is None
