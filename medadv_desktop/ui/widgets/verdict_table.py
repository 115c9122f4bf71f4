"""The test plan's verdict in Results: the overall verdict line, then one row per criterion.

Columns as in the PDF's verdict table: criterion, measured (with the counts),
interval, PASS / FAIL / NOT EVALUABLE, and why. Everything comes from the
engine's :class:`~medadv_desktop.engine.plans.PlanVerdict`; nothing is
recomputed here. Hidden while the shown evaluation has no plan. Compact, so
the Summary table below keeps its room: one line per criterion (the full
criterion and reason in the cell's tooltip), at most MAX_ROWS rows before it
scrolls.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QVBoxLayout, QWidget

from medadv_desktop.engine.reports import formatting
from medadv_desktop.ui import theme
from medadv_desktop.ui.widgets.common import table_item

VERDICT_COLUMNS = ("Criterion", "Measured", "Interval", "Result", "Why")
MAX_ROWS = 4
STATUS_COLOURS = {"pass": theme.SUCCESS, "fail": theme.DANGER, "not_evaluable": theme.WARNING}


def measured_text(row: Any) -> str:
    if row.measured is None:
        return "—"
    text = f"{int(row.measured)} flag(s)" if row.metric == "no_sanity_flag" else formatting.pct(row.measured)
    return text + (f" ({row.k}/{row.n})" if row.k is not None and row.n else "")


def interval_text(row: Any) -> str:
    if row.low is None or row.high is None or row.metric == "no_sanity_flag":
        return "—"
    return f"{100 * row.low:.1f}–{100 * row.high:.1f} %"


class VerdictTable(QWidget):
    """The verdict line and the criteria table of one ``PlanVerdict``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("verdict_box")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 4)
        layout.setSpacing(2)
        self.headline = QLabel("")
        self.headline.setObjectName("verdict_headline")
        self.headline.setWordWrap(True)
        layout.addWidget(self.headline)
        self.table = QTableWidget(0, len(VERDICT_COLUMNS))
        self.table.setObjectName("verdict_table")
        self.table.setHorizontalHeaderLabels(list(VERDICT_COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.ElideRight)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        for c in range(len(VERDICT_COLUMNS)):
            header.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.Interactive)
        header.setSectionResizeMode(len(VERDICT_COLUMNS) - 1, QHeaderView.Stretch)
        layout.addWidget(self.table)
        self.note = ""
        self.verdict: Any = None
        self.hide()

    def set_verdict(self, verdict: Any) -> None:
        """Show ``verdict`` (an engine PlanVerdict), or hide for None."""
        self.verdict = verdict
        self.table.setRowCount(0)
        if verdict is None:
            self.headline.setText("")
            self.note = ""
            self.hide()
            return
        colour = STATUS_COLOURS.get(verdict.status, theme.WARNING)
        self.headline.setText(f"<b style='color:{colour}'>{verdict.status_word}</b> — {verdict.summary()}; "
                              f"exit code {verdict.exit_code} for scripted gating")
        self.headline.setToolTip(f"Plan SHA-256 {verdict.plan_sha256}")
        self.table.setRowCount(len(verdict.rows))
        for r, row in enumerate(verdict.rows):
            why = row.reason + ((" " + " ".join(row.notes)) if row.notes else "")
            cells = [table_item(f"{row.criterion_id} {row.text}", tip=row.text),
                     table_item(measured_text(row), align_right=True),
                     table_item(interval_text(row), align_right=True),
                     table_item(row.status_word), table_item(why, tip=why)]
            cells[3].setForeground(QColor(STATUS_COLOURS.get(row.status, theme.WARNING)))
            font = cells[3].font()
            font.setBold(True)
            cells[3].setFont(font)
            for c, item in enumerate(cells):
                self.table.setItem(r, c, item)
        shown = min(len(verdict.rows), MAX_ROWS)
        self.table.setColumnWidth(0, max(260, self.table.fontMetrics().horizontalAdvance("x" * 40)))
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height()
                                  + shown * self.table.verticalHeader().defaultSectionSize() + 6)
        self.note = (f"Intervals: {100 * verdict.confidence:g} % {verdict.interval}. A criterion passes when the "
                     "bound it names meets the threshold; one the run cannot answer is NOT EVALUABLE and the plan "
                     "does not pass. Hover a cell for the whole criterion and reason.")
        self.table.setToolTip(self.note)
        self.show()

    def row_texts(self) -> list[dict[str, str]]:
        return [{VERDICT_COLUMNS[c]: self.table.item(r, c).text() for c in range(len(VERDICT_COLUMNS))}
                for r in range(self.table.rowCount())]
