"""`medadv report RESULT.json --pdf OUT.pdf [--csv OUT.csv] [--summary-csv OUT.csv] [--json OUT.json]`

Rebuilds the reports from a saved result: the JSON written by
``medadv evaluate --json`` or by a report export (which may also hold the
adversarial-training before/after table). De-identified unless
``--include-phi``; never overwrites a file unless ``--overwrite``, and never
writes over its own inputs, even with ``--overwrite``. The outputs appear all
together or not at all: on a full or read-only disk the new files already
written are removed again (the input JSON still holds the whole result).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from medadv_desktop.cli.options import add_signoff_options, path_arg


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="write PDF/CSV/JSON reports from a saved evaluation result",
        description="Rebuild de-identified robustness reports (PDF, per-sample CSV, summary CSV, JSON) "
                    "from the JSON of an evaluation ('medadv evaluate --json') or of an earlier export.")
    p.add_argument("result", type=path_arg, metavar="RESULT.json", help="saved evaluation result or report JSON")
    p.add_argument("--pdf", type=path_arg, metavar="OUT.pdf", help="write the PDF report here")
    p.add_argument("--csv", type=path_arg, metavar="OUT.csv", help="per-sample CSV (sample x attack x eps)")
    p.add_argument("--summary-csv", type=path_arg, metavar="OUT.csv", help="summary CSV (attack x eps)")
    p.add_argument("--json", type=path_arg, metavar="OUT.json", help="report JSON (result + before/after)")
    p.add_argument("--before-after", type=path_arg, metavar="BEFORE_AFTER.json",
                   help="adversarial training before/after JSON (e.g. the training output's before_after.json)")
    p.add_argument("--plan", type=Path, metavar="PLAN.toml",
                   help="apply a test plan: its verdict opens the PDF; exit code 0 pass / 3 fail")
    add_signoff_options(p)
    p.add_argument("--before-after-report", action="store_true",
                   help="RESULT.json is an adversarial training before/after result: write its own report "
                        "(both models' hashes, recipe, accuracies with intervals, paired McNemar test)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--include-phi", action="store_true",
                   help="do NOT de-identify (the reports may then contain patient identifiers)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.reports import export_reports_job, load_before_after, load_report_json
    from medadv_desktop.engine.reports.tables import load_report_corruption
    from medadv_desktop.engine.safe_write import all_or_nothing, refuse_output_over_input
    from medadv_desktop.errors import MedAdvError, OutputWriteError, ReportError

    outputs = {kind: Path(p) for kind, p in (("JSON", args.json), ("summary CSV", args.summary_csv),
                                             ("per-sample CSV", args.csv), ("PDF report", args.pdf)) if p}
    if not outputs:
        raise ReportError("No output was requested; add at least one of --pdf OUT.pdf, --csv OUT.csv, "
                          "--summary-csv OUT.csv, --json OUT.json.")
    inputs = [Path(args.result)] + ([Path(args.before_after)] if args.before_after else [])
    refuse_output_over_input(outputs.values(), inputs)     # even with --overwrite
    fresh = {kind for kind, p in outputs.items() if not os.path.lexists(p)}   # ours to remove on failure
    from medadv_desktop.engine.reports.traceability import ReportMeta

    plan = None
    if args.plan is not None:
        from medadv_desktop.engine.plans import load_plan

        plan = load_plan(args.plan)
    names = ReportMeta.create(requester=args.requester, approver=args.approver, purpose=args.purpose)
    if args.before_after_report:
        return _before_after_report(args, names)
    result, before_after = load_report_json(args.result)
    corruption = load_report_corruption(args.result)     # `evaluate --corruptions`: kept in the rebuilt reports
    if args.before_after is not None:
        before_after = load_before_after(args.before_after)
    verdict = None
    if plan is not None:
        from medadv_desktop.engine.plans import evaluate_plan
        from medadv_desktop.engine.plans.corruption import evaluate_combined_plan

        verdict = evaluate_plan(plan, result) if corruption is None else \
            evaluate_combined_plan(plan, result, corruption)
    meta = ReportMeta.create(requester=names.requester, approver=names.approver, verdict=verdict,
                             purpose=names.purpose)
    job = export_reports_job(result, pdf=args.pdf, csv=args.csv, summary_csv=args.summary_csv, json=args.json,
                             before_after=before_after, overwrite=args.overwrite, include_phi=args.include_phi,
                             meta=meta, corruption=corruption)
    try:
        with all_or_nothing() as written:
            def show(ev) -> None:
                if ev.message.startswith("Wrote"):
                    kind = ev.data.get("kind")
                    if kind in fresh:
                        written.append(outputs[kind])
                    print(ev.message, file=sys.stderr)
            paths = run_job(job, show)
    except OutputWriteError as exc:
        raise MedAdvError(f"{exc} No new report of this run was kept; '{Path(args.result).name}' still holds the "
                          "whole result: run the command again once there is space.", hint=exc.hint) from None
    for path in paths:
        print(path)
    if verdict is not None:
        print(verdict.summary() + f" -> exit code {verdict.exit_code}")
        return int(verdict.exit_code)
    return 0


def _before_after_report(args: argparse.Namespace, meta) -> int:
    """The before/after result as its own PDF / CSV / JSON (``--before-after-report``)."""
    from medadv_desktop.engine.reports import load_before_after
    from medadv_desktop.engine.reports.before_after_report import (
        write_before_after_csv, write_before_after_json, write_before_after_pdf)
    from medadv_desktop.errors import OutputExistsError, ReportError

    if args.plan is not None or args.summary_csv is not None or args.before_after is not None:
        raise ReportError("--before-after-report takes --pdf, --csv and --json only.",
                          hint="Leave out --plan, --summary-csv and --before-after.")
    outputs = [(Path(p), w) for p, w in ((args.json, write_before_after_json), (args.csv, write_before_after_csv),
                                         (args.pdf, write_before_after_pdf)) if p is not None]
    for path, _ in outputs:
        if path.exists() and not args.overwrite:
            raise OutputExistsError(path)
    table = load_before_after(args.result)
    for path, writer in outputs:
        print(writer(table, path, meta=meta, overwrite=args.overwrite, include_phi=args.include_phi))
    return 0
