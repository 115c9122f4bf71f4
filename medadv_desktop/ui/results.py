"""Result views: prediction change, robustness summary, robust accuracy vs eps,
class transitions, and per-sample records with a preview.

The summary table is a QAbstractTableModel behind a sort proxy: sortable by
clicking a header; Ctrl+C copies the selected rows (or all rows) as
tab-separated values with the header, ready to paste into a spreadsheet.
Cumulative rows of the attack cascade (``AttackRow.cumulative``) show their
attack as ``pgd *``, with a tooltip and a footnote under the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QSplitter, QTableView,
    QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from medadv_desktop.engine.reports import formatting
from medadv_desktop.ui import theme
from medadv_desktop.ui.viewer import heatmap_colormap


def pct(value: float | None) -> str:
    return formatting.pct(value, dash="—")


def num(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def eps_text(eps: float, eps_native: float | None, units: str) -> str:
    from medadv_desktop.ui.attack_dock import format_budget

    text = format_budget(eps)
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

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

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


class CopyableTable(QTableView):
    """A read-only, sortable table over a source model (sort keys in Qt.UserRole);
    Ctrl+C copies the selected rows (or all) as tab-separated text with a header."""

    def __init__(self, source, columns: Sequence[tuple], object_name: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.columns = columns
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(source)
        self.proxy.setSortRole(Qt.UserRole)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(-1, Qt.AscendingOrder)     # the engine's order until a header is clicked
        self.setAlternatingRowColors(True)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(20)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setStretchLastSection(True)

    def to_tsv(self, only_selected: bool = True) -> str:
        rows = sorted({i.row() for i in self.selectionModel().selectedRows()}) if only_selected else []
        if not rows:
            rows = list(range(self.proxy.rowCount()))
        lines = ["\t".join(c[0] for c in self.columns)]
        for r in rows:
            lines.append("\t".join(str(self.proxy.index(r, c).data(Qt.DisplayRole))
                                   for c in range(len(self.columns))))
        return "\n".join(lines) + "\n"

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.matches(QKeySequence.Copy):
            QGuiApplication.clipboard().setText(self.to_tsv())
            event.accept()
            return
        super().keyPressEvent(event)


class SummaryTable(CopyableTable):
    """Sortable robustness summary table (attack x eps); Ctrl+C copies TSV."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.summary = SummaryModel()
        super().__init__(self.summary, COLUMNS, "summary_table", parent)

    def source_row(self, proxy_row: int) -> SummaryRow:
        return self.summary.rows[self.proxy.mapToSource(self.proxy.index(proxy_row, 0)).row()]


class PredictionChart(pg.PlotWidget):
    """Class probabilities before and after the attack, as grouped bars."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("prediction_chart")
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.showGrid(y=True, alpha=0.2)
        self.setYRange(0, 1.05, padding=0)
        self.setLabel("left", "probability")
        self.legend = self.addLegend(offset=(-10, 4), colCount=2)
        self.before: list[float] = []
        self.after: list[float] = []
        self.class_names: list[str] = []

    def set_probabilities(self, class_names: Sequence[str], before: Sequence[float],
                          after: Sequence[float] | None, title: str = "") -> None:
        self.clear()
        self.legend.clear()
        self.class_names, self.before = list(class_names), [float(v) for v in before]
        self.after = [float(v) for v in after] if after is not None else []
        x = np.arange(len(class_names), dtype=float)
        width = 0.38 if after is not None else 0.6
        bars = pg.BarGraphItem(x=x - (width / 2 if after is not None else 0), height=self.before, width=width,
                               brush=theme.BEFORE_COLOR, pen=None, name="before (original)")
        self.addItem(bars)
        if after is not None:
            bars_after = pg.BarGraphItem(x=x + width / 2, height=self.after, width=width,
                                         brush=theme.AFTER_COLOR, pen=None, name="after (adversarial)")
            self.addItem(bars_after)
        for i in range(len(class_names)):
            for value, dx in ((self.before[i], -width / 2 if after is not None else 0.0),
                              *(((self.after[i], width / 2),) if after is not None else ())):
                label = pg.TextItem(formatting.pct_compact(value), color=theme.TEXT, anchor=(0.5, 1.0))
                label.setPos(i + dx, value)
                self.addItem(label)
        self.getAxis("bottom").setTicks([[(i, n) for i, n in enumerate(class_names)]])
        self.setXRange(-0.6, len(class_names) - 0.4, padding=0)
        self.setYRange(0, 1.4, padding=0)     # headroom above 100 % for the labels and legend
        self.getAxis("left").setTicks([[(v, f"{v:g}") for v in (0, 0.25, 0.5, 0.75, 1.0)]])
        self.setTitle(title, color=theme.TEXT, size="9pt")


class RobustnessPlot(pg.PlotWidget):
    """Robust accuracy against eps, one line per attack (worst case dashed)."""

    PALETTE = ["#5fa8e8", "#e8875f", "#7fcf8f", "#c99ae8", "#e8d35f", "#5fe0d0", "#e85f8f"]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("robustness_plot")
        self.setMenuEnabled(False)
        self.showGrid(x=True, y=True, alpha=0.2)
        self.setLabel("left", "robust accuracy", units="")
        self.setLabel("bottom", "eps (×1/255 of the [0, 1] range)")
        self.setYRange(0, 1.02)
        self.legend = self.addLegend(offset=(-10, 10))
        self.series: dict[str, tuple[list[float], list[float]]] = {}

    def set_rows(self, rows: Sequence[Any], clean_accuracy: float | None = None) -> None:
        self.clear()
        self.legend.clear()
        series: dict[str, list[tuple[float, float]]] = {}
        cumulative: set[str] = set()
        for r in rows:
            series.setdefault(r.attack, []).append((r.eps * 255, r.robust_accuracy))
            if is_cumulative(r):
                cumulative.add(r.attack)
        self.series = {}
        for i, (attack, points) in enumerate(series.items()):
            points.sort()
            if clean_accuracy is not None:
                points = [(0.0, clean_accuracy)] + points
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            self.series[attack] = (xs, ys)
            worst = attack == "worst-case"
            pen = pg.mkPen("#ffffff" if worst else self.PALETTE[i % len(self.PALETTE)], width=2,
                           style=Qt.DashLine if worst else Qt.SolidLine)
            self.plot(xs, ys, pen=pen, symbol="o", symbolSize=6,
                      symbolBrush=pen.color(), name=attack + (CUMULATIVE_MARK if attack in cumulative else ""))
        self.setYRange(0, 1.02)


class TransitionMatrix(QTableWidget):
    """Counts of (true class -> adversarial prediction) for one summary row."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("transition_matrix")
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)

    def set_matrix(self, matrix: Sequence[Sequence[int]], class_names: Sequence[str]) -> None:
        n = len(matrix)
        names = list(class_names)[:n] + [str(i) for i in range(len(class_names), n)]
        self.setRowCount(n)
        self.setColumnCount(n)
        self.setHorizontalHeaderLabels([f"→ {c}" for c in names])
        self.setVerticalHeaderLabels([f"true {c}" for c in names])
        peak = max((max(r) for r in matrix if r), default=0) or 1
        for i, row in enumerate(matrix):
            total = sum(row) or 1
            for j, count in enumerate(row):
                item = QTableWidgetItem(f"{count}  ({count / total * 100:.0f} %)")
                item.setTextAlignment(Qt.AlignCenter)
                # correct (diagonal) in blue, flips in red, intensity by count; empty cells neutral
                if count:
                    shade = int(60 + 140 * count / peak)
                    colour = QColor(30, 70, shade) if i == j else QColor(shade, 50, 40)
                    item.setBackground(QBrush(colour))
                self.setItem(i, j, item)


class SamplePreview(QWidget):
    """Original, adversarial and |perturbation| heatmap of one sample."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel("Select a sample to preview it.")
        self.caption.setObjectName("dim")
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(theme.VIEWER_BACKGROUND)
        layout.addWidget(self.graphics, 1)
        self.items: list[pg.ImageItem] = []
        for col, title in enumerate(("original", "adversarial", "|Δ| heatmap")):
            self.graphics.addLabel(title, row=0, col=col, color=theme.TEXT_DIM, size="8pt")
            vb = self.graphics.addViewBox(row=1, col=col, lockAspect=True, invertY=True, enableMouse=False)
            item = pg.ImageItem(axisOrder="row-major")
            vb.addItem(item)
            self.items.append(item)
        self.items[2].setLookupTable(heatmap_colormap().getLookupTable(nPts=256, alpha=False))

    def show_sample(self, original: np.ndarray, adversarial: np.ndarray, caption: str,
                    levels: tuple[float, float] | None = None) -> None:
        original = np.asarray(original, dtype=np.float32)
        adversarial = np.asarray(adversarial, dtype=np.float32)
        if levels is None:
            levels = (float(original.min()), float(original.max()) or 1.0)
        heat = np.abs(adversarial - original)
        if heat.ndim == 3:
            heat = heat.max(axis=-1)
        self.items[0].setImage(original, levels=levels)
        self.items[1].setImage(adversarial, levels=levels)
        self.items[2].setImage(heat, levels=(0, max(float(heat.max()), 1e-6)))
        for item in self.items:
            item.getViewBox().autoRange(padding=0.02)
        self.caption.setText(caption)


class ResultsPanel(QTabWidget):
    """Tabs: Prediction change · Summary · Robust accuracy vs eps · Transitions · Samples."""

    sig_sample_selected = Signal(object)    # SampleEntry
    sig_summary_selected = Signal(object)   # SummaryRow

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("results_tabs")
        self.prediction = PredictionChart()
        pred_page = QWidget()
        pred_layout = QVBoxLayout(pred_page)
        pred_layout.setContentsMargins(2, 2, 2, 2)
        self.prediction_caption = QLabel("Run an attack to see how the prediction changes.")
        self.prediction_caption.setObjectName("prediction_caption")
        self.prediction_caption.setWordWrap(True)
        pred_layout.addWidget(self.prediction_caption)
        pred_layout.addWidget(self.prediction, 1)
        self.addTab(pred_page, "Prediction change")

        self.table = SummaryTable()
        self.table.selectionModel().selectionChanged.connect(self._on_summary_selection)
        summary_page = QWidget()
        summary_layout = QVBoxLayout(summary_page)
        summary_layout.setContentsMargins(2, 2, 2, 2)
        hint = QLabel("Click a header to sort · Ctrl+C copies the selected rows as TSV")
        hint.setObjectName("dim")
        summary_layout.addWidget(hint)
        summary_layout.addWidget(self.table, 1)
        self.summary_note = QLabel(CUMULATIVE_NOTE)
        self.summary_note.setObjectName("summary_note")
        self.summary_note.setWordWrap(True)
        self.summary_note.setToolTip(CUMULATIVE_TIP)
        self.summary_note.hide()
        summary_layout.addWidget(self.summary_note)
        self.addTab(summary_page, "Summary")

        self.robustness = RobustnessPlot()
        self.addTab(self.robustness, "Robust accuracy vs eps")

        trans_page = QWidget()
        trans_layout = QVBoxLayout(trans_page)
        trans_layout.setContentsMargins(2, 2, 2, 2)
        self.transition_caption = QLabel("Select a summary row to see its class transitions.")
        self.transition_caption.setObjectName("dim")
        trans_layout.addWidget(self.transition_caption)
        self.transitions = TransitionMatrix()
        trans_layout.addWidget(self.transitions, 1)
        self.addTab(trans_page, "Transitions")

        samples_page = QSplitter(Qt.Horizontal)
        self.samples = QTableWidget(0, 7)
        self.samples.setObjectName("sample_table")
        self.samples.setHorizontalHeaderLabels(["Sample", "Attack", "eps", "True/clean", "Adversarial",
                                                "Conf drop", "Fooled"])
        self.samples.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.samples.setSelectionMode(QAbstractItemView.SingleSelection)
        self.samples.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.samples.verticalHeader().setVisible(False)
        self.samples.verticalHeader().setDefaultSectionSize(20)
        self.samples.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.samples.itemSelectionChanged.connect(self._on_sample_selection)
        samples_page.addWidget(self.samples)
        self.preview = SamplePreview()
        samples_page.addWidget(self.preview)
        samples_page.setSizes([500, 400])
        self.addTab(samples_page, "Samples")

        self.class_names: list[str] = []
        self.sample_entries: list[SampleEntry] = []

    # -- prediction ---------------------------------------------------------
    def show_prediction(self, class_names: Sequence[str], before: Sequence[float],
                        after: Sequence[float] | None, caption: str) -> None:
        self.prediction.set_probabilities(class_names, before, after)
        self.prediction_caption.setText(caption)

    # -- summary ------------------------------------------------------------
    def add_summary(self, rows: Sequence[SummaryRow]) -> None:
        self.table.summary.add(rows)
        self.summary_note.setVisible(self.table.summary.has_cumulative())
        if rows:
            last = self.table.proxy.mapFromSource(self.table.summary.index(len(self.table.summary.rows) - 1, 0))
            self.table.scrollTo(last)

    def show_curve(self, rows: Sequence[Any], clean_accuracy: float | None) -> None:
        self.robustness.set_rows(rows, clean_accuracy)

    def _on_summary_selection(self, *_args) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        entry = self.table.source_row(rows[0].row())
        matrix = getattr(entry.row, "transitions", None) or []
        if matrix:
            self.transitions.set_matrix(matrix, self.class_names)
            self.transition_caption.setText(
                f"{attack_text(entry.row)} at eps {eps_text(entry.row.eps, entry.row.eps_native, entry.units)} — "
                f"{entry.source}. Rows: true (or clean) class; columns: adversarial prediction"
                + (" (cumulative: after this attack and the ones run before it)." if is_cumulative(entry.row) else "."))
        self.sig_summary_selected.emit(entry)

    # -- samples ------------------------------------------------------------
    def set_samples(self, entries: Sequence["SampleEntry"]) -> None:
        self.sample_entries = list(entries)
        self.samples.setRowCount(len(entries))
        names = self.class_names

        def cname(i: int) -> str:
            return names[i] if 0 <= i < len(names) else str(i)

        for r, entry in enumerate(entries):
            rec = entry.record
            fooled = "—" if rec.success is None else ("yes" if rec.success else "no")
            cells = [rec.sample_id, rec.attack, formatting.eps_255(rec.eps),
                     f"{cname(rec.true_label)} / {cname(rec.clean_pred)}", cname(rec.adv_pred),
                     f"{(rec.clean_conf_true - rec.adv_conf_true) * 100:.1f} pt", fooled]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 6 and rec.success:
                    item.setForeground(QBrush(QColor(theme.DANGER)))
                self.samples.setItem(r, c, item)

    def _on_sample_selection(self) -> None:
        rows = self.samples.selectionModel().selectedRows()
        if not rows:
            return
        entry = self.sample_entries[rows[0].row()]
        images = entry.images() if entry.images else None
        if images is not None:
            original, adversarial, levels = images
            rec = entry.record
            names = self.class_names
            cn = (lambda i: names[i] if 0 <= i < len(names) else str(i))
            self.preview.show_sample(original, adversarial,
                                     f"{rec.sample_id}: {cn(rec.clean_pred)} → {cn(rec.adv_pred)} "
                                     f"({rec.attack}, eps {formatting.eps_255(rec.eps)})", levels)
        self.sig_sample_selected.emit(entry)


@dataclass
class SampleEntry:
    """A per-sample record and how to get its images (native or [0, 1] units) for the preview."""

    record: Any                                                      # engine SampleRecord
    images: Callable[[], tuple[np.ndarray, np.ndarray, tuple[float, float] | None]] | None = None
    study_index: int | None = None                                  # for single-study results
    slice_index: int | None = None
