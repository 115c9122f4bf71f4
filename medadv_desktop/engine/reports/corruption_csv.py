"""CSV of a corruption evaluation: the table (one row per corruption and severity) and the per-sample records.

* :func:`write_corruption_csv`: the clean row (``corruption`` ``clean``,
  severity 0) then one row per corruption and severity: the physical level,
  accuracy with its interval (k, n, low, high), error, prediction flips
  against the clean prediction, newly wrong / newly right counts, the mean
  change of the true-class probability, per class sensitivity and
  specificity with intervals (``sens_<class>``, ``sens_<class>_low``, ...),
  the robust accuracy after the attack when one ran, the measured
  compression ratio of the lossy codecs, and the corruption's corruption
  error (``ce``, ``added_error``, ``relative_ce``: the same on each of its rows).
* :func:`write_corruption_samples_csv`: one row per sample, corruption and
  severity (clean rows included): true class, prediction, true-class
  probability and, with an attack, the prediction after it.

Sample ids are pseudonyms; every string still passes through the report
scrubber, and file names carrying a DICOM UID are refused, as for every report.
The cells are written by the reports' one CSV writer (:func:`tables.csv_bytes`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medadv_desktop.engine.reports.deid import check_output_name
from medadv_desktop.engine.reports.tables import csv_bytes, proportion_cells
from medadv_desktop.engine.results.corruption import CorruptionEvaluationResult, CorruptionRow
from medadv_desktop.engine.serialization import atomic_write_bytes


def table_rows(result: CorruptionEvaluationResult) -> list[dict[str, Any]]:
    """The table as dicts (column -> value), clean row first: what the CSV writes."""
    out = []
    for row in [result.clean, *result.rows]:
        out.append(_table_row(result, row))
    return out


def _table_row(result: CorruptionEvaluationResult, row: CorruptionRow) -> dict[str, Any]:
    s = result.summary(row.corruption)
    d: dict[str, Any] = {
        "corruption": row.corruption, "label": row.label, "severity": row.severity, "level": row.level,
        "level_unit": row.level_unit.strip(), "description": row.description, "n_samples": row.n_samples}
    d.update(proportion_cells("accuracy", row.accuracy))
    d["error"] = row.error
    d.update(proportion_cells("flip_rate", row.flips))
    d.update({"newly_wrong": row.newly_wrong, "newly_right": row.newly_right,
              "mean_conf_change": row.mean_conf_change})
    for c in row.per_class:
        name = c.class_name
        for key, rate in (("sens", c.sensitivity), ("spec", c.specificity)):
            d[f"{key}_{name}"] = rate.value
            d[f"{key}_{name}_low"] = rate.low
            d[f"{key}_{name}_high"] = rate.high
    d.update(proportion_cells("robust_accuracy", row.robust_accuracy))
    d["compression_ratio"] = row.measured.get("compression_ratio")
    d["ce"] = s.ce if s else None
    d["added_error"] = s.added_error if s else None
    d["relative_ce"] = s.relative_ce if s else None
    d["corruption_time_s"] = row.time_s
    return d


def write_corruption_csv(result: CorruptionEvaluationResult, path: str | Path, *, overwrite: bool = False) -> Path:
    """The corruption table as CSV (module doc); never overwrites unless asked."""
    check_output_name(path)
    rows = table_rows(result)
    header: list[str] = []
    for r in rows:
        header.extend(k for k in r if k not in header)
    body = csv_bytes(header, [[r.get(k) for k in header] for r in rows], scrub_strings=True)
    return atomic_write_bytes(path, body, overwrite=overwrite)


SAMPLE_COLUMNS = ["sample_id", "true_class", "corruption", "severity", "pred_class", "correct", "conf_true",
                  "robust_pred_class"]


def write_corruption_samples_csv(result: CorruptionEvaluationResult, path: str | Path, *,
                                 overwrite: bool = False) -> Path:
    """One row per sample, corruption and severity (module doc); never overwrites unless asked."""
    check_output_name(path)

    def name(i: int | None) -> str | None:
        if i is None:
            return None
        return result.class_names[i] if 0 <= i < len(result.class_names) else str(i)

    rows = [[s.sample_id, name(s.true_label), s.corruption, s.severity, name(s.pred), s.pred == s.true_label,
             s.conf_true, name(s.robust_pred)] for s in result.samples]
    return atomic_write_bytes(path, csv_bytes(SAMPLE_COLUMNS, rows, scrub_strings=True), overwrite=overwrite)
