"""CSV and JSON reports.

* :func:`write_csv`: one row per sample x attack x eps with every per-sample
  measure (all :class:`SampleRecord` fields plus class names and the drop in
  true-class confidence). Distances ``linf``/``l2`` are in [0, 1] intensity
  units, ``*_native`` in the study's units (e.g. HU), ``l0`` is the fraction of
  pixels changed, ``time_s`` seconds.
* :func:`write_summary_csv`: one row per attack x eps (``worst-case`` rows
  included) with every :class:`AttackRow` measure; ``cumulative`` is
  ``true`` on the rows of an attack cascade (robust accuracy after this
  attack and the ones above it, not the attack's own).
* :func:`write_json` / :func:`load_report_json`: the whole result plus the
  optional before/after training table; enough to rebuild the PDF.

Every string passes through :func:`deid.scrub` unless ``include_phi=True``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

from medadv_desktop.engine.results.evaluation import AttackRow, EvaluationResult, SampleRecord
from medadv_desktop.engine.reports.before_after import BeforeAfterTable, normalise_before_after
from medadv_desktop.engine.reports.deid import check_output_name, scrub, scrub_text
from medadv_desktop.engine.reports.formatting import eps_fraction
from medadv_desktop.engine.serialization import atomic_write_bytes, dumps, to_jsonable
from medadv_desktop.errors import ReportError

log = logging.getLogger(__name__)

REPORT_FORMAT = "medadv-report"
REPORT_FORMAT_VERSION = 1

SAMPLE_FIELDS = [f.name for f in fields(SampleRecord)]
SAMPLE_COLUMNS = (SAMPLE_FIELDS[:2] + ["true_class"] + SAMPLE_FIELDS[2:4] + ["eps_fraction"]
                  + SAMPLE_FIELDS[4:6] + ["clean_pred_class", "adv_pred_class"]
                  + SAMPLE_FIELDS[6:8] + ["conf_drop"] + SAMPLE_FIELDS[8:])
SUMMARY_FIELDS = [f.name for f in fields(AttackRow) if f.name != "transitions"]
SUMMARY_COLUMNS = (SUMMARY_FIELDS[:2] + ["eps_fraction"] + SUMMARY_FIELDS[2:]
                   + ["clean_accuracy", "units", "norm", "transitions"])


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if value == value and value not in (float("inf"), float("-inf")) else ""
    return value


def class_name(result: EvaluationResult, index: Any) -> str:
    try:
        return str(result.class_names[int(index)])
    except (TypeError, ValueError, IndexError):
        return str(index)


def _csv_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue().encode("utf-8")


def _text(value: Any, include_phi: bool) -> Any:
    return value if include_phi or not isinstance(value, str) else scrub_text(value)


def write_csv(result: EvaluationResult, path: str | Path, *, overwrite: bool = False,
              include_phi: bool = False) -> Path:
    """Per-sample CSV: one row per sample x attack x eps (see module docstring)."""
    check_output_name(path, include_phi=include_phi)
    rows = []
    for s in result.samples:
        values = {name: getattr(s, name) for name in SAMPLE_FIELDS}
        values["sample_id"] = _text(s.sample_id, include_phi)
        values["attack"] = _text(s.attack, include_phi)
        values["true_class"] = _text(class_name(result, s.true_label), include_phi)
        values["clean_pred_class"] = _text(class_name(result, s.clean_pred), include_phi)
        values["adv_pred_class"] = _text(class_name(result, s.adv_pred), include_phi)
        values["eps_fraction"] = eps_fraction(s.eps)
        try:
            values["conf_drop"] = float(s.clean_conf_true) - float(s.adv_conf_true)
        except (TypeError, ValueError):
            values["conf_drop"] = None
        rows.append([values[c] for c in SAMPLE_COLUMNS])
    out = atomic_write_bytes(path, _csv_bytes(SAMPLE_COLUMNS, rows), overwrite=overwrite)
    log.info("Wrote per-sample CSV %s (%d rows)", scrub_text(out.name), len(rows))
    return out


def write_summary_csv(result: EvaluationResult, path: str | Path, *, overwrite: bool = False,
                      include_phi: bool = False) -> Path:
    """Summary CSV: one row per attack x eps (worst-case rows included).

    ``transitions`` is the class-transition matrix [true][adversarial
    prediction] as compact JSON.
    """
    check_output_name(path, include_phi=include_phi)
    rows = []
    for r in result.rows:
        values = {name: getattr(r, name) for name in SUMMARY_FIELDS}
        values["attack"] = _text(r.attack, include_phi)
        values["eps_fraction"] = eps_fraction(r.eps)
        values["clean_accuracy"] = result.clean_accuracy
        values["units"] = result.units
        values["norm"] = result.norm
        values["transitions"] = json.dumps(to_jsonable(r.transitions), separators=(",", ":")) if r.transitions else ""
        rows.append([values[c] for c in SUMMARY_COLUMNS])
    out = atomic_write_bytes(path, _csv_bytes(SUMMARY_COLUMNS, rows), overwrite=overwrite)
    log.info("Wrote summary CSV %s (%d rows)", scrub_text(out.name), len(rows))
    return out


def report_document(result: EvaluationResult, *, before_after: Any = None,
                    include_phi: bool = False) -> dict[str, Any]:
    """The JSON document of a report: format tag, the result, the before/after table."""
    table = normalise_before_after(before_after)
    doc = {
        "format": REPORT_FORMAT,
        "format_version": REPORT_FORMAT_VERSION,
        "result": to_jsonable(result),
        "before_after": table.to_dict() if table is not None else None,
    }
    return scrub(doc, include_phi=include_phi)


def write_json(result: EvaluationResult, path: str | Path, *, before_after: Any = None,
               overwrite: bool = False, include_phi: bool = False) -> Path:
    """The whole result (and before/after table) as JSON; :func:`load_report_json` reads it back."""
    check_output_name(path, include_phi=include_phi)
    doc = report_document(result, before_after=before_after, include_phi=include_phi)
    out = atomic_write_bytes(path, dumps(doc).encode("utf-8"), overwrite=overwrite)
    log.info("Wrote JSON report %s", scrub_text(out.name))
    return out


def load_report_json(path: str | Path) -> tuple[EvaluationResult, BeforeAfterTable | None]:
    """Read a report JSON written by :func:`write_json` (or a bare EvaluationResult
    JSON as written by ``medadv evaluate --json``) -> (result, before_after or None)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"'{path.name}' does not exist.", hint="Give the JSON written by an evaluation or an export.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"'{path.name}' is not a readable JSON file ({exc.__class__.__name__}).",
                          hint="Give the JSON written by 'medadv evaluate --json' or by a report export.") from None
    if not isinstance(doc, dict):
        raise ReportError(f"'{path.name}' does not hold a MedAdv result.",
                          hint="Give the JSON written by 'medadv evaluate --json' or by a report export.")
    if doc.get("format") == REPORT_FORMAT:
        if int(doc.get("format_version", 1)) > REPORT_FORMAT_VERSION:
            raise ReportError(f"'{path.name}' was written by a newer MedAdv (report format "
                              f"{doc.get('format_version')}).", hint="Update MedAdv Desktop to read it.")
        result_dict, before_after = doc.get("result"), doc.get("before_after")
    else:
        result_dict, before_after = doc, doc.get("before_after")
        if "clean_accuracy" not in doc and _looks_like_before_after(doc):
            # a before/after JSON of the training job: report the trained model, with the table
            nested = next((doc[k] for k in _NESTED_RESULT_KEYS if _looks_like_result(doc.get(k))), None)
            if nested is not None:
                result_dict, before_after = nested, doc
    if not isinstance(result_dict, dict) or "rows" not in result_dict or "clean_accuracy" not in result_dict:
        raise ReportError(f"'{path.name}' does not hold an evaluation result (no 'rows' / 'clean_accuracy').",
                          hint="Give the JSON written by 'medadv evaluate --json' or by a report export.")
    try:
        result = EvaluationResult.from_dict(result_dict)
    except TypeError as exc:
        raise ReportError(f"'{path.name}' is missing fields of an evaluation result: {exc}",
                          hint="Re-run the evaluation to write a complete JSON.") from None
    return result, normalise_before_after(before_after)


_NESTED_RESULT_KEYS = ("after", "result_after", "after_result", "hardened", "evaluation_after",
                       "before", "result_before", "before_result", "original", "evaluation_before")


def _looks_like_result(d: Any) -> bool:
    return isinstance(d, dict) and "rows" in d and "clean_accuracy" in d


def _looks_like_before_after(d: dict) -> bool:
    rows = d.get("rows")
    return isinstance(rows, list) and bool(rows) and isinstance(rows[0], dict) and "accuracy_before" in rows[0]
