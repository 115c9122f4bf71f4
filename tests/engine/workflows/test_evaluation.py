"""The evaluation workflow: checks before work, text budgets, the data set event, exports."""

from __future__ import annotations

import json

import pytest

from medadv_desktop.engine.jobs import run_job
from medadv_desktop.engine.workflows import EvaluationRequest, evaluation_workflow
from medadv_desktop.errors import AttackConfigError, OutputExistsError


@pytest.fixture(scope="module")
def demo_test(tmp_path_factory):
    from medadv_desktop.engine.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("demo") / "data"
    write_demo_dataset(root, n_train=2, n_test=6)
    (root / "test" / "lesion" / "broken.dcm").write_bytes(b"DICM" + b"\0" * 40)   # unreadable: skipped
    return root / "test"


def test_from_a_card_path_with_native_budgets_and_exports(tiny_script_card, demo_test, tmp_path):
    events = []
    request = EvaluationRequest(data=demo_test, attacks=["fgsm", ("pgd", {"steps": "2", "alpha": "1/255"})],
                                eps="4HU, 1/255", json=tmp_path / "r.json", csv=tmp_path / "r.csv")
    outcome = run_job(evaluation_workflow(tiny_script_card, request, device="cpu"), events.append)
    result = outcome.result
    assert result.eps_grid == pytest.approx([1 / 255, 4 / 400])          # sorted by the job
    assert [r.attack for r in result.rows] == ["fgsm", "pgd", "worst-case"] * 2
    assert result.attack_details("pgd").params["alpha"] == pytest.approx(1 / 255)
    dataset_event = next(e for e in events if e.data.get("kind") == "dataset")
    assert dataset_event.data["n_samples"] == 6 and dataset_event.data["n_failures"] == 1
    assert len(outcome.failures) == 1
    assert [p.name for p in outcome.written] == ["r.json", "r.csv"]
    assert json.loads((tmp_path / "r.json").read_text())["n_samples"] == 6


def test_bad_requests_fail_before_any_work(tiny_script_card, demo_test, tmp_path):
    (tmp_path / "taken.json").write_text("{}")
    with pytest.raises(OutputExistsError):
        run_job(evaluation_workflow(tiny_script_card, EvaluationRequest(
            data=demo_test, attacks=["fgsm"], eps="1/255", json=tmp_path / "taken.json")))
    assert (tmp_path / "taken.json").read_text() == "{}"
    with pytest.raises(AttackConfigError, match="no attack named 'nope'"):
        run_job(evaluation_workflow(tiny_script_card / "missing", EvaluationRequest(
            data=demo_test, attacks=["fgsm", "nope"], eps="1/255")))     # before even loading the model
    with pytest.raises(AttackConfigError, match="at least one attack"):
        run_job(evaluation_workflow(tiny_script_card, EvaluationRequest(data=demo_test, attacks=[], eps="1/255")))
    with pytest.raises(AttackConfigError, match="divides by zero"):
        run_job(evaluation_workflow(tiny_script_card, EvaluationRequest(data=demo_test, attacks=["fgsm"],
                                                                        eps="1/0")))
