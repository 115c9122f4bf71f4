"""`medadv evaluate-corruptions --report X.pdf` (no --json needed) and `medadv evaluate --corruptions a,b
--severities ...`: the corruption evaluation beside the attacks in one JSON and one PDF, the test plan's
criteria answered on both, exit 0 / 3; refusals before the model loads. Real demo DICOM, a tiny real model,
PDFs parsed back with pypdf."""
import json
import re

import pytest
from pypdf import PdfReader

from medadv_desktop.cli.main import main
from tests.conftest import make_tiny_card


def pdf_text(path) -> str:
    return re.sub(r"\s+", " ", "\n".join(p.extract_text() or "" for p in PdfReader(str(path)).pages))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from medadv_desktop.engine.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("crcli") / "data"
    write_demo_dataset(root, n_train=2, n_test=6)
    card = make_tiny_card(tmp_path_factory.mktemp("crmodel"), format="torchscript")
    return root / "test", card


def test_evaluate_corruptions_report_without_json(demo, tmp_path, capsys):
    data, card = demo
    pdf = tmp_path / "c.pdf"
    rc = main(["evaluate-corruptions", "--model", str(card), "--data", str(data), "--corruptions", "jpeg2000",
               "--severities", "1,5", "--report", str(pdf), "--requester", "Dr R", "--approver", "Dr A"])
    out = capsys.readouterr().out
    assert rc == 0 and pdf.exists() and f"Wrote {pdf}" in out
    text = pdf_text(pdf)
    assert "Acquisition-artefact robustness report" in text and "Lossy JPEG 2000" in text
    assert "Mean (mCE)" in text and "Dr R" in text and "Dr A" in text and "Page 1 of" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pdf"]


def test_evaluate_corruptions_needs_an_output(demo, tmp_path, capsys):
    data, card = demo
    rc = main(["evaluate-corruptions", "--model", str(card), "--data", str(data)])
    err = capsys.readouterr().err
    assert rc == 2 and "give at least one output" in err and "Traceback" not in err


PLAN = """[plan]
title = "Both gates"

[[criteria]]
id = "CLEAN"
metric = "clean_accuracy"
comparison = ">="
threshold = 0.0

[[criteria]]
id = "ROB"
metric = "robust_accuracy"
eps = "2/255"
comparison = ">="
threshold = 0.0

[[criteria]]
id = "J2K"
metric = "corruption_accuracy"
corruption = "jpeg2000"
severity = 5
comparison = ">="
threshold = {threshold}
"""


def _evaluate(demo, folder, *extra):
    data, card = demo
    folder.mkdir(parents=True, exist_ok=True)
    return main(["evaluate", "--model", str(card), "--data", str(data), "--attacks", "fgsm", "--eps", "2/255",
                 "--corruptions", "ct_dose,jpeg2000", "--severities", "1,5", *extra])


def test_evaluate_with_corruptions_one_json_one_pdf_plan_on_both(demo, tmp_path, capsys):
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN.format(threshold=0.0), encoding="utf-8")
    js, pdf = tmp_path / "a" / "e.json", tmp_path / "a" / "e.pdf"
    rc = _evaluate(demo, tmp_path / "a", "--json", str(js), "--report", str(pdf), "--plan", str(plan))
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Test plan 'Both gates': PASS (3 pass, 0 fail, 0 not evaluable)" in out
    assert "jpeg2000" in out and "Corruption error" in out          # the corruption table printed too
    doc = json.loads(js.read_text())
    assert doc["rows"] and doc["corruption"]["kind"] == "corruption_evaluation"
    assert doc["corruption"]["corruptions"] == ["ct_dose", "jpeg2000"] and doc["corruption"]["severities"] == [1, 5]
    assert [r["criterion_id"] for r in doc["report"]["verdict"]["rows"]] == ["CLEAN", "ROB", "J2K"]
    from medadv_desktop.engine.results import EvaluationResult
    from medadv_desktop.engine.results.corruption import CorruptionEvaluationResult

    EvaluationResult.load(js)                                        # the attack result still reads back
    c = CorruptionEvaluationResult.from_dict(doc["corruption"])
    text = pdf_text(pdf)
    assert "Adversarial robustness report" in text
    assert "Robustness to acquisition and archive artefacts" in text and "Lossy JPEG 2000" in text
    assert text.index("Verdict against the test plan") < text.index("Robustness to acquisition")
    j2k = c.row("jpeg2000", 5)
    assert j2k is not None and f"{100 * j2k.accuracy.value:.1f}%" in text

    # `medadv report` rebuilds the reports from that JSON with the corruption section, plan on both
    pdf2, rj, pdf3 = tmp_path / "r" / "r.pdf", tmp_path / "r" / "r.json", tmp_path / "r" / "r2.pdf"
    pdf2.parent.mkdir()
    assert main(["report", str(js), "--pdf", str(pdf2), "--json", str(rj), "--plan", str(plan)]) == 0
    out = capsys.readouterr().out
    assert "PASS (3 pass, 0 fail, 0 not evaluable)" in out
    assert "Lossy JPEG 2000" in pdf_text(pdf2)
    assert json.loads(rj.read_text())["corruption"]["corruptions"] == ["ct_dose", "jpeg2000"]
    assert main(["report", str(rj), "--pdf", str(pdf3)]) == 0          # and again from the report JSON
    assert "Robustness to acquisition and archive artefacts" in pdf_text(pdf3)
    capsys.readouterr()

    plan.write_text(PLAN.format(threshold=1.0), encoding="utf-8")   # jpeg2000 at severity 5 must be perfect
    js2 = tmp_path / "b" / "e.json"
    rc = _evaluate(demo, tmp_path / "b", "--json", str(js2), "--plan", str(plan))
    out = capsys.readouterr().out
    assert j2k.accuracy.low < 1.0                                   # 6 images: the lower bound is below 100 %
    assert rc == 3 and js2.exists()
    assert "FAIL" in out and "J2K" in out and "-> exit code 3" in out


@pytest.mark.parametrize("extra, needle", [
    (["--corruptions", "nonsense"], "nonsense"),
    (["--corruptions", "jpeg2000", "--severities", "7"], "severity 7 is outside 1..5"),
    (["--severities", "1-2"], "--severities applies only with --corruptions"),
])
def test_evaluate_corruption_options_refused_before_work(demo, tmp_path, capsys, extra, needle):
    data, card = demo
    js = tmp_path / "e.json"
    rc = main(["evaluate", "--model", str(card), "--data", str(data), "--attacks", "fgsm", "--eps", "2/255",
               "--json", str(js), *extra])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err and not js.exists()


def test_evaluate_plan_with_corruption_criteria_needs_corruptions(demo, tmp_path, capsys):
    data, card = demo
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN.format(threshold=0.5), encoding="utf-8")
    js = tmp_path / "e.json"
    rc = main(["evaluate", "--model", str(card), "--data", str(data), "--attacks", "fgsm", "--eps", "2/255",
               "--json", str(js), "--plan", str(plan)])
    err = capsys.readouterr().err
    assert rc == 2 and "criteria[2].metric" in err and not js.exists()
    rc = _evaluate(demo, tmp_path / "c", "--json", str(tmp_path / "c" / "e.json"), "--plan", str(plan),
                   "--severities", "1")
    err = capsys.readouterr().err
    assert rc == 2 and "criteria[2].severity: 5 is not among the severities to run (1)" in err
