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
    # before any attack step: at most how long, from the measured model speed and each attack's model calls
    estimate = next(i for i, e in enumerate(events) if e.data.get("kind") == "estimate")
    first_step = next(i for i, e in enumerate(events) if e.total > 0)       # the first attack batch
    assert estimate < first_step
    data = events[estimate].data
    assert data["n_samples"] == 6 and data["n_eps"] == 2 and data["attacks"] == ["fgsm", "pgd"]
    assert data["upper_bound_s"] > 0 and "at most" in events[estimate].message
    assert events[estimate].milestone                            # never held back by the progress throttle
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


def test_cancelled_evaluation_hands_over_what_finished(tiny_script_card, demo_test):
    """Cancelled at PGD of the second eps: eps 1 complete (with its worst case), eps 2 only FGSM's row,
    no worst case there (it would overstate robustness), marked by a "partial" flag."""
    from medadv_desktop.engine.jobs import CancelToken
    from medadv_desktop.errors import JobCancelled

    cancel = CancelToken()

    def on_event(event):
        if event.data.get("attack") == "pgd" and event.data.get("eps", 0) > 1.5 / 255:
            cancel.cancel()

    request = EvaluationRequest(data=demo_test, attacks=["fgsm", ("pgd", {"steps": 2})], eps="1/255, 2/255")
    with pytest.raises(JobCancelled) as stop:
        run_job(evaluation_workflow(tiny_script_card, request, device="cpu", cancel=cancel), on_event, cancel=cancel)
    partial = stop.value.partial
    assert partial is not None
    assert [(r.attack, round(r.eps * 255)) for r in partial.rows] == [
        ("fgsm", 1), ("pgd", 1), ("worst-case", 1), ("fgsm", 2)]
    assert partial.eps_grid == pytest.approx([1 / 255, 2 / 255])
    assert len(partial.samples) == 3 * partial.n_samples                  # the records of the three attack rows
    flag = next(f for f in partial.flags if f.code == "partial")
    assert "cancelled" in flag.explanation and "no worst-case row" in flag.explanation


def test_cancelled_before_any_row_keeps_nothing(tiny_script_card, demo_test):
    from medadv_desktop.engine.jobs import CancelToken
    from medadv_desktop.errors import JobCancelled

    cancel = CancelToken()
    request = EvaluationRequest(data=demo_test, attacks=["fgsm"], eps="1/255")
    with pytest.raises(JobCancelled) as stop:
        run_job(evaluation_workflow(tiny_script_card, request, device="cpu", cancel=cancel),
                lambda e: cancel.cancel() if e.data.get("kind") == "dataset" else None, cancel=cancel)
    assert stop.value.partial is None
