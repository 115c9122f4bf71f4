"""Per-class sensitivity and specificity with their 95 % intervals (issue 15): one table, two sources.

* An attack evaluation (Results ▸ "Per class"): :meth:`PerClassTable.set_measures` shows the
  engine's :class:`~medadv_desktop.engine.metrics.per_class.PerClassMeasures` (computed on the
  worker) as rows class x eps x attack (clean first, the worst case after the attacks of each eps).
* A corruption evaluation (under the Corruptions tab's table): :meth:`PerClassTable.set_corruption_rows`
  shows each :class:`~medadv_desktop.engine.results.corruption.CorruptionRow`'s ``per_class`` as rows
  corruption x severity x class.

Every rate is the engine's (k, n, value, low, high); nothing is recomputed here. Tooltips carry the
counts, the interval method, the engine's small-sample caution, the multi-class specificity caveat
and the cascade (cumulative) note. With more than two classes the sensitivity is the class's recall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidget, QVBoxLayout, QWidget

from medadv_desktop.ui.widgets.common import dim_label, pct, table_item
from medadv_desktop.ui.widgets.summary_table import CUMULATIVE_TIP, attack_text, eps_text

CLEAN = "clean"
WORST_CASE_TIP = "Worst case: a sample counts as recognised only if every attack at this eps failed on it."


def rate_text(rate: Any) -> str:
    """'71.3 % [65.8–76.4]  (107/150)': the engine's rate, its interval and its counts ('—' when n = 0)."""
    if rate is None or rate.value is None:
        return "—" if rate is None else f"—  (0/{rate.n})"
    return f"{pct(rate.value)} [{100.0 * rate.low:.1f}–{100.0 * rate.high:.1f}]  ({rate.k}/{rate.n})"


def rate_tip(rate: Any, subject: str) -> str:
    """Counts, interval and method, and the engine's small-sample caution (if one is due)."""
    # imported here, not at module level: the GUI's start imports no engine computation (intervals itself
    # needs no torch); once the engine has started every engine module is loaded, so this costs nothing then
    from medadv_desktop.engine.metrics.intervals import small_sample_caution

    if rate is None:
        return ""
    caution = small_sample_caution(rate.n, rate.low if rate.value is not None else None,
                                   rate.high if rate.value is not None else None,
                                   confidence=rate.confidence, subject=subject)
    if rate.value is None:
        return caution or ""
    method = "exact Clopper-Pearson" if rate.method == "clopper-pearson" else rate.method
    tip = (f"{subject}: {rate.k}/{rate.n} = {pct(rate.value)}; {100 * rate.confidence:g} % interval "
           f"{100 * rate.low:.1f}–{100 * rate.high:.1f} % ({method})")
    return tip + ("\n" + caution if caution else "")


@dataclass(frozen=True)
class PerClassRow:
    """One row: what it is of (``keys``, one text per leading column), the class and its two rates."""

    keys: tuple[str, ...]
    class_name: str
    sensitivity: Any           # engine Proportion / Rate: k, n, value, low, high, method, confidence
    specificity: Any
    note: str = ""             # tooltip of the whole row (caveat, cumulative, worst case)
    condition: str = ""        # "robust" / "under jpeg2000 severity 5" for the cells' tooltips
    sort_keys: tuple[Any, ...] = ()   # per key column, where its text does not sort right (eps, severity)


class PerClassTable(QWidget):
    """A caption and a table of per-class rates (module doc)."""

    def __init__(self, parent: QWidget | None = None, *, object_name: str = "per_class",
                 empty_text: str = "Run an evaluation on a labelled data set to see the per-class sensitivity "
                                   "and specificity under each attack, with their 95 % intervals.") -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.caption = dim_label(empty_text, object_name=f"{object_name}_caption")
        layout.addWidget(self.caption)
        self.table = QTableWidget(0, 0)
        self.table.setObjectName(f"{object_name}_table")
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        layout.addWidget(self.table, 1)
        self.rows: list[PerClassRow] = []

    # -- sources ------------------------------------------------------------------------
    def set_measures(self, measures: Any, units: str = "", caption: str = "") -> None:
        """The engine's ``PerClassMeasures`` of an attack evaluation (None: cleared, with why)."""
        if measures is None:
            self.set_rows(("Attack", "eps"), [], "This evaluation carries no per-class measures.", 2)
            return
        multi = len(measures.class_names) > 2
        rows: list[PerClassRow] = []
        for c in measures.clean:
            rows.append(PerClassRow((CLEAN, "—"), c.class_name, c.sensitivity, c.specificity, condition="clean",
                                    sort_keys=(None, 0.0)))
        for c_name in measures.class_names:
            for r in measures.robust:
                rates = r.of(c_name)
                if rates is None:
                    continue
                notes = [n for n in (CUMULATIVE_TIP if r.cumulative else "",
                                     WORST_CASE_TIP if r.attack == "worst-case" else "", r.caveat or "") if n]
                rows.append(PerClassRow((attack_text(r), eps_text(r.eps, r.eps_native, units)), c_name,
                                        rates.sensitivity, rates.specificity, note="\n".join(notes),
                                        condition="robust", sort_keys=(None, float(r.eps))))
        text = caption or (f"{measures.n_samples} samples; {100 * measures.confidence:g} % intervals "
                           f"({measures.method}). Robust sensitivity of a class: the share of its samples still "
                           "recognised after the attack (a sample missed on clean input counts as missed).")
        self.set_rows(("Attack", "eps"), rows, text, len(measures.class_names), recall=multi)

    def set_corruption_rows(self, result: Any) -> None:
        """Each row of a ``CorruptionEvaluationResult`` (clean first), one line per class."""
        rows: list[PerClassRow] = []
        for row in [result.clean, *result.rows]:
            label = row.label if row.severity else CLEAN
            condition = f"under {row.label} severity {row.severity}" if row.severity else "clean"
            for c in row.per_class:
                rows.append(PerClassRow((label, str(row.severity)), c.class_name, c.sensitivity, c.specificity,
                                        note=row.description, condition=condition,
                                        sort_keys=(None, int(row.severity))))
        self.set_rows(("Corruption", "Severity"), rows,
                      "Per-class sensitivity and one-vs-rest specificity in each row, with 95 % intervals.",
                      len(result.class_names), recall=len(result.class_names) > 2)

    # -- table --------------------------------------------------------------------------
    def set_rows(self, key_columns: Sequence[str], rows: Sequence[PerClassRow], caption: str, n_classes: int,
                 *, recall: bool = False) -> None:
        self.rows = list(rows)
        sens = "Recall (sensitivity)" if recall else "Sensitivity"
        headers = [*key_columns, "Class", f"{sens} (95 % CI, k/n)", "Specificity (95 % CI, k/n)"]
        self.table.setSortingEnabled(False)
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(self.rows))
        n_keys = len(key_columns)
        for r, row in enumerate(self.rows):
            for c, text in enumerate(row.keys):
                key = row.sort_keys[c] if c < len(row.sort_keys) else None
                self.table.setItem(r, c, table_item(text, tip=row.note, sort_key=key))
            self.table.setItem(r, n_keys, table_item(row.class_name, tip=row.note))
            kind = f"{row.condition} " if row.condition else ""
            sens_subject = f"{kind}{'recall' if recall else 'sensitivity'} of {row.class_name}"
            spec_subject = f"{kind}specificity of {row.class_name}"
            for c, (rate, subject) in enumerate(((row.sensitivity, sens_subject), (row.specificity, spec_subject))):
                tip = "\n".join(t for t in (rate_tip(rate, subject), row.note) if t)
                value = None if rate is None or rate.value is None else float(rate.value)
                self.table.setItem(r, n_keys + 1 + c, table_item(rate_text(rate), tip=tip, align_right=True,
                                                                 sort_key=value))
        header = self.table.horizontalHeader()
        header.setSortIndicator(-1, Qt.AscendingOrder)       # new rows: the engine's order until a header click
        self.table.setSortingEnabled(True)                  # a header click sorts; rates and eps as numbers
        header.setSortIndicatorShown(bool(self.rows))
        self.caption.setText(caption)

    def texts(self) -> list[list[str]]:
        """What the table shows, row by row."""
        t = self.table
        return [[t.item(r, c).text() if t.item(r, c) else "" for c in range(t.columnCount())]
                for r in range(t.rowCount())]
