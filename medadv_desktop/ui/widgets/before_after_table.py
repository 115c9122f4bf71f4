"""The before/after table of adversarial training (the seed paper's Table 1 with an "after" column).

Accuracies are fractions shown in percent, each with its 95 % interval in the
column beside it; "change" = after - before in percentage points, with the
interval of the paired difference (Newcombe) and the exact McNemar p-value on
the same images; ★ marks the training eps. All of it comes from the engine
(:func:`medadv_desktop.engine.reports.verdict_section.paired_rows`, computed on
the worker, and the corruption re-test rows of the result), never recomputed
here. A change within the uncertainty (its interval contains 0, or few pairs)
carries the engine's caution as its tooltip and in :meth:`BeforeAfterTable.cautions`.

Below the attack rows come the corruption re-test rows (issue 12): the same
model pair under each corruption and severity, ``corruption: <name>`` with the
severity in the eps column and its level in the native column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
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

CORRUPTION_PREFIX = "corruption: "
NOT_TESTED = ("Not tested: the table holds no per-sample outcomes (no paired interval, no McNemar test); "
              "export the full before/after result from the run that made it.")

BA_COLUMNS: list[tuple[str, str]] = [
    ("Attack", "attack"), ("eps", "eps"), ("eps native", "native"),
    ("Before", "before"), ("Before 95 % CI", "before_ci"),
    ("After adv. training", "after"), ("After 95 % CI", "after_ci"),
    ("Change", "change"), ("Change 95 % CI", "change_ci"), ("McNemar p", "p"),
]
_KEYS = [key for _title, key in BA_COLUMNS]


def ci_text(low: float | None, high: float | None) -> str:
    return "—" if low is None or high is None else f"{100 * low:.1f}–{100 * high:.1f} %"


def change_ci_text(low: float | None, high: float | None) -> str:
    return "—" if low is None or high is None else f"{100 * low:+.1f} to {100 * high:+.1f} pt"


def _rate_ci(p: Any) -> tuple[float, str]:
    if p is None or getattr(p, "value", None) is None:
        return -1.0, "—"
    return float(p.low), ci_text(p.low, p.high)


@dataclass
class BARow:
    """One displayed row: {column key: (sort key, text)}, the change (for its colour), and flags."""

    cells: dict[str, tuple[Any, str]]
    change: float | None
    bold: bool = False
    tip: str = ""
    caution: str = ""
    corruption: bool = False
    n: int | None = None                                # pairs behind the paired test
    source: Any = field(default=None, repr=False)      # the engine row


def _attack_row(table: Any, row: Any, cmp: Any, units: str) -> BARow:
    clean = row.attack == "clean"
    label = row.attack
    eps = (0.0, "—") if clean else (row.eps, format_budget(row.eps) + (" ★" if row.at_training_eps else ""))
    native = (-1.0, "—") if clean or row.eps_native is None else (row.eps_native, f"{row.eps_native:.3g} {units}".strip())
    cells: dict[str, tuple[Any, str]] = {
        "attack": (label, label), "eps": eps, "native": native,
        "before": (-1.0 if row.accuracy_before is None else row.accuracy_before, pct(row.accuracy_before)),
        "after": (-1.0 if row.accuracy_after is None else row.accuracy_after, pct(row.accuracy_after)),
        "change": (-9.0 if row.change is None else row.change, points(row.change)),
    }
    caution = ""
    if cmp is not None and cmp.difference is not None:
        cells.update(before_ci=_rate_ci(cmp.before), after_ci=_rate_ci(cmp.after),
                     change_ci=(cmp.low, change_ci_text(cmp.low, cmp.high)), p=(cmp.p_value, f"{cmp.p_value:.2g}"))
        where = "clean accuracy" if clean else f"{table.attack_label(row.attack)} at {format_budget(row.eps)}"
        caution = cmp.caution(subject=f"the change for {where}") or ""
        tip = (f"{cmp.n} pairs: right before only {cmp.only_before}, right after only {cmp.only_after}; "
               f"exact McNemar p = {cmp.p_value:.2g}")
    else:
        cells.update(before_ci=(-1.0, "—"), after_ci=(-1.0, "—"), change_ci=(-9.0, "—"), p=(2.0, "—"))
        tip = NOT_TESTED
    if row.at_training_eps and not clean:
        tip = "★ the training eps\n" + tip
    return BARow(cells, row.change, bold=row.at_training_eps and not clean,
                 tip=tip + ("\n" + caution if caution else ""), caution=caution,
                 n=cmp.n if cmp is not None and cmp.difference is not None else None, source=row)


def _corruption_row(table: Any, row: Any) -> BARow:
    def rate(result: Any) -> Any:
        r = result.row(row.corruption, row.severity) if result is not None else None
        return r.accuracy if r is not None else None

    before, after = rate(table.corruption_before), rate(table.corruption_after)
    level = "—" if row.level is None else f"{row.level:.3g} {row.level_unit}".strip()
    label = CORRUPTION_PREFIX + row.corruption
    cells: dict[str, tuple[Any, str]] = {
        "attack": (label, label), "eps": (float(row.severity), f"severity {row.severity}"),
        "native": (-1.0 if row.level is None else row.level, level),
        "before": (-1.0 if row.accuracy_before is None else row.accuracy_before, pct(row.accuracy_before)),
        "before_ci": _rate_ci(before),
        "after": (-1.0 if row.accuracy_after is None else row.accuracy_after, pct(row.accuracy_after)),
        "after_ci": _rate_ci(after),
        "change": (-9.0 if row.change is None else row.change, points(row.change)),
        "change_ci": (-9.0 if row.change_low is None else row.change_low, change_ci_text(row.change_low, row.change_high)),
        "p": (2.0, "—") if row.p_value is None else (row.p_value, f"{row.p_value:.2g}"),
    }
    caution = ""
    tested = row.change is not None and None not in (row.change_low, row.change_high, row.p_value)
    if tested:
        from medadv_desktop.engine.metrics.intervals import paired_caution

        # the engine's rule for a paired change, on the row's own n, interval and p-value
        summary = SimpleNamespace(n=row.n, difference=row.change, low=row.change_low, high=row.change_high,
                                  p_value=row.p_value, confidence=0.95)
        caution = paired_caution(summary, subject=f"the change under {row.corruption} at severity "
                                 f"{row.severity}") or ""  # type: ignore[arg-type]
    tip = f"Corruption re-test: {row.description}" + (f"\n{caution}" if caution else "")
    return BARow(cells, row.change, tip=tip, caution=caution, corruption=True, n=row.n if tested else None,
                 source=row)


def build_rows(table: Any, paired: Sequence[tuple[Any, Any]] | None = None) -> list[BARow]:
    """The displayed rows of a ``BeforeAfterResult``: ``paired`` = the engine's ``paired_rows(table)``
    (computed here when not given)."""
    if table is None:
        return []
    if paired is None:
        from medadv_desktop.engine.reports.verdict_section import paired_rows

        paired = paired_rows(table)
    units = table.units or ""
    rows = [_attack_row(table, row, cmp, units) for row, cmp in paired]
    rows += [_corruption_row(table, row) for row in getattr(table, "corruption_rows", [])]
    return rows


class BeforeAfterModel(QAbstractTableModel):
    """Rows of a ``BeforeAfterResult``; sort keys in ``Qt.UserRole``."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[BARow] = []
        self.units = ""
        self.corruption_note = ""

    def rowCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(BA_COLUMNS)

    def set_result(self, result: BeforeAfterResult | None, paired: Sequence[tuple[Any, Any]] | None = None) -> None:
        rows = build_rows(result, paired)
        self.beginResetModel()
        self.rows = rows
        self.units = (result.units or "") if result is not None else ""
        self.corruption_note = getattr(result, "corruption_note", "") if result is not None else ""
        self.endResetModel()

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self.rows[index.row()]
        key = _KEYS[index.column()]
        if role in (Qt.DisplayRole, Qt.UserRole):
            sort_key, text = r.cells[key]
            return text if role == Qt.DisplayRole else sort_key
        if role == Qt.TextAlignmentRole and index.column() >= 1:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.ForegroundRole and key == "change" and r.change is not None and abs(r.change) > 1e-9:
            return QBrush(QColor(theme.SUCCESS if r.change > 0 else theme.DANGER))
        if role == Qt.FontRole and r.bold:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ToolTipRole and r.tip:
            return r.tip
        return None

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return BA_COLUMNS[section][0]
        return None


class BeforeAfterTable(CopyableTable):
    """The seed paper's Table 1 with an "after adversarial training" column, intervals and the paired test;
    sortable, Ctrl+C copies TSV."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.table_model = BeforeAfterModel()
        super().__init__(self.table_model, BA_COLUMNS, "before_after_table", parent)

    def set_result(self, result: BeforeAfterResult | None, paired: Sequence[tuple[Any, Any]] | None = None) -> None:
        self.table_model.set_result(result, paired)

    def row_texts(self) -> list[dict[str, str]]:
        """The displayed rows (in the current sort order) as {column title: text}."""
        return [{BA_COLUMNS[c][0]: str(self.proxy.index(r, c).data(Qt.DisplayRole)) for c in range(len(BA_COLUMNS))}
                for r in range(self.proxy.rowCount())]

    def cautions(self) -> list[str]:
        """The small-sample and "may be chance" cautions of the shown rows, in words (the engine's),
        then why corruptions were not (all) re-tested."""
        rows = self.table_model.rows
        out: list[str] = []
        attack = [r for r in rows if not r.corruption]
        if attack and all(r.cells["p"][1] == "—" for r in attack):
            out.append(NOT_TESTED)
        ns = [r.n for r in rows if r.n]
        smallest = min(ns) if ns else None
        if smallest is not None and smallest < 30:
            out.append(f"Few samples (n = {smallest} pairs): every change is uncertain; read the intervals, not "
                       "the point values.")
        chance = [r.cells["attack"][1] + ("" if r.cells["eps"][1] == "—" else f" at {r.cells['eps'][1].rstrip(' ★')}")
                  for r in rows if r.caution]
        if chance:
            out.append("Within the uncertainty (interval of the change contains 0 or McNemar p >= 0.05), possibly "
                       "chance: " + "; ".join(chance) + ".")
        if self.table_model.corruption_note:
            out.append(self.table_model.corruption_note)
        return out
