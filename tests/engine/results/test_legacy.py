"""Files written by the first release (tests/data/legacy, made at commit 38c836d) still load and render."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from medadv_desktop.cli.main import main
from medadv_desktop.engine.reports import load_before_after, load_report_json, report_document
from medadv_desktop.engine.reports.formatting import pct
from medadv_desktop.engine.results import (
    SCHEMA_VERSION, WORST_CASE, BeforeAfterResult, ClassMetrics, EvaluationResult, StudyAttackSummary)
from medadv_desktop.engine.serialization import to_jsonable
from medadv_desktop.errors import ReportError, ResultFormatError

LEGACY = Path(__file__).resolve().parents[2] / "data" / "legacy"


def raw(name: str) -> dict:
    return json.loads((LEGACY / name).read_text(encoding="utf-8"))


def pdf_text(path) -> str:
    return re.sub(r"[ \t]+", " ", "\n".join(p.extract_text() or "" for p in PdfReader(str(path)).pages))


def test_the_legacy_files_have_no_schema_version():
    for name in ("evaluate.json", "before_after.json", "before_after_full.json", "attack_summary.json"):
        assert "schema_version" not in raw(name), name
    assert raw("report.json")["format_version"] == 1 and "schema_version" not in raw("report.json")


def test_legacy_evaluation_loads_with_every_number():
    doc = raw("evaluate.json")
    result = EvaluationResult.from_data(doc)
    assert result.schema_version == SCHEMA_VERSION
    assert result.attacks == ["fgsm", "pgd", "square", "vertical", "smia"] and result.n_samples == 12
    assert to_jsonable(result.rows) == doc["rows"] and to_jsonable(result.samples) == doc["samples"]
    assert to_jsonable(result.examples) == doc["examples"] and result.per_class == [
        ClassMetrics(class_name=pc["class"], index=pc["index"], n=pc["n"], sensitivity=pc["sensitivity"],
                     specificity=pc["specificity"]) for pc in doc["per_class"]]
    assert result.model.sha256 == doc["model"]["sha256"] and result.model.intensity.width == 400
    assert result.dataset.counts == doc["dataset"]["counts"] and result.dataset.synthetic
    assert result.provenance.date_utc == doc["provenance"]["date_utc"]
    assert result.provenance.software == doc["provenance"]["software"]
    # provenance.attack_params / attacks_black_box became attack_info
    assert [a.attack for a in result.attack_info] == result.attacks
    assert result.attack_details("pgd").params == doc["provenance"]["attack_params"]["pgd"]
    assert {a.attack: a.black_box for a in result.attack_info} == doc["provenance"]["attacks_black_box"]
    # the demo card said "not for clinical use": version 1 cards had no synthetic flag
    assert result.model.synthetic and result.synthetic
    # written again, the file is the current schema and reads back unchanged
    again = EvaluationResult.from_json(result.to_json())
    assert again == result and json.loads(result.to_json())["schema_version"] == SCHEMA_VERSION


def test_legacy_attacks_get_their_labels_from_the_registry(tmp_path):
    result, table = load_report_json(LEGACY / "evaluate.json")
    assert table is None
    from medadv_desktop.engine.attacks import get_attack

    for info in result.attack_info:
        cls = get_attack(info.name)
        assert (info.label, info.description) == (cls.label, cls.description)
    assert result.attack_label("vertical") == get_attack("vertical").label
    assert result.attack_label(WORST_CASE) == "Worst case"


def test_legacy_before_after_table_and_full_result():
    doc = raw("before_after.json")
    table = BeforeAfterResult.from_data(doc)
    assert to_jsonable(table.rows) == doc["rows"] and table.attacks == ["fgsm", "square"]
    assert table.train_eps == doc["train_eps"] and table.training.method == "fgsm"
    assert table.training.parent.sha256 == doc["training"]["parent"]["sha256"]
    assert table.training.final.val_robust_accuracy == doc["training"]["final"]["val_robust_accuracy"]
    assert table.training.data.synthetic is True
    full = BeforeAfterResult.from_data(raw("before_after_full.json"))
    assert full.before is not None and full.after is not None and full.before.n_samples == 4
    assert full.clean.accuracy_before == full.before.clean_accuracy
    assert [a.attack for a in full.attack_info] == ["fgsm"]
    assert load_before_after(LEGACY / "before_after.json").attack_label("square") == "Square"
    # a full before/after result reports the hardened model's evaluation, with the table
    result, ba = load_report_json(LEGACY / "before_after_full.json")
    assert result.clean_accuracy == full.after.clean_accuracy and ba.rows == full.rows


def test_legacy_report_export_loads():
    doc = raw("report.json")
    result, table = load_report_json(LEGACY / "report.json")
    assert to_jsonable(result.rows) == doc["result"]["rows"]
    assert [(r.attack, r.accuracy_before, r.accuracy_after) for r in table.rows] == [
        (r["attack"], r["accuracy_before"], r["accuracy_after"]) for r in doc["before_after"]["rows"]]
    assert table.training is None and table.attacks == ["fgsm"]
    assert result.model.parent_sha256          # the hardened model remembers its parent


def test_legacy_attack_summary_loads():
    doc = raw("attack_summary.json")
    summary = StudyAttackSummary.from_data(doc)
    assert summary.schema_version == SCHEMA_VERSION and summary.attack_info is None
    assert to_jsonable(summary.slices) == doc["slices"] and to_jsonable(summary.records) == doc["records"]
    assert to_jsonable(summary.summary_row) == doc["summary_row"] and summary.eps_native == 6.0


def test_medadv_report_renders_legacy_files(tmp_path, capsys):
    out = tmp_path / "eval.pdf"
    assert main(["report", str(LEGACY / "evaluate.json"), "--pdf", str(out),
                 "--before-after", str(LEGACY / "before_after.json"), "--summary-csv", str(tmp_path / "s.csv")]) == 0
    text = pdf_text(out)
    doc = raw("evaluate.json")
    from medadv_desktop.engine.attacks import get_attack

    for name in doc["attacks"]:
        assert get_attack(name).description in text.replace("\n", " "), name
    assert "user-supplied attack" not in text
    for row in doc["rows"]:
        assert pct(row["robust_accuracy"]) in text
    assert "Adversarial training: before and after" in text and "not for clinical use" in text
    summary = (tmp_path / "s.csv").read_text()
    assert "Vertical perturbation (MedAdv definition)" in summary and "black-box" in summary
    out2 = tmp_path / "report.pdf"
    assert main(["report", str(LEGACY / "report.json"), "--pdf", str(out2), "--json", str(tmp_path / "r.json")]) == 0
    assert "Adversarial training: before and after" in pdf_text(out2)
    again = json.loads((tmp_path / "r.json").read_text())
    assert again["schema_version"] == SCHEMA_VERSION and again["result"]["schema_version"] == SCHEMA_VERSION
    assert again["result"]["attack_info"][0]["label"] == "FGSM"


def test_files_from_a_newer_medadv_are_refused(tmp_path):
    doc = raw("evaluate.json")
    doc["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ResultFormatError, match="newer MedAdv"):
        EvaluationResult.from_data(doc)
    path = tmp_path / "new.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ReportError, match="newer MedAdv") as err:
        load_report_json(path)
    assert "Update MedAdv" in err.value.hint


def test_every_document_carries_the_schema_version():
    result = EvaluationResult.from_data(raw("evaluate.json"))
    table = BeforeAfterResult.from_data(raw("before_after_full.json"))
    assert json.loads(result.to_json())["schema_version"] == SCHEMA_VERSION
    assert table.table_dict()["schema_version"] == SCHEMA_VERSION and "before" not in table.table_dict()
    assert json.loads(table.to_json())["before"]["schema_version"] == SCHEMA_VERSION
    assert report_document(result, before_after=table)["schema_version"] == SCHEMA_VERSION
    summary = StudyAttackSummary.from_data(raw("attack_summary.json"))
    assert json.loads(summary.to_json())["schema_version"] == SCHEMA_VERSION
