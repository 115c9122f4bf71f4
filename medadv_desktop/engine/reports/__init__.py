"""Robustness reports: de-identified PDF, CSV and JSON (no Qt; usable headless).

Public API::

    write_pdf(result, path, *, before_after=None, overwrite=False, include_phi=False, meta=None,
              corruption=None) -> Path                # corruption: a corruption evaluation beside the attacks
    write_corruption_pdf(corruption_result, path, *, meta=None, overwrite=False, include_phi=False) -> Path
    write_csv(result, path, *, overwrite=False, include_phi=False) -> Path          # sample x attack x eps
    write_summary_csv(result, path, *, overwrite=False, include_phi=False) -> Path  # attack x eps
    write_json(result, path, *, before_after=None, overwrite=False, include_phi=False) -> Path
    load_report_json(path) -> (EvaluationResult, BeforeAfterResult | None)
    load_before_after(path) -> BeforeAfterResult      # before_after.json of a training run
    export_reports_job(result, *, pdf=None, csv=None, summary_csv=None, json=None,
                       before_after=None, cancel=None, overwrite=False, include_phi=False,
                       meta=None) -> Job[list[Path]]
    ReportMeta.create(requester=, approver=, verdict=)  # report id, sign-off names, test plan verdict
    scrub(obj), scrub_text(text)                       # the de-identification pass

``result`` is an :class:`~medadv_desktop.engine.results.EvaluationResult`,
``before_after`` a :class:`~medadv_desktop.engine.results.BeforeAfterResult`
(the adversarial training job's, or one read back from JSON).

reportlab is imported only when a PDF is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medadv_desktop.engine.reports.deid import UID_PATTERN, scrub, scrub_text
from medadv_desktop.engine.reports.job import export_reports_job
from medadv_desktop.engine.reports.tables import (
    load_before_after,
    load_report_json,
    report_document,
    write_csv,
    write_json,
    write_summary_csv,
)
from medadv_desktop.engine.reports.traceability import ReportMeta
from medadv_desktop.engine.results import BeforeAfterResult, EvaluationResult


def write_pdf(result: EvaluationResult, path: str | Path, *, before_after: BeforeAfterResult | None = None,
              overwrite: bool = False, include_phi: bool = False, meta: ReportMeta | None = None,
              corruption: Any = None) -> Path:
    """Write the PDF robustness report (see :func:`medadv_desktop.engine.reports.pdf.write_pdf`);
    ``corruption``: a corruption evaluation run beside the attacks (its section is added)."""
    from medadv_desktop.engine.reports.pdf import write_pdf as _write_pdf

    return _write_pdf(result, path, before_after=before_after, overwrite=overwrite, include_phi=include_phi,
                      meta=meta, corruption=corruption)


def write_corruption_pdf(result: Any, path: str | Path, *, meta: ReportMeta | None = None,
                         overwrite: bool = False, include_phi: bool = False) -> Path:
    """Write a corruption evaluation's own PDF (:mod:`medadv_desktop.engine.reports.corruption_report`)."""
    from medadv_desktop.engine.reports.corruption_report import write_corruption_pdf as _write

    return _write(result, path, meta=meta, overwrite=overwrite, include_phi=include_phi)


def default_report_stem(result: EvaluationResult) -> str:
    """A safe file stem for exports: 'medadv-report-<model>-<YYYYMMDD-HHMM>' (no PHI, no UIDs)."""
    import datetime as _dt
    import re

    model = result.model.name or "model"
    slug = re.sub(r"[^A-Za-z0-9]+", "-", scrub_text(model)).strip("-").lower()[:40] or "model"
    slug = re.sub(r"uid-removed-?", "", slug).strip("-") or "model"
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M")
    return f"medadv-report-{slug}-{stamp}"


__all__ = [
    "ReportMeta", "UID_PATTERN", "default_report_stem", "export_reports_job", "load_before_after", "load_report_json",
    "report_document", "scrub", "scrub_text", "write_corruption_pdf", "write_csv", "write_json", "write_pdf",
    "write_summary_csv",
]
