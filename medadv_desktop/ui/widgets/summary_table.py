"""The robustness summary: one row per attack and eps of every run, sortable, Ctrl+C copies TSV.

Cumulative rows of the attack cascade (``AttackRow.cumulative``) show their
attack as ``pgd *``, with a tooltip and a footnote under the table. Rows of a
cancelled evaluation say so in their source ("(partial)").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QWidget

from medadv_desktop.engine.reports import formatting
from medadv_desktop.ui import theme
from medadv_desktop.ui.widgets.copyable_table import CopyableTable


def pct(value: float | None) -> str:
    return formatting.pct(value, dash="—")


def num(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def eps_text(eps: float, eps_native: float | None, units: str) -> str:
    text = formatting.budget_text(eps)
    if eps_native is not None:
        text += f" ({eps_native:.3g} {units})".replace("  ", " ")
    return text


CUMULATIVE_MARK = " *"
CUMULATIVE_NOTE = ("* cumulative: robust accuracy after this attack and the ones run before it (attack cascade; "
                   "tick “Each attack on every sample” for each attack's own row)")
CUMULATIVE_TIP = ("Cumulative row (attack cascade): robust accuracy and success rate after this attack and the "
                  "ones run before it (the ticked attacks, in list order). The attack ran only on the samples "
                  "still robust to the earlier ones, so this is not its own robust accuracy. The worst case is "
                  "exact.")


def is_cumulative(row: Any) -> bool:
    return bool(getattr(row, "cumulative", False))


def attack_text(row: Any) -> str:
    """The attack's name, with a trailing ' *' on a cumulative row."""
    return row.attack + (CUMULATIVE_MARK if is_cumulative(row) else "")


@dataclass
class SummaryRow:
    """One line of the robustness summary: an engine AttackRow plus where it came from."""

    source: str                 # "slice 3 of S1A2B", "evaluation: demo set"
    row: Any                    # engine AttackRow
    clean_accuracy: float | None
    units: str = ""


COLUMNS: list[tuple[str, Callable[[SummaryRow], Any], Callable[[SummaryRow], str]]] = [
    ("Source", lambda r: r.source, lambda r: r.source),
    ("Attack", lambda r: r.row.attack, lambda r: attack_text(r.row)),
    ("eps", lambda r: r.row.eps, lambda r: eps_text(r.row.eps, r.row.eps_native, r.units)),
    ("N", lambda r: r.row.n_samples, lambda r: str(r.row.n_samples)),
    ("Clean acc", lambda r: r.clean_accuracy if r.clean_accuracy is not None else -1, lambda r: pct(r.clean_accuracy)),
    ("Robust acc", lambda r: r.row.robust_accuracy, lambda r: pct(r.row.robust_accuracy)),
    ("Success", lambda r: r.row.attack_success_rate if r.row.attack_success_rate is not None else -1,
     lambda r: pct(r.row.attack_success_rate)),
    ("L∞", lambda r: r.row.mean_linf or 0, lambda r: num(r.row.mean_linf)),
    ("L∞ native", lambda r: r.row.mean_linf_native or 0,
     lambda r: "—" if r.row.mean_linf_native is None else f"{r.row.mean_linf_native:.3g} {r.units}".strip()),
    ("L2", lambda r: r.row.mean_l2 or 0, lambda r: num(r.row.mean_l2)),
    ("SSIM", lambda r: r.row.mean_ssim if r.row.mean_ssim is not None else -1, lambda r: num(r.row.mean_ssim)),
    ("Queries", lambda r: r.row.mean_queries or 0,
     lambda r: "—" if r.row.mean_queries is None else f"{r.row.mean_queries:.0f}"),
    ("Time", lambda r: r.row.time_s, lambda r: f"{r.row.time_s:.2f} s"),
]


class SummaryModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[SummaryRow] = []

    def rowCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(COLUMNS)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        name, sort_key, display = COLUMNS[index.column()]
        if role == Qt.DisplayRole:
            return display(row)
        if role == Qt.UserRole:
            return sort_key(row)
        if role == Qt.TextAlignmentRole and index.column() >= 2:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.ToolTipRole and is_cumulative(row.row):
            return CUMULATIVE_TIP
        if role == Qt.ForegroundRole and name == "Robust acc" and row.row.attack == "worst-case":
            return QBrush(QColor(theme.WARNING))
        return None

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return COLUMNS[section][0]
        return None

    def add(self, rows: Sequence[SummaryRow]) -> None:
        if not rows:
            return
        start = len(self.rows)
        self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
        self.rows.extend(rows)
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self.rows = []
        self.endResetModel()

    def has_cumulative(self) -> bool:
        return any(is_cumulative(r.row) for r in self.rows)


class SummaryTable(CopyableTable):
    """Sortable robustness summary table (attack x eps); Ctrl+C copies TSV."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.summary = SummaryModel()
        super().__init__(self.summary, COLUMNS, "summary_table", parent)

    def source_row(self, proxy_row: int) -> SummaryRow:
        return self.summary.rows[self.proxy.mapToSource(self.proxy.index(proxy_row, 0)).row()]
