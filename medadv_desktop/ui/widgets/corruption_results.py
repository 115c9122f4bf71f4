"""The Results tab of a corruption evaluation: the table (corruption x severity) and the severity curve.

Every number comes from the engine's :class:`~medadv_desktop.engine.results.corruption.CorruptionEvaluationResult`
(rates with their 95 % intervals, flips, mean confidence change, corruption
error, the per-class sensitivity and specificity of every row) and the level text is the PDF's (:func:`~medadv_desktop.engine.reports.corruption_report.level_text`,
with the compression ratio a lossy codec really reached); nothing is recomputed here. The curve plots accuracy against
severity per corruption (severity 0 is the clean accuracy, shared by all),
each corruption with its own colour and line style so it reads in grey too.

Per class (issue 16): with at most ``INLINE_CLASSES`` classes (as the PDF) the table has a
sensitivity column per class beside the accuracy (value and 95 % interval; the counts and the
engine's small-sample caution in the tooltip); beside it (tab "Per class"), the per-class table lists every row's
sensitivity and one-vs-rest specificity per class with intervals and counts, for any number of classes.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QSplitter, QTableWidget, QTabWidget, QVBoxLayout, QWidget

from medadv_desktop.engine.reports.corruption_report import INLINE_CLASSES, level_text
from medadv_desktop.ui import theme
from medadv_desktop.ui.widgets.common import dim_label, pct, table_item
from medadv_desktop.ui.widgets.per_class_table import PerClassTable, rate_tip

COLUMNS = ("Corruption", "Severity", "Level", "Accuracy (95 % CI)", "Flips", "Newly wrong", "Δ conf. true class",
           "CE (rel.)")
PER_CLASS_TAB = "Per class (sensitivity, specificity)"
SENS_AFTER = 4                 # the per-class sensitivity columns follow the accuracy (as in the PDF)
PALETTE = ("#4e9af1", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7", "#9c755f",
           "#bab0ac")
STYLES = (Qt.SolidLine, Qt.DashLine, Qt.DotLine, Qt.DashDotLine, Qt.DashDotDotLine)
SYMBOLS = ("o", "s", "t", "d", "+", "x", "star", "p", "h")
# Periods 10, 5 and 9: the first 90 curves differ in colour, line style or symbol (all 15 corruptions do).


def curve_style(i: int) -> tuple[str, Any, str]:
    """(colour, line style, symbol) of the ``i``-th severity curve."""
    return PALETTE[i % len(PALETTE)], STYLES[i % len(STYLES)], SYMBOLS[i % len(SYMBOLS)]


def rate_text(rate: Any) -> str:
    if rate is None or rate.value is None:
        return "—"
    return f"{pct(rate.value)} [{pct(rate.low)}–{pct(rate.high)}]  ({rate.k}/{rate.n})"


def compact_rate_text(rate: Any) -> str:
    """'58 % [50–66]': a per-class rate in a narrow column (counts in the tooltip)."""
    if rate is None or rate.value is None:
        return "—"
    return f"{100 * rate.value:.0f} % [{100 * rate.low:.0f}–{100 * rate.high:.0f}]"


def columns(class_names: list[str]) -> list[str]:
    """The table's headers: per-class sensitivity after the accuracy when there are few classes."""
    if not 0 < len(class_names) <= INLINE_CLASSES:
        return list(COLUMNS)
    sens = [f"Sens. {c}\n(95 % CI)" for c in class_names]      # two lines: the rows stay narrow
    return [*COLUMNS[:SENS_AFTER], *sens, *COLUMNS[SENS_AFTER:]]


class CorruptionResultsView(QWidget):
    """Table and severity curve of one corruption evaluation (:meth:`set_result`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("corruption_results")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.caption = dim_label("Run a corruption evaluation (Corruptions dock, labelled data set scope) "
                                 "to see the table and the severity curve.", object_name="corruption_caption")
        layout.addWidget(self.caption)
        split = QSplitter(Qt.Horizontal)
        self.tables = QTabWidget()              # the table | its per-class rates (a full-height view each)
        self.tables.setObjectName("corruption_tables")
        self.tables.setDocumentMode(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("corruption_table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.tables.addTab(self.table, "Table")
        self.per_class = PerClassTable(object_name="corruption_per_class",
                                       empty_text="Per-class sensitivity and specificity of each row appear here.")
        self.tables.addTab(self.per_class, PER_CLASS_TAB)
        split.addWidget(self.tables)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("corruption_curve")
        self.plot.setBackground(theme.PANEL)
        self.plot.setLabel("bottom", "severity (0 = clean)")
        self.plot.setLabel("left", "accuracy")
        self.plot.setYRange(0.0, 1.0, padding=0.02)
        self.plot.setXRange(0, 5, padding=0.05)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        # bottom left: where accuracy-vs-severity curves (high at 0, falling to the right) leave room
        self.legend = self.plot.addLegend(offset=(6, -6), labelTextSize="8pt", brush=pg.mkBrush(20, 20, 24, 200))
        split.addWidget(self.plot)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([660, 340])                # the table's intervals need the room; the curve reads small
        layout.addWidget(split, 1)
        self.curves: dict[str, tuple[list[int], list[float]]] = {}     # corruption -> (severities, accuracies)
        self.result: Any = None

    def set_result(self, result: Any) -> None:
        self.result = result
        self._fill_table(result)
        self.per_class.set_corruption_rows(result)
        self._draw_curve(result)
        n = result.n_samples
        attack = f", then {result.attack['name']}" if result.attack else ""
        synthetic = " Synthetic demo data." if getattr(result.dataset, "synthetic", False) else ""
        mce = "" if result.relative_mce is None else f"; relative mCE {result.relative_mce:.2f}"
        self.caption.setText(f"{result.dataset.name or 'data set'}: {n} samples, {len(result.corruptions)} "
                             f"corruption(s) x severities {', '.join(map(str, result.severities))}{attack}; "
                             f"clean accuracy {rate_text(result.clean.accuracy)}{mce}.{synthetic}")

    def headers(self) -> list[str]:
        return [self.table.horizontalHeaderItem(c).text() for c in range(self.table.columnCount())]

    def table_texts(self) -> list[list[str]]:
        """What the table shows, row by row."""
        return [[self.table.item(r, c).text() if self.table.item(r, c) else "" for c in range(self.table.columnCount())]
                for r in range(self.table.rowCount())]

    # -- internals ---------------------------------------------------------------------
    def _fill_table(self, result: Any) -> None:
        summaries = {s.corruption: s for s in result.summaries}
        rows = [result.clean, *result.rows]
        names = list(result.class_names)
        heads = columns(names)
        inline = len(heads) > len(COLUMNS)
        self.table.clear()
        self.table.setColumnCount(len(heads))
        self.table.setHorizontalHeaderLabels(heads)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            level = level_text(row) if row.severity else ""
            conf = "—" if row.mean_conf_change is None else f"{row.mean_conf_change:+.3f}"
            summary = summaries.get(row.corruption)
            last = summary is not None and row.severity == max(summary.severities)
            ce = "" if not last or summary.relative_ce is None else f"{summary.relative_ce:.2f}"
            cells = (row.label if row.severity else "clean", str(row.severity), level, rate_text(row.accuracy),
                     rate_text(row.flips), str(row.newly_wrong), conf, ce)
            items = [table_item(text, tip=row.description, align_right=c >= 3) for c, text in enumerate(cells)]
            if inline:
                by = {c.class_name: c for c in row.per_class}
                where = f"under {row.label} severity {row.severity}" if row.severity else "clean"
                sens = [table_item(compact_rate_text(by[n].sensitivity) if n in by else "—",
                                   tip=rate_tip(by[n].sensitivity, f"{where} sensitivity of {n}") if n in by else "",
                                   align_right=True) for n in names]
                items[SENS_AFTER:SENS_AFTER] = sens
            for c, item in enumerate(items):
                self.table.setItem(r, c, item)

    def _draw_curve(self, result: Any) -> None:
        self.plot.clear()
        self.legend.clear()
        self.curves = {}
        clean = result.clean.accuracy.value
        for i, name in enumerate(result.corruptions):
            rows = sorted((r for r in result.rows if r.corruption == name), key=lambda r: r.severity)
            points = [(0, clean)] + [(r.severity, r.accuracy.value) for r in rows]
            points = [(s, a) for s, a in points if a is not None]
            if not points:
                continue
            xs, ys = [p[0] for p in points], [float(p[1]) for p in points]
            self.curves[name] = (xs, ys)
            colour, style, symbol = curve_style(i)
            pen = pg.mkPen(colour, width=2, style=style)
            label = rows[0].label if rows else name
            self.plot.plot(xs, ys, pen=pen, symbol=symbol, symbolSize=7, symbolBrush=colour,
                           symbolPen=colour, name=label)
