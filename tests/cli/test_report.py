"""`medadv report RESULT.json --pdf OUT.pdf [--csv] [--summary-csv] [--json]`."""

from __future__ import annotations

import csv

from pypdf import PdfReader

from medadv_desktop.cli.main import main
from medadv_desktop.engine.reports import write_json
from tests.engine.reports.fixtures import make_before_after, make_result


def test_report_from_evaluation_json(tmp_path, capsys):
    result = make_result()
    src = result.save(tmp_path / "result.json")
    rc = main(["report", str(src), "--pdf", str(tmp_path / "r.pdf"), "--csv", str(tmp_path / "s.csv"),
               "--summary-csv", str(tmp_path / "t.csv")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "r.pdf" in out and "s.csv" in out and "t.csv" in out
    text = "".join(p.extract_text() for p in PdfReader(str(tmp_path / "r.pdf")).pages)
    assert "Robustness summary" in text
    with open(tmp_path / "s.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(result.samples)


def test_report_json_with_before_after(tmp_path):
    result = make_result()
    src = write_json(result, tmp_path / "export.json", before_after=make_before_after(result))
    assert main(["report", str(src), "--pdf", str(tmp_path / "r.pdf")]) == 0
    text = "".join(p.extract_text() for p in PdfReader(str(tmp_path / "r.pdf")).pages)
    assert "Adversarial training: before and after" in text


def test_report_errors_are_clear(tmp_path, capsys):
    result = make_result()
    src = result.save(tmp_path / "result.json")
    assert main(["report", str(src)]) == 2
    assert "--pdf" in capsys.readouterr().err
    (tmp_path / "r.pdf").write_bytes(b"keep me")
    assert main(["report", str(src), "--pdf", str(tmp_path / "r.pdf")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "r.pdf").read_bytes() == b"keep me"
    assert main(["report", str(tmp_path / "missing.json"), "--pdf", str(tmp_path / "x.pdf")]) == 2
    assert "does not exist" in capsys.readouterr().err
