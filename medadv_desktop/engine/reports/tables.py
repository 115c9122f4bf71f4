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
  Interval columns (``robust_accuracy_low``/``_high``, ``attack_success_rate_k``/``_n``/``_low``/
  ``_high``) and per class ``robust_sensitivity[<class>]`` / ``robust_specificity[<class>]``
  with ``_k``, ``_n``, ``_low``, ``_high`` come from
  :func:`~medadv_desktop.engine.metrics.per_class.per_class_measures` (exact 95 %
  Clopper-Pearson); ``report_id`` and ``plan_verdict`` are on every row when known.
* :func:`write_json` / :func:`load_report_json`: the whole result plus the
  optional before/after training table; enough to rebuild the PDF. The
  document carries ``schema_version``; files of earlier versions (and the
  bare JSON of ``medadv evaluate --json`` or ``before_after.json``) load too.
  It also holds ``measures`` (every rate with k, n and interval, clean and per
  class under attack) and ``report`` (id, requester/approver, test plan hash and verdict rows).
* :func:`write_result_json`: the bare result JSON (``medadv evaluate --json``) with the same
  ``measures`` and ``report`` blocks beside the result's fields.

Every string passes through :func:`deid.scrub` unless ``include_phi=True``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import stat
from dataclasses import fields
from pathlib import Path
from typing import Any

from medadv_desktop.engine.reports.deid import check_output_name, scrub, scrub_text
from medadv_desktop.engine.reports.formatting import eps_fraction
from medadv_desktop.engine.results import (
    AttackRow,
    BeforeAfterResult,
    EvaluationResult,
    SampleRecord,
    complete_attack_info,
)
from medadv_desktop.engine.results.schema import SCHEMA_VERSION, document_version
from medadv_desktop.engine.serialization import atomic_write_bytes, dumps, to_jsonable
from medadv_desktop.errors import ReportError, ResultFormatError

log = logging.getLogger(__name__)

REPORT_FORMAT = "medadv-report"

SAMPLE_FIELDS = [f.name for f in fields(SampleRecord)]
SAMPLE_COLUMNS = (SAMPLE_FIELDS[:2] + ["true_class"] + SAMPLE_FIELDS[2:4] + ["eps_fraction"]
                  + SAMPLE_FIELDS[4:6] + ["clean_pred_class", "adv_pred_class"]
                  + SAMPLE_FIELDS[6:8] + ["conf_drop"] + SAMPLE_FIELDS[8:])
SUMMARY_FIELDS = [f.name for f in fields(AttackRow) if f.name != "transitions"]
SUMMARY_COLUMNS = (SUMMARY_FIELDS[:2] + ["eps_fraction"] + SUMMARY_FIELDS[2:]
                   + ["clean_accuracy", "units", "norm", "transitions", "attack_label", "access"])


def csv_cell(value: Any, *, scrub_strings: bool = False) -> Any:
    """One CSV cell: '' for None and non-finite floats, true/false for booleans, floats in full
    precision (``repr``); strings pass through the report scrubber when ``scrub_strings``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if scrub_strings and isinstance(value, str):
        return scrub_text(value)
    return value


def class_name(result: EvaluationResult, index: Any) -> str:
    try:
        return str(result.class_names[int(index)])
    except (TypeError, ValueError, IndexError):
        return str(index)


def csv_bytes(header: list[str], rows: list[list[Any]], *, scrub_strings: bool = False) -> bytes:
    """The CSV document (UTF-8) of ``header`` and ``rows``, every value through :func:`csv_cell`
    (the one CSV writer of the reports: attack tables here, corruption tables in ``corruption_csv``)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([csv_cell(h, scrub_strings=scrub_strings) for h in header])
    for row in rows:
        writer.writerow([csv_cell(v, scrub_strings=scrub_strings) for v in row])
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
    out = atomic_write_bytes(path, csv_bytes(SAMPLE_COLUMNS, rows), overwrite=overwrite)
    log.info("Wrote per-sample CSV %s (%d rows)", scrub_text(out.name), len(rows))
    return out


def _measures(result: EvaluationResult) -> Any:
    from medadv_desktop.engine.metrics.per_class import per_class_measures

    try:
        return per_class_measures(result)
    except ValueError as exc:
        log.warning("No intervals in the report: %s", exc)
        return None


def proportion_cells(prefix: str, p: Any) -> dict[str, Any]:
    """The columns of a rate with its interval: ``prefix``, ``_k``, ``_n``, ``_low``, ``_high`` (empty
    cells when ``p`` is None). ``p``: a Proportion or a result's Rate."""
    if p is None:
        return {prefix: None, f"{prefix}_k": None, f"{prefix}_n": None, f"{prefix}_low": None,
                f"{prefix}_high": None}
    return {prefix: p.value, f"{prefix}_k": p.k, f"{prefix}_n": p.n, f"{prefix}_low": p.low, f"{prefix}_high": p.high}


def _interval_columns(result: EvaluationResult) -> list[str]:
    cols = [f"{m}{s}" for m in ("robust_accuracy", "attack_success_rate") for s in ("_k", "_n", "_low", "_high")]
    for name in result.class_names:
        for m in ("robust_sensitivity", "robust_specificity"):
            cols += [f"{m}[{name}]{s}" for s in ("", "_k", "_n", "_low", "_high")]
    return cols + ["interval_method", "confidence", "report_id", "plan_verdict"]


def write_summary_csv(result: EvaluationResult, path: str | Path, *, overwrite: bool = False,
                      include_phi: bool = False, meta: Any = None) -> Path:
    """Summary CSV: one row per attack x eps (worst-case rows included).

    ``transitions`` is the class-transition matrix [true][adversarial
    prediction] as compact JSON; ``attack_label`` and ``access`` (white-box /
    black-box) are the attack's own, as the result recorded them.
    """
    check_output_name(path, include_phi=include_phi)
    measures = _measures(result)
    columns = SUMMARY_COLUMNS + _interval_columns(result)
    rows = []
    for r in result.rows:
        values = {name: getattr(r, name) for name in SUMMARY_FIELDS}
        at = measures.at(r.attack, r.eps) if measures is not None else None
        if at is not None:
            for key, value in {**proportion_cells("robust_accuracy", at.robust_accuracy),
                               **proportion_cells("attack_success_rate", at.attack_success_rate)}.items():
                if key not in ("robust_accuracy", "attack_success_rate"):     # the row's own value stays
                    values[key] = value
            for cr in at.classes:
                values.update(proportion_cells(f"robust_sensitivity[{cr.class_name}]", cr.sensitivity))
                values.update(proportion_cells(f"robust_specificity[{cr.class_name}]", cr.specificity))
            values["interval_method"] = measures.method
            values["confidence"] = measures.confidence
        if meta is not None:
            values["report_id"] = meta.report_id
            values["plan_verdict"] = meta.verdict.status if meta.verdict is not None else None
        values["attack"] = _text(r.attack, include_phi)
        values["eps_fraction"] = eps_fraction(r.eps)
        values["clean_accuracy"] = result.clean_accuracy
        values["units"] = result.units
        values["norm"] = result.norm
        values["transitions"] = json.dumps(to_jsonable(r.transitions), separators=(",", ":")) if r.transitions else ""
        info = result.attack_details(r.attack)
        values["attack_label"] = _text(result.attack_label(r.attack), include_phi)
        values["access"] = info.access if info is not None else ""
        rows.append([values.get(c) for c in columns])
    header = [_text(c, include_phi) for c in columns]
    out = atomic_write_bytes(path, csv_bytes(header, rows), overwrite=overwrite)
    log.info("Wrote summary CSV %s (%d rows)", scrub_text(out.name), len(rows))
    return out


def _report_blocks(result: EvaluationResult, meta: Any) -> dict[str, Any]:
    """``report`` (id, names, plan and verdict) and ``measures`` (rates with k, n, interval)."""
    from medadv_desktop.engine.reports.traceability import ReportMeta

    meta = meta if meta is not None else ReportMeta()
    measures = _measures(result)
    return {"report": meta.to_dict(), "measures": to_jsonable(measures) if measures is not None else None}


def report_document(result: EvaluationResult, *, before_after: BeforeAfterResult | None = None,
                    include_phi: bool = False, meta: Any = None, corruption: Any = None) -> dict[str, Any]:
    """The JSON document of a report: format tag, schema version, the result, the before/after table
    (without its two evaluations: the result is the one reported), ``report`` and ``measures``, and
    ``corruption`` (the corruption evaluation run beside the attacks) when given."""
    doc = {
        "format": REPORT_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "result": to_jsonable(result),
        "before_after": before_after.table_dict() if before_after is not None else None,
    }
    if corruption is not None:
        doc["corruption"] = to_jsonable(corruption)
    blocks = _report_blocks(result, meta)
    names = {k: blocks["report"].pop(k) for k in ("requester", "approver")}    # staff names: not scrubbed
    doc.update(blocks)
    out = scrub(doc, include_phi=include_phi)
    out["report"].update(names)
    return out


def write_result_json(result: EvaluationResult, path: str | Path, *, meta: Any = None,
                      overwrite: bool = False, corruption: Any = None) -> Path:
    """The result's own JSON (``EvaluationResult.save``'s fields, which :meth:`EvaluationResult.load`
    reads) with the ``report`` and ``measures`` blocks beside them, and ``corruption`` (the whole
    CorruptionEvaluationResult run beside the attacks, ``CorruptionEvaluationResult.from_dict`` reads it)
    when given."""
    doc = to_jsonable(result)
    doc.update(_report_blocks(result, meta))
    if corruption is not None:
        doc["corruption"] = to_jsonable(corruption)
    out = atomic_write_bytes(path, dumps(doc).encode("utf-8"), overwrite=overwrite)
    log.info("Wrote result JSON %s", scrub_text(out.name))
    return out


def write_json(result: EvaluationResult, path: str | Path, *, before_after: BeforeAfterResult | None = None,
               overwrite: bool = False, include_phi: bool = False, meta: Any = None,
               corruption: Any = None) -> Path:
    """The whole result (and before/after table, and corruption evaluation) as JSON;
    :func:`load_report_json` and :func:`load_report_corruption` read it back."""
    check_output_name(path, include_phi=include_phi)
    doc = report_document(result, before_after=before_after, include_phi=include_phi, meta=meta,
                          corruption=corruption)
    out = atomic_write_bytes(path, dumps(doc).encode("utf-8"), overwrite=overwrite)
    log.info("Wrote JSON report %s", scrub_text(out.name))
    return out


_HINT = "Give the JSON written by 'medadv evaluate --json' or by a report export."


#: The largest result JSON read (an evaluation of ~10 000 images x 5 attacks x 5 eps is ~100 MB; parsed,
#: a file takes several times its size in memory).
MAX_RESULT_BYTES = 256 * 1024 * 1024


def _read_json(path: Path, hint: str) -> Any:
    """A result JSON, read defensively: a regular file (a pipe or device is refused without
    waiting on it), at most :data:`MAX_RESULT_BYTES`, any nesting depth refused cleanly."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ReportError(f"'{path.name}' does not exist.", hint=hint) from None
    except IsADirectoryError:
        raise ReportError(f"'{path.name}' is a folder, not a JSON file.", hint=hint) from None
    except OSError as exc:
        raise ReportError(f"'{path.name}' cannot be read ({exc.strerror or exc.__class__.__name__}).",
                          hint=hint) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ReportError(f"'{path.name}' is a folder, not a JSON file.", hint=hint)
        if not stat.S_ISREG(st.st_mode):
            raise ReportError(f"'{path.name}' is not a regular file (a pipe, device or socket); not read.",
                              hint=hint)
        if st.st_size > MAX_RESULT_BYTES:
            raise ReportError(f"'{path.name}' is {st.st_size:,} bytes; MedAdv result files are at most "
                              f"{MAX_RESULT_BYTES:,} bytes.", hint=hint)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(MAX_RESULT_BYTES + 1)
    except OSError as exc:
        raise ReportError(f"'{path.name}' cannot be read ({exc.strerror or exc.__class__.__name__}).",
                          hint=hint) from None
    finally:
        os.close(fd)
    if len(raw) > MAX_RESULT_BYTES:
        raise ReportError(f"'{path.name}' is over {MAX_RESULT_BYTES:,} bytes; MedAdv result files are "
                          "smaller.", hint=hint)
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise ReportError(f"'{path.name}' is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).",
                          hint=hint) from None
    except (UnicodeDecodeError, ValueError, RecursionError, MemoryError) as exc:
        raise ReportError(f"'{path.name}' is not a readable JSON file ({exc.__class__.__name__}).",
                          hint=hint) from None


def _registry_lookup(name: str) -> tuple[str, str] | None:
    """An attack's label and description from the attack registry (for files that did not record them)."""
    from medadv_desktop.engine.attacks.base import ATTACKS, available

    available()                      # registers the built-in attacks
    cls = ATTACKS.get(name)
    return None if cls is None else (cls.label or cls.name, cls.description)


def _complete(result: EvaluationResult) -> EvaluationResult:
    if any(not (a.label and a.description) for a in result.attack_info):
        complete_attack_info(result.attack_info, _registry_lookup)
    return result


def _is_before_after(doc: dict[str, Any]) -> bool:
    rows = doc.get("rows")
    return isinstance(rows, list) and bool(rows) and isinstance(rows[0], dict) and "accuracy_before" in rows[0]


def load_before_after(path: str | Path) -> BeforeAfterResult:
    """Read a before/after JSON (``before_after.json`` of a training run, or a full before/after
    result; any schema version)."""
    path = Path(path)
    hint = "Give the before_after.json of an adversarial training run."
    doc = _read_json(path, hint)
    try:
        table = BeforeAfterResult.from_data(doc)
    except ResultFormatError as exc:
        raise ReportError(f"'{path.name}': {exc}", hint=exc.hint or hint) from None
    for evaluation in (table.before, table.after):
        if evaluation is not None:
            _complete(evaluation)
    complete_attack_info(table.attack_info, _registry_lookup)
    return table


def load_report_json(path: str | Path) -> tuple[EvaluationResult, BeforeAfterResult | None]:
    """Read a report JSON written by :func:`write_json`, the bare EvaluationResult JSON of
    ``medadv evaluate --json`` or a full before/after result (then the hardened model's evaluation
    is the result, with the table), of any schema version -> (result, before_after or None).

    Attacks that a file of the first release recorded by name only get their label and
    description from the attack registry."""
    path = Path(path)
    doc = _read_json(path, _HINT)
    if not isinstance(doc, dict):
        raise ReportError(f"'{path.name}' does not hold a MedAdv result.", hint=_HINT)
    try:
        if doc.get("format") == REPORT_FORMAT:
            document_version(doc, "report")
            result_doc, table_doc = doc.get("result"), doc.get("before_after")
        elif "clean_accuracy" not in doc and _is_before_after(doc) and isinstance(doc.get("after"), dict):
            result_doc, table_doc = doc["after"], doc          # a full before/after result: report the trained model
        else:
            result_doc, table_doc = doc, None
        if not isinstance(result_doc, dict) or "rows" not in result_doc or "clean_accuracy" not in result_doc:
            raise ReportError(f"'{path.name}' does not hold an evaluation result (no 'rows' / 'clean_accuracy').",
                              hint=_HINT)
        result = _complete(EvaluationResult.from_data(result_doc))
        table = BeforeAfterResult.from_data(table_doc) if isinstance(table_doc, dict) else None
    except ResultFormatError as exc:
        raise ReportError(f"'{path.name}' is not a complete evaluation result: {exc}",
                          hint=exc.hint or "Re-run the evaluation to write a complete JSON.") from None
    if table is not None:
        complete_attack_info(table.attack_info, _registry_lookup)
    return result, table


def load_report_corruption(path: str | Path) -> Any:
    """The corruption evaluation stored beside the attacks in a result or report JSON (``medadv evaluate
    --corruptions``: its ``corruption`` block), or None when the file has none."""
    from medadv_desktop.engine.results.corruption import CorruptionEvaluationResult

    path = Path(path)
    doc = _read_json(path, _HINT)
    block = doc.get("corruption") if isinstance(doc, dict) else None
    if block is None:
        return None
    try:
        return CorruptionEvaluationResult.from_dict(block)
    except ResultFormatError as exc:
        raise ReportError(f"'{path.name}' holds an incomplete corruption evaluation: {exc}",
                          hint=exc.hint or "Re-run the evaluation to write a complete JSON.") from None
