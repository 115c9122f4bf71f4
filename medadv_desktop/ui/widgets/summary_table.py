"""The robustness summary: one row per attack and eps of every run, sortable, Ctrl+C copies TSV.

Cumulative rows of the attack cascade (``AttackRow.cumulative``) show their
attack as ``pgd *``, with a tooltip and a footnote under the table. Rows of a
cancelled evaluation say so in their source ("(partial)").

Every rate has its 95 % interval in the column beside it, as in the PDF: the
engine's :class:`~medadv_desktop.engine.metrics.per_class.RobustnessByClass`
of the row (``SummaryRow.rates``) and the clean accuracy's
:class:`~medadv_desktop.engine.metrics.intervals.Proportion`
(``SummaryRow.clean``), computed by the engine (on the worker for an
evaluation), never here. The interval cell's tooltip gives the counts and the
engine's small-sample caution.
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


# Qt's roles as plain ints: ``data`` runs for every cell and role on each layout, and comparing with
# the Qt enum costs ~25 us per comparison on a loaded machine (100x an int comparison)
_DISPLAY, _USER, _ALIGN, _TOOLTIP, _FOREGROUND = (
    int(r.value) for r in (Qt.DisplayRole, Qt.UserRole, Qt.TextAlignmentRole, Qt.ToolTipRole, Qt.ForegroundRole))


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


def interval_text(p: Any) -> str:
    """'63.2–78.1 %': the interval of an engine Proportion in percent; '—' when nothing was measured."""
    if p is None or p.value is None:
        return "—"
    return f"{100.0 * p.low:.1f}–{100.0 * p.high:.1f} %"


def interval_tip(p: Any, subject: str) -> str | None:
    """The counts behind a rate, its interval and the engine's small-sample caution (if any)."""
    if p is None:
        return None
    if p.value is None:
        return f"No samples: {subject} cannot be measured."
    method = "exact Clopper-Pearson" if p.method == "clopper-pearson" else p.method
    tip = (f"{subject}: {p.k}/{p.n} = {pct(p.value)}; {100 * p.confidence:g} % interval "
           f"{100 * p.low:.1f}–{100 * p.high:.1f} % ({method})")
    caution = p.caution(subject=subject)
    return tip + ("\n" + caution if caution else "")


@dataclass
class SummaryRow:
    """One line of the robustness summary: an engine AttackRow plus where it came from, and the
    engine's intervals of its rates (None when the result holds no per-sample records)."""

    source: str                 # "slice 3 of S1A2B", "evaluation: demo set"
    row: Any                    # engine AttackRow
    clean_accuracy: float | None
    units: str = ""
    rates: Any = None           # engine RobustnessByClass: robust_accuracy, attack_success_rate (Proportions)
    clean: Any = None           # engine Proportion of the clean accuracy

    @property
    def robust_p(self) -> Any:
        return getattr(self.rates, "robust_accuracy", None)

    @property
    def success_p(self) -> Any:
        return getattr(self.rates, "attack_success_rate", None)


def evaluation_rows(source: str, result: Any, measures: Any) -> list[SummaryRow]:
    """The summary rows of an ``EvaluationResult`` with the intervals of the engine's
    ``PerClassMeasures`` (``measures``; None: no intervals)."""
    clean = measures.clean_accuracy if measures is not None and measures.n_samples else None
    return [SummaryRow(source, r, result.clean_accuracy, result.units,
                       rates=measures.at(r.attack, r.eps) if measures is not None else None, clean=clean)
            for r in result.rows]


def study_attack_rates(result: Any) -> Any:
    """The engine's rates with intervals of a study attack (one record per slice), or None."""
    if not getattr(result, "records", None):
        return None
    from medadv_desktop.engine.metrics.per_class import robustness_by_class

    try:
        return robustness_by_class(result.records, list(result.class_names), attack=result.attack,
                                   eps=result.eps, eps_native=result.eps_native)
    except ValueError:
        return None


INTERVAL_COLUMNS = ("Clean 95 % CI", "Robust 95 % CI", "Success 95 % CI")


COLUMNS: list[tuple[str, Callable[[SummaryRow], Any], Callable[[SummaryRow], str]]] = [
    ("Source", lambda r: r.source, lambda r: r.source),
    ("Attack", lambda r: r.row.attack, lambda r: attack_text(r.row)),
    ("eps", lambda r: r.row.eps, lambda r: eps_text(r.row.eps, r.row.eps_native, r.units)),
    ("N", lambda r: r.row.n_samples, lambda r: str(r.row.n_samples)),
    ("Clean acc", lambda r: r.clean_accuracy if r.clean_accuracy is not None else -1, lambda r: pct(r.clean_accuracy)),
    ("Clean 95 % CI", lambda r: r.clean.low if r.clean is not None else -1, lambda r: interval_text(r.clean)),
    ("Robust acc", lambda r: r.row.robust_accuracy, lambda r: pct(r.row.robust_accuracy)),
    ("Robust 95 % CI", lambda r: r.robust_p.low if r.robust_p is not None else -1,
     lambda r: interval_text(r.robust_p)),
    ("Success", lambda r: r.row.attack_success_rate if r.row.attack_success_rate is not None else -1,
     lambda r: pct(r.row.attack_success_rate)),
    ("Success 95 % CI", lambda r: r.success_p.low if r.success_p is not None else -1,
     lambda r: interval_text(r.success_p)),
    ("L∞", lambda r: r.row.mean_linf or 0, lambda r: num(r.row.mean_linf)),
    ("L∞ native", lambda r: r.row.mean_linf_native or 0,
     lambda r: "—" if r.row.mean_linf_native is None else f"{r.row.mean_linf_native:.3g} {r.units}".strip()),
    ("L2", lambda r: r.row.mean_l2 or 0, lambda r: num(r.row.mean_l2)),
    ("SSIM", lambda r: r.row.mean_ssim if r.row.mean_ssim is not None else -1, lambda r: num(r.row.mean_ssim)),
    ("Queries", lambda r: r.row.mean_queries or 0,
     lambda r: "—" if r.row.mean_queries is None else f"{r.row.mean_queries:.0f}"),
    ("Time", lambda r: r.row.time_s, lambda r: f"{r.row.time_s:.2f} s"),
]


_CLEAN_CI, _ROBUST_CI, _SUCCESS_CI = (next(i for i, c in enumerate(COLUMNS) if c[0] == t) for t in INTERVAL_COLUMNS)


def _tips(row: SummaryRow) -> dict[int, str]:
    """Tooltips of the interval cells: counts, interval, the engine's small-sample caution."""
    label = attack_text(row.row)
    tips = {_CLEAN_CI: interval_tip(row.clean, "clean accuracy"),
            _ROBUST_CI: interval_tip(row.robust_p, f"robust accuracy under {label}"),
            _SUCCESS_CI: interval_tip(row.success_p, f"success rate of {label}")}
    return {c: t for c, t in tips.items() if t}


def _cells(row: SummaryRow) -> tuple[list[str], list[Any], bool, dict[int, str]]:
    """(display texts, sort keys, cumulative?, interval tooltips) of a row, computed once: the view asks
    ``data`` for every cell and role on each layout (ResizeToContents), and formatting per call made showing
    an evaluation's rows stall the UI thread for most of a second on a loaded machine."""
    return [c[2](row) for c in COLUMNS], [c[1](row) for c in COLUMNS], is_cumulative(row.row), _tips(row)


class SummaryModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[SummaryRow] = []
        self._cache: list[tuple[list[str], list[Any], bool, dict[int, str]]] = []

    def rowCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(COLUMNS)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r, c = index.row(), index.column()
        texts, keys, cumulative, tips = self._cache[r]
        if role == _DISPLAY:
            return texts[c]
        if role == _USER:
            return keys[c]
        if role == _ALIGN and c >= 2:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == _TOOLTIP:
            if c in tips:
                return tips[c] + ("\n\n" + CUMULATIVE_TIP if cumulative else "")
            return CUMULATIVE_TIP if cumulative else None
        if role == _FOREGROUND and COLUMNS[c][0] == "Robust acc" and self.rows[r].row.attack == "worst-case":
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
        cells = [_cells(r) for r in rows]
        self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
        self.rows.extend(rows)
        self._cache.extend(cells)
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self.rows = []
        self._cache = []
        self.endResetModel()

    def has_cumulative(self) -> bool:
        return any(cumulative for _texts, _keys, cumulative, _tips in self._cache)


class SummaryTable(CopyableTable):
    """Sortable robustness summary table (attack x eps); Ctrl+C copies TSV."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.summary = SummaryModel()
        super().__init__(self.summary, COLUMNS, "summary_table", parent)

    def source_row(self, proxy_row: int) -> SummaryRow:
        return self.summary.rows[self.proxy.mapToSource(self.proxy.index(proxy_row, 0)).row()]
