"""The Results dock: Prediction change · Summary · Robust accuracy vs eps · Transitions · Samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QSplitter, QTabWidget, QVBoxLayout, QWidget

from medadv_desktop.ui.widgets.prediction_chart import PredictionChart
from medadv_desktop.ui.widgets.robustness_plot import RobustnessPlot
from medadv_desktop.ui.widgets.sample_preview import SamplePreview
from medadv_desktop.ui.widgets.sample_table import SampleEntry, SampleTable
from medadv_desktop.ui.widgets.summary_table import (
    CUMULATIVE_NOTE, CUMULATIVE_TIP, SummaryRow, SummaryTable, attack_text, eps_text, is_cumulative,
)
from medadv_desktop.ui.widgets.transition_matrix import TransitionMatrix

TAB_PREDICTION, TAB_SUMMARY, TAB_CURVE, TAB_TRANSITIONS, TAB_SAMPLES = range(5)


def _page(*widgets: QWidget, stretch_last: bool = True) -> QWidget:
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.setContentsMargins(2, 2, 2, 2)
    for i, widget in enumerate(widgets):
        layout.addWidget(widget, 1 if (stretch_last and i == len(widgets) - 1) else 0)
    return page


class ResultsPanel(QTabWidget):
    """The result views; it displays what it is given and emits what the user picks."""

    sig_sample_selected = Signal(object)    # SampleEntry
    sig_sample_open = Signal(object)        # SampleEntry: "Open in viewer"
    sig_summary_selected = Signal(object)   # SummaryRow

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("results_tabs")
        self.prediction = PredictionChart()
        self.prediction_caption = QLabel("Run an attack to see how the prediction changes.")
        self.prediction_caption.setObjectName("prediction_caption")
        self.prediction_caption.setWordWrap(True)
        self.addTab(_page(self.prediction_caption, self.prediction), "Prediction change")

        self.table = SummaryTable()
        # the columns fit their contents, measured on at most 64 rows: each layout of a table that grows by
        # ~30 rows per evaluation would otherwise ask Python for every cell of up to 1 000 rows (Qt's default)
        self.table.horizontalHeader().setResizeContentsPrecision(64)
        self.table.selectionModel().selectionChanged.connect(self._on_summary_selection)
        hint = QLabel("Click a header to sort · Ctrl+C copies the selected rows as TSV")
        hint.setObjectName("dim")
        self.summary_note = QLabel(CUMULATIVE_NOTE)
        self.summary_note.setObjectName("summary_note")
        self.summary_note.setWordWrap(True)
        self.summary_note.setToolTip(CUMULATIVE_TIP)
        self.summary_note.hide()
        page = _page(hint, self.table, self.summary_note, stretch_last=False)
        page.layout().setStretch(1, 1)
        self.addTab(page, "Summary")

        self.robustness = RobustnessPlot()
        self.curve_caption = QLabel("")
        self.curve_caption.setObjectName("dim")
        self.curve_caption.hide()
        self.addTab(_page(self.curve_caption, self.robustness), "Robust accuracy vs eps")

        self.transition_caption = QLabel("Select a summary row to see its class transitions.")
        self.transition_caption.setObjectName("dim")
        self.transitions = TransitionMatrix()
        self.addTab(_page(self.transition_caption, self.transitions), "Transitions")

        samples_page = QSplitter(Qt.Horizontal)
        self.samples = SampleTable()
        self.samples.sig_entry_selected.connect(self._on_sample)
        samples_page.addWidget(self.samples)
        self.preview = SamplePreview()
        self.preview.sig_open_requested.connect(self._on_open)
        samples_page.addWidget(self.preview)
        samples_page.setSizes([520, 400])
        self.addTab(samples_page, "Samples")

        self.class_names: list[str] = []
        self.selected_sample: SampleEntry | None = None

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

    def show_curve(self, rows: Sequence[Any], clean_accuracy: float | None, caption: str = "") -> None:
        self.robustness.set_rows(rows, clean_accuracy)
        self.curve_caption.setText(caption)
        self.curve_caption.setVisible(bool(caption))

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
    def set_samples(self, entries: Sequence[SampleEntry]) -> None:
        self.samples.set_entries(entries, self.class_names)
        self.selected_sample = None
        self.preview.clear()

    @property
    def sample_entries(self) -> list[SampleEntry]:
        return self.samples.entries

    def _on_sample(self, entry: SampleEntry) -> None:
        self.selected_sample = entry
        rec = entry.record
        names = self.class_names

        def cn(i: int) -> str:
            return names[i] if 0 <= i < len(names) else str(i)

        fooled = "fooled" if rec.success else ("not fooled" if rec.success is False else "wrong before the attack")
        text = (f"{rec.sample_id}: {cn(rec.clean_pred)} → {cn(rec.adv_pred)} "
                f"({rec.attack}, eps {eps_text(rec.eps, None, '')}, {fooled})")
        openable = entry.study_index is not None or entry.example is not None
        if entry.images is not None:
            original, adversarial = entry.images()
            self.preview.show_sample(original, adversarial, text, entry.levels, openable=openable)
        else:
            self.preview.clear(f"{text}. No images kept for this sample (an evaluation keeps images of its "
                               "example panels only).", openable=openable)
        self.sig_sample_selected.emit(entry)

    def _on_open(self) -> None:
        if self.selected_sample is not None:
            self.sig_sample_open.emit(self.selected_sample)
