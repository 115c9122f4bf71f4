"""`medadv evaluate --plan`: exit 0 pass / 3 fail, errors before the model loads, --report without --json,
and `medadv report --plan` on the saved result (a tiny real DICOM data set and a tiny model)."""
import json
import shutil

import pytest

from medadv_desktop.cli.main import main
from tests.conftest import make_tiny_card


def plan_file(folder, criteria, name="plan.json"):
    path = folder / name
    path.write_text(json.dumps({"plan": {"title": "CLI plan"}, "criteria": criteria}))
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from medadv_desktop.engine.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("demo") / "data"
    write_demo_dataset(root, n_train=2, n_test=8)
    card = make_tiny_card(tmp_path_factory.mktemp("model"), format="torchscript")
    return root / "test", card


def test_plan_errors_come_before_the_model_loads(demo, tmp_path, capsys):
    data, card = demo
    # a copy of the card without its weights: loading the model would fail, the plan check must come first
    folder = tmp_path / "card"
    shutil.copytree(card.parent if card.is_file() else card, folder)
    for f in folder.iterdir():
        if f.suffix in (".pt", ".safetensors", ".pth"):
            f.unlink()
    plan = plan_file(tmp_path, [{"metric": "robust_sensitivity", "class": "tumour", "eps": "3/255",
                                 "comparison": ">=", "threshold": 0.8}])
    rc = main(["evaluate", "--model", str(folder), "--data", str(data), "--attacks", "fgsm", "--eps", "1/255",
               "--plan", str(plan), "--report", str(tmp_path / "r.pdf")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "criteria[0].class: 'tumour'" in err and "criteria[0].eps" in err
    assert not (tmp_path / "r.pdf").exists()
    rc = main(["evaluate", "--model", str(folder), "--data", str(data), "--attacks", "fgsm", "--eps", "banana",
               "--report", str(tmp_path / "r.pdf")])
    err = capsys.readouterr().err
    assert rc == 2 and "banana" in err and "weights" not in err.lower()      # a budget error, not a load error
    bad = plan_file(tmp_path, [{"metric": "clean_accuracy", "comparison": ">=", "treshold": 0.8}], "bad.json")
    rc = main(["evaluate", "--model", str(folder), "--data", str(data), "--plan", str(bad)])
    assert rc == 2 and "treshold" in capsys.readouterr().err


def test_failing_plan_exit_3_with_fail_row_report_without_json(demo, tmp_path, capsys):
    from pypdf import PdfReader

    data, card = demo
    plan = plan_file(tmp_path, [
        {"id": "C1", "metric": "clean_accuracy", "comparison": ">=", "threshold": 0.0, "bound": "point"},
        {"id": "C2", "metric": "robust_accuracy", "eps": "2/255", "comparison": ">=", "threshold": 0.999}])
    pdf, summary = tmp_path / "r.pdf", tmp_path / "s.csv"
    rc = main(["evaluate", "--model", str(card), "--data", str(data), "--attacks", "fgsm", "--eps", "1/255,2/255",
               "--plan", str(plan), "--report", str(pdf), "--summary-csv", str(summary),
               "--requester", "Dr Ada Requester", "--approver", "Prof Bo Approver",
               "--purpose", "Acceptance of the demo classifier before the pilot"])
    out = capsys.readouterr().out
    assert rc == 3, out
    assert "FAIL" in out and "C2" in out and "exit code 3" in out
    text = "\n".join(p.extract_text() for p in PdfReader(str(pdf)).pages)
    assert "Verdict against the test plan" in text and "Page 1 of" in text and "Prof Bo Approver" in text
    assert "Acceptance of the demo classifier before the pilot" in " ".join(text.split())      # --purpose
    assert "robust_accuracy_low" in summary.read_text().splitlines()[0]
    assert [p.name for p in tmp_path.glob("*.json")] == ["plan.json"]      # no --json, no JSON written


def test_passing_plan_exit_0_and_report_command(demo, tmp_path, capsys):
    data, card = demo
    plan = plan_file(tmp_path, [{"metric": "clean_accuracy", "comparison": ">=", "threshold": 0.0,
                                 "bound": "point"}])
    js = tmp_path / "r.json"
    rc = main(["evaluate", "--model", str(card), "--data", str(data), "--attacks", "fgsm", "--eps", "1/255",
               "--plan", str(plan), "--json", str(js)])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads(js.read_text())
    assert doc["report"]["verdict"]["status"] == "pass" and len(doc["dataset"]["fingerprint"]) == 64
    assert doc["measures"]["clean_accuracy"]["n"] == 8
    failing = plan_file(tmp_path, [{"metric": "clean_accuracy", "comparison": ">=", "threshold": 1.0,
                                    "bound": "lower"}], "fail.json")
    rc = main(["report", str(js), "--pdf", str(tmp_path / "again.pdf"), "--plan", str(failing)])
    assert rc == 3 and "FAIL" in capsys.readouterr().out
