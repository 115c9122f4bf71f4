"""The GUI's export job: write the chosen report files one by one with progress."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from medadv_desktop.engine.jobs import CancelToken, Job, Progress
from medadv_desktop.engine.reports.deid import check_output_name
from medadv_desktop.engine.reports.traceability import ReportMeta
from medadv_desktop.engine.results import BeforeAfterResult, EvaluationResult
from medadv_desktop.errors import OutputExistsError, ReportError


def export_reports_job(result: EvaluationResult, *, pdf: str | Path | None = None,
                       csv: str | Path | None = None, summary_csv: str | Path | None = None,
                       json: str | Path | None = None, before_after: BeforeAfterResult | None = None,
                       cancel: CancelToken | None = None, overwrite: bool = False,
                       include_phi: bool = False, meta: ReportMeta | None = None,
                       corruption: Any = None) -> Job[list[Path]]:
    """Write the requested reports (any of PDF, per-sample CSV, summary CSV, JSON).

    Yields one ``Progress("report", i, n)`` before and after each file and
    returns the written paths. Every destination is checked *before* anything
    is written, so an existing file (``OutputExistsError``) or two outputs with
    the same path leave nothing half-exported. Cancellation is checked
    between files; files already written are kept (they are complete).
    ``corruption``: a corruption evaluation run beside the attacks, kept in the
    JSON and given its section in the PDF.
    """
    from medadv_desktop.engine.reports import tables
    from medadv_desktop.engine.reports.pdf import write_pdf

    cancel = cancel or CancelToken()
    meta = meta if meta is not None else ReportMeta()      # one report id shared by every file written
    plan: list[tuple[str, Path, Callable[[Path], Any]]] = []
    if json is not None:
        plan.append(("JSON", Path(json), lambda p: tables.write_json(
            result, p, before_after=before_after, overwrite=overwrite, include_phi=include_phi, meta=meta,
            corruption=corruption)))
    if summary_csv is not None:
        plan.append(("summary CSV", Path(summary_csv), lambda p: tables.write_summary_csv(
            result, p, overwrite=overwrite, include_phi=include_phi, meta=meta)))
    if csv is not None:
        plan.append(("per-sample CSV", Path(csv), lambda p: tables.write_csv(
            result, p, overwrite=overwrite, include_phi=include_phi)))
    if pdf is not None:
        plan.append(("PDF report", Path(pdf), lambda p: write_pdf(
            result, p, before_after=before_after, overwrite=overwrite, include_phi=include_phi, meta=meta,
            corruption=corruption)))
    if not plan:
        raise ReportError("No report file was chosen.", hint="Choose at least one of PDF, CSV or JSON.")
    seen: set[Path] = set()
    for _, path, _ in plan:
        check_output_name(path, include_phi=include_phi)
        key = path.resolve()
        if key in seen:
            raise ReportError(f"Two reports would be written to the same file '{path.name}'.",
                              hint="Give each report its own file name.")
        seen.add(key)
        if path.exists() and not overwrite:
            raise OutputExistsError(path)
    written: list[Path] = []
    n = len(plan)
    for i, (what, path, writer) in enumerate(plan):
        cancel.raise_if_cancelled(partial=list(written))
        yield Progress("report", i, n, f"Writing {what}: {path.name}", {"file": path.name, "kind": what})
        written.append(writer(path))
        yield Progress("report", i + 1, n, f"Wrote {what}: {path.name}", {"file": path.name, "kind": what})
    return written
