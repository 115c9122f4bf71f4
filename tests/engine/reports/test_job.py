"""The GUI export job: progress per file, up-front checks, cancellation."""

from __future__ import annotations

import pytest

from medadv_desktop.engine.jobs import CancelToken, Progress, run_job
from medadv_desktop.engine.reports import default_report_stem, export_reports_job
from medadv_desktop.errors import JobCancelled, OutputExistsError, ReportError
from tests.engine.reports.fixtures import make_result


@pytest.fixture(scope="module")
def result():
    return make_result()


def test_progress_per_file_and_paths(result, tmp_path):
    events: list[Progress] = []
    written = run_job(export_reports_job(result, pdf=tmp_path / "r.pdf", csv=tmp_path / "s.csv",
                                         summary_csv=tmp_path / "t.csv", json=tmp_path / "r.json"),
                      events.append)
    assert sorted(p.name for p in written) == ["r.json", "r.pdf", "s.csv", "t.csv"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)
    assert all(e.stage == "report" and e.total == 4 for e in events)
    assert events[-1].done == 4 and events[-1].fraction == 1.0
    assert len([e for e in events if e.message.startswith("Wrote")]) == 4


def test_existing_file_checked_before_writing_anything(result, tmp_path):
    (tmp_path / "r.pdf").write_bytes(b"user's file")
    job = export_reports_job(result, json=tmp_path / "r.json", pdf=tmp_path / "r.pdf")
    with pytest.raises(OutputExistsError):
        run_job(job)
    assert not (tmp_path / "r.json").exists()
    assert (tmp_path / "r.pdf").read_bytes() == b"user's file"


def test_same_path_twice_and_nothing_chosen(result, tmp_path):
    with pytest.raises(ReportError):
        run_job(export_reports_job(result, csv=tmp_path / "a.csv", summary_csv=tmp_path / "a.csv"))
    with pytest.raises(ReportError):
        run_job(export_reports_job(result))


def test_cancel_between_files(result, tmp_path):
    cancel = CancelToken()
    job = export_reports_job(result, json=tmp_path / "r.json", csv=tmp_path / "s.csv", cancel=cancel)
    next(job)              # "Writing JSON"
    next(job)              # "Wrote JSON"
    cancel.cancel()
    with pytest.raises(JobCancelled) as err:
        next(job)
    assert [p.name for p in err.value.partial] == ["r.json"]
    assert not (tmp_path / "s.csv").exists()


def test_default_stem_is_safe(result):
    result.model.name = "CT model 1.2.840.113619.2.55.3 v2"
    stem = default_report_stem(result)
    assert stem.startswith("medadv-report-ct-model") and "1.2.840" not in stem
