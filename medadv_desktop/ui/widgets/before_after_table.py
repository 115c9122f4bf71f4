"""The before/after table of adversarial training (the seed paper's Table 1 with an "after" column).

Accuracies are fractions shown in percent; "change" = after - before in
percentage points; ★ marks the training eps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QWidget

from medadv_desktop.engine.reports import formatting
from medadv_desktop.ui import theme
from medadv_desktop.ui.widgets.copyable_table import CopyableTable

if TYPE_CHECKING:  # pragma: no cover
    from medadv_desktop.engine.results.before_after import BeforeAfterResult


def pct(value: float | None) -> str:
    return formatting.pct(value, dash="—")


def points(value: float | None) -> str:
    """A change of accuracy in percentage points."""
    return formatting.points(value, dash="—")


format_budget = formatting.budget_text


BA_COLUMNS: list[tuple[str, str]] = [
    ("Attack", "attack"), ("eps", "eps"), ("eps native", "native"),
    ("Before", "before"), ("After adv. training", "after"), ("Change", "change"),
]


class BeforeAfterModel(QAbstractTableModel):
    """Rows of a ``BeforeAfterResult``; sort keys in ``Qt.UserRole``."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Any] = []
        self.units = ""

    def rowCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(BA_COLUMNS)

    def set_result(self, result: BeforeAfterResult | None) -> None:
        self.beginResetModel()
        self.rows = list(result.rows) if result is not None else []
        self.units = (result.units or "") if result is not None else ""
        self.endResetModel()

    def _values(self, r) -> dict[str, tuple[Any, str]]:
        clean = r.attack == "clean"
        eps = (0.0, "—") if clean else (r.eps, format_budget(r.eps) + (" ★" if r.at_training_eps else ""))
        native = (-1.0, "—") if clean or r.eps_native is None else (
            r.eps_native, f"{r.eps_native:.3g} {self.units}".strip())
        change = r.change
        return {
            "attack": (r.attack, r.attack),
            "eps": eps,
            "native": native,
            "before": (-1.0 if r.accuracy_before is None else r.accuracy_before, pct(r.accuracy_before)),
            "after": (-1.0 if r.accuracy_after is None else r.accuracy_after, pct(r.accuracy_after)),
            "change": (-9.0 if change is None else change, points(change)),
        }

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self.rows[index.row()]
        key = BA_COLUMNS[index.column()][1]
        if role in (Qt.DisplayRole, Qt.UserRole):
            sort_key, text = self._values(r)[key]
            return text if role == Qt.DisplayRole else sort_key
        if role == Qt.TextAlignmentRole and index.column() >= 1:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.ForegroundRole and key == "change" and r.change is not None and abs(r.change) > 1e-9:
            return QBrush(QColor(theme.SUCCESS if r.change > 0 else theme.DANGER))
        if role == Qt.FontRole and r.at_training_eps and r.attack != "clean":
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ToolTipRole and r.at_training_eps and r.attack != "clean":
            return "★ the training eps"
        return None

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return BA_COLUMNS[section][0]
        return None


class BeforeAfterTable(CopyableTable):
    """The seed paper's Table 1 with an "after adversarial training" column; sortable, Ctrl+C copies TSV."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.table_model = BeforeAfterModel()
        super().__init__(self.table_model, BA_COLUMNS, "before_after_table", parent)

    def set_result(self, result: BeforeAfterResult | None) -> None:
        self.table_model.set_result(result)

    def row_texts(self) -> list[dict[str, str]]:
        """The displayed rows (in the current sort order) as {column title: text}."""
        return [{BA_COLUMNS[c][0]: str(self.proxy.index(r, c).data(Qt.DisplayRole)) for c in range(len(BA_COLUMNS))}
                for r in range(self.proxy.rowCount())]
