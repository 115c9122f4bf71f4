"""Dock panels: study browser, DICOM tag browser, model, jobs.

The attack configuration dock lives in :mod:`attack_dock`, the results in
:mod:`results`. Docks only display state and emit ``sig_*`` requests; the main
window owns the state and runs engine jobs on the worker.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDockWidget,
    QFileDialog, QFormLayout, QGridLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
    QPlainTextEdit, QProgressBar, QPushButton, QScrollArea, QSizePolicy, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem,
    QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget,
)

from medadv_desktop.engine.reports import formatting
from medadv_desktop.ui import theme

if TYPE_CHECKING:  # pragma: no cover
    from medadv_desktop.engine.io.study import HeaderElement, Study
    from medadv_desktop.engine.models.card import ModelCard

PHI_HIDDEN = "•••• hidden (PHI)"


def vertical_scroll_area(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless scroll area that scrolls vertically only (dock panels, option forms)."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    area.setWidget(widget)
    return area


def job_progress_bar(object_name: str, idle_text: str = "") -> QProgressBar:
    """A job's progress bar: range 0..1000 (per mille of the job), empty, showing ``idle_text``."""
    bar = QProgressBar()
    bar.setObjectName(object_name)
    bar.setRange(0, 1000)
    bar.setValue(0)
    bar.setFormat(idle_text)
    return bar


def make_dock(title: str, object_name: str, widget: QWidget, parent: QWidget | None = None, *,
              scroll: bool = False) -> QDockWidget:
    dock = QDockWidget(title, parent)
    dock.setObjectName(object_name)
    if scroll:
        widget = vertical_scroll_area(widget)
    dock.setWidget(widget)
    dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable
                     | QDockWidget.DockWidgetClosable)
    return dock


def _item(text: str, *, tip: str = "", align_right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemIsEditable)
    if tip:
        item.setToolTip(tip)
    if align_right:
        item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
    return item


# --------------------------------------------------------------------------- studies
class StudyBrowser(QWidget):
    """Loaded studies (pseudonym, modality, size, slices) and files that failed to load."""

    sig_study_selected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.tree = QTreeWidget()
        self.tree.setObjectName("study_tree")
        self.tree.setHeaderLabels(["Study", "Mod.", "Size", "Sl."])
        self.tree.headerItem().setToolTip(1, "Modality")
        self.tree.headerItem().setToolTip(3, "Slices")
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        header.setMinimumSectionSize(30)
        for col in (1, 2, 3):
            header.setSectionResizeMode(col, QHeaderView.ResizeToContents)
        self.tree.currentItemChanged.connect(self._on_current)
        layout.addWidget(self.tree, 3)
        self.failures_label = QLabel("Files that could not be loaded")
        self.failures_label.setObjectName("dim")
        layout.addWidget(self.failures_label)
        self.failures = QTreeWidget()
        self.failures.setObjectName("failure_list")
        self.failures.setHeaderLabels(["File", "Reason"])
        self.failures.setRootIsDecorated(False)
        self.failures.setWordWrap(True)
        self.failures.header().setSectionResizeMode(0, QHeaderView.ResizeToContents)
        layout.addWidget(self.failures, 1)
        self._set_failures_visible(False)
        self.placeholder = QLabel("Open a file or folder, or drop it on the window.")
        self.placeholder.setObjectName("dim")
        self.placeholder.setWordWrap(True)
        layout.addWidget(self.placeholder)

    def _set_failures_visible(self, visible: bool) -> None:
        self.failures_label.setVisible(visible)
        self.failures.setVisible(visible)

    def set_studies(self, studies: Sequence["Study"], current: int | None = None) -> None:
        self.tree.blockSignals(True)
        self.tree.clear()
        for index, study in enumerate(studies):
            rows, cols = study.shape2d
            name = study.pseudonym or f"Study {index + 1}"
            if study.synthetic:
                name += "  (synthetic)"
            item = QTreeWidgetItem([name, study.modality, f"{cols}×{rows}", str(study.n_slices)])
            item.setData(0, Qt.UserRole, index)
            item.setToolTip(0, study.description or name)
            self.tree.addTopLevelItem(item)
        if current is not None and 0 <= current < self.tree.topLevelItemCount():
            self.tree.setCurrentItem(self.tree.topLevelItem(current))
        self.tree.blockSignals(False)
        self.placeholder.setVisible(not studies)

    #: Side-car files next to images (labels, notes): listed dimmed, not as warnings.
    SIDECAR_SUFFIXES = (".csv", ".txt", ".json", ".md", ".xml", ".ini", ".log")

    def add_failures(self, failures: Sequence[tuple[Path, str]]) -> None:
        for path, reason in failures:
            item = QTreeWidgetItem([Path(path).name, reason])
            item.setToolTip(1, reason)
            sidecar = Path(path).suffix.lower() in self.SIDECAR_SUFFIXES
            item.setForeground(1, QBrush(QColor(theme.TEXT_DIM if sidecar else theme.WARNING)))
            self.failures.addTopLevelItem(item)
        self._set_failures_visible(self.failures.topLevelItemCount() > 0)

    def failure_count(self) -> int:
        return self.failures.topLevelItemCount()

    def _on_current(self, item: QTreeWidgetItem | None, _previous=None) -> None:
        if item is not None:
            self.sig_study_selected.emit(int(item.data(0, Qt.UserRole)))


# --------------------------------------------------------------------------- tags
class TagBrowser(QWidget):
    """Header elements of the current study; PHI rows are marked and their values hidden by default."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter tags…")
        self.filter_edit.textChanged.connect(self._apply_filter)
        row.addWidget(self.filter_edit, 1)
        self.show_phi = QCheckBox("Show PHI")
        self.show_phi.setObjectName("show_phi")
        self.show_phi.setToolTip("Reveal identifying values on screen (never written to logs or reports)")
        self.show_phi.toggled.connect(lambda _on: self._fill())
        row.addWidget(self.show_phi)
        layout.addLayout(row)
        self.table = QTableWidget(0, 4)
        self.table.setObjectName("tag_table")
        self.table.setHorizontalHeaderLabels(["Keyword", "Value", "Tag", "VR"])
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setDefaultSectionSize(20)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Interactive)
        header.resizeSection(0, 150)
        header.resizeSection(1, 170)
        header.resizeSection(2, 90)
        header.resizeSection(3, 36)
        self.table.setWordWrap(False)
        layout.addWidget(self.table)
        self.elements: list[HeaderElement] = []

    def set_header(self, elements: Sequence["HeaderElement"]) -> None:
        self.elements = list(elements)
        self._fill()

    def _fill(self) -> None:
        reveal = self.show_phi.isChecked()
        self.table.setRowCount(len(self.elements))
        phi_brush = QBrush(QColor(theme.DANGER))
        for row, el in enumerate(self.elements):
            indent = "  " * el.depth
            value = el.value if (reveal or not el.is_phi) else PHI_HIDDEN
            cells = [_item(indent + el.keyword, tip=f"{el.tag} {el.keyword}"), _item(value, tip=value),
                     _item(el.tag), _item(el.vr)]
            if el.is_phi:
                cells[0].setText(indent + el.keyword + "  [PHI]")
                for cell in cells:
                    cell.setForeground(phi_brush)
                cells[0].setToolTip("Protected health information: hidden unless 'Show PHI' is on")
            for col, cell in enumerate(cells):
                self.table.setItem(row, col, cell)
        self._apply_filter(self.filter_edit.text())

    def _apply_filter(self, text: str) -> None:
        text = text.strip().lower()
        for row, el in enumerate(self.elements):
            hay = f"{el.tag} {el.keyword}".lower()
            self.table.setRowHidden(row, bool(text) and text not in hay)

    def displayed_values(self) -> list[str]:
        return [self.table.item(r, 1).text() for r in range(self.table.rowCount())]


# --------------------------------------------------------------------------- model
class ModelPanel(QWidget):
    """The loaded model card and the prediction for the current slice."""

    sig_load_requested = Signal()
    sig_create_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        buttons = QHBoxLayout()
        self.load_button = QPushButton("Load card…")
        self.load_button.clicked.connect(self.sig_load_requested)
        self.create_button = QPushButton("From weights…")
        self.create_button.setToolTip("Create a model card for a weights file")
        self.create_button.clicked.connect(self.sig_create_requested)
        for button in (self.load_button, self.create_button):
            button.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
            button.setMinimumWidth(80)
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.banner = QLabel("")
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.hide()
        layout.addWidget(self.banner)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignRight)
        form.setContentsMargins(0, 4, 0, 4)
        form.setVerticalSpacing(3)
        self.fields: dict[str, QLabel] = {}
        for key, label in (("name", "Name"), ("architecture", "Architecture"), ("classes", "Classes"),
                           ("input", "Input"), ("intensity", "Intensity"), ("device", "Device")):
            value = QLabel("—")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextSelectableByMouse)
            self.fields[key] = value
            form.addRow(label + ":", value)
        layout.addLayout(form)
        heading = QLabel("Prediction, current slice")
        heading.setObjectName("heading")
        layout.addWidget(heading)
        self.prediction_grid = QGridLayout()
        self.prediction_grid.setHorizontalSpacing(6)
        self.prediction_grid.setVerticalSpacing(2)
        layout.addLayout(self.prediction_grid)
        self.prediction_note = QLabel("Load a model and a study to see the prediction.")
        self.prediction_note.setObjectName("dim")
        self.prediction_note.setWordWrap(True)
        layout.addWidget(self.prediction_note)
        layout.addStretch(1)
        self._bars: list[tuple[QLabel, QProgressBar, QProgressBar]] = []

    def set_card(self, card: "ModelCard | None", device: str = "") -> None:
        if card is None:
            for value in self.fields.values():
                value.setText("—")
            self.banner.hide()
            return
        self.fields["name"].setText(card.name)
        self.fields["architecture"].setText(f"{card.architecture or '—'} ({card.format})")
        self.fields["classes"].setText(", ".join(card.class_names))
        size = "×".join(str(v) for v in card.input_size)
        self.fields["input"].setText(f"{size} px, {card.in_chans} channel(s)")
        self.fields["intensity"].setText(card.intensity.describe())
        self.fields["device"].setText(device or "—")
        if card.synthetic:
            self.banner.setText("Synthetic demo task, not for clinical use")
            self.banner.show()
        else:
            self.banner.hide()

    def set_prediction(self, class_names: Sequence[str], before: Sequence[float],
                       after: Sequence[float] | None = None, note: str = "") -> None:
        """Class probabilities of the current slice (``after``: of its adversarial version)."""
        while self.prediction_grid.count():
            w = self.prediction_grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self._bars = []
        header_before = QLabel("original")
        header_before.setObjectName("dim")
        self.prediction_grid.addWidget(header_before, 0, 1)
        if after is not None:
            header_after = QLabel("adversarial")
            header_after.setObjectName("dim")
            self.prediction_grid.addWidget(header_after, 0, 2)
        top_before = max(range(len(before)), key=lambda i: before[i]) if before else -1
        top_after = max(range(len(after)), key=lambda i: after[i]) if after else -1
        for i, name in enumerate(class_names):
            label = QLabel(name)
            if i == top_before:
                label.setObjectName("heading")
            bars = []
            for col, (values, top, colour) in enumerate(
                    ((before, top_before, theme.BEFORE_COLOR), (after, top_after, theme.AFTER_COLOR)), start=1):
                if values is None:
                    continue
                bar = QProgressBar()
                bar.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
                bar.setMinimumWidth(50)
                bar.setRange(0, 1000)
                bar.setValue(int(round(float(values[i]) * 1000)))
                bar.setFormat(formatting.pct(float(values[i])))
                bar.setStyleSheet(f"QProgressBar::chunk {{ background: {colour}; }}")
                bar.setObjectName(f"prob_{'before' if col == 1 else 'after'}_{i}")
                self.prediction_grid.addWidget(bar, i + 1, col)
                bars.append(bar)
            self.prediction_grid.addWidget(label, i + 1, 0)
            self._bars.append((label, *bars))
        self.prediction_note.setText(note)
        self.prediction_note.setVisible(bool(note))

    def prediction_texts(self) -> list[list[str]]:
        """[[class, before %, (after %)], ...]: what the panel shows, for tests and copy."""
        return [[row[0].text()] + [bar.format() for bar in row[1:]] for row in self._bars]


class CreateCardDialog(QDialog):
    """Form that writes a model card for an existing weights file."""

    def __init__(self, parent: QWidget | None = None, *, weights: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Create a model card from a weights file")
        self.setMinimumWidth(480)
        form = QFormLayout(self)
        row = QHBoxLayout()
        self.weights = QLineEdit(weights)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.weights, 1)
        row.addWidget(browse)
        form.addRow("Weights file:", row)
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. Chest CT nodule classifier v2")
        form.addRow("Name:", self.name)
        self.format = QComboBox()
        self.format.addItems(["timm", "torchscript"])
        form.addRow("Format:", self.format)
        self.architecture = QLineEdit("efficientnet_b0")
        form.addRow("timm architecture:", self.architecture)
        self.class_names = QLineEdit("no_finding, lesion")
        form.addRow("Class names (comma separated):", self.class_names)
        self.in_chans = QComboBox()
        self.in_chans.addItems(["1", "3"])
        form.addRow("Input channels:", self.in_chans)
        size_row = QHBoxLayout()
        self.height = QSpinBox()
        self.width = QSpinBox()
        for spin in (self.height, self.width):
            spin.setRange(8, 4096)
            spin.setValue(224)
            size_row.addWidget(spin)
        form.addRow("Input size (H, W px):", size_row)
        self.intensity = QComboBox()
        self.intensity.addItems(["window", "minmax", "percentile"])
        form.addRow("Intensity mapping:", self.intensity)
        win_row = QHBoxLayout()
        self.center = QLineEdit("40")
        self.window_width = QLineEdit("400")
        win_row.addWidget(QLabel("centre"))
        win_row.addWidget(self.center)
        win_row.addWidget(QLabel("width"))
        win_row.addWidget(self.window_width)
        form.addRow("Window (native units):", win_row)
        self.mean = QLineEdit("0.5")
        self.std = QLineEdit("0.5")
        form.addRow("Mean:", self.mean)
        form.addRow("Std:", self.std)
        self.intended_use = QLineEdit()
        form.addRow("Intended use:", self.intended_use)
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        form.addRow(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.format.currentTextChanged.connect(lambda f: self.architecture.setEnabled(f == "timm"))
        self.intensity.currentTextChanged.connect(self._intensity_changed)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Weights file", "",
                                              "Model weights (*.safetensors *.pt *.pth *.ts *.jit);;All files (*)")
        if path:
            self.weights.setText(path)

    def _intensity_changed(self, mode: str) -> None:
        self.center.setEnabled(mode == "window")
        self.window_width.setEnabled(mode == "window")

    def values(self) -> dict[str, Any]:
        """Keyword arguments for ``create_card_from_weights`` (raises ValueError on bad numbers)."""
        def numbers(text: str) -> list[float]:
            return [float(v) for v in text.replace(";", ",").split(",") if v.strip()]

        mode = self.intensity.currentText()
        intensity: dict[str, Any] = {"mode": mode}
        if mode == "window":
            intensity.update(center=float(self.center.text()), width=float(self.window_width.text()))
        fmt = self.format.currentText()
        return {
            "weights": self.weights.text().strip(),
            "name": self.name.text().strip() or Path(self.weights.text().strip()).stem or "Model",
            "format": fmt,
            "architecture": self.architecture.text().strip() if fmt == "timm" else "",
            "class_names": [c.strip() for c in self.class_names.text().split(",") if c.strip()],
            "in_chans": int(self.in_chans.currentText()),
            "input_size": [self.height.value(), self.width.value()],
            "intensity": intensity,
            "mean": numbers(self.mean.text()),
            "std": numbers(self.std.text()),
            "intended_use": self.intended_use.text().strip(),
        }


# --------------------------------------------------------------------------- jobs
class JobsPanel(QWidget):
    """Queue, current progress with ETA, cancel, and a log without PHI."""

    sig_cancel_requested = Signal(int)     # job id, or -1 for the running job

    COLUMNS = ["#", "Job", "Status", "Progress", "ETA"]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        self.current_label = QLabel("Idle")
        self.current_label.setObjectName("job_current")
        top.addWidget(self.current_label, 1)
        self.eta_label = QLabel("")
        self.eta_label.setObjectName("dim")
        top.addWidget(self.eta_label)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("danger")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(lambda: self.sig_cancel_requested.emit(-1))
        top.addWidget(self.cancel_button)
        layout.addLayout(top)
        self.progress = job_progress_bar("job_progress")
        layout.addWidget(self.progress)
        body = QSplitter(Qt.Vertical)
        body.setChildrenCollapsible(False)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("job_table")
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setDefaultSectionSize(20)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.Stretch)
        for col in (0, 2, 3, 4):
            header.setSectionResizeMode(col, QHeaderView.ResizeToContents)
        body.addWidget(self.table)
        self.log = QPlainTextEdit()
        self.log.setObjectName("job_log")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setFont(QFont("monospace", 8))
        self.log.setLineWrapMode(QPlainTextEdit.NoWrap)
        self.log.setPlaceholderText("Job log")
        body.addWidget(self.log)
        body.setSizes([90, 160])
        layout.addWidget(body, 1)
        self._rows: dict[int, int] = {}
        self._started: dict[int, float] = {}

    def add_job(self, job_id: int, title: str) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        for col, text in enumerate([str(job_id), title, "queued", "", ""]):
            self.table.setItem(row, col, _item(text))
        self._rows[job_id] = row
        self.table.scrollToBottom()

    def _set(self, job_id: int, col: int, text: str) -> None:
        row = self._rows.get(job_id)
        if row is not None:
            self.table.item(row, col).setText(text)

    def job_started(self, job_id: int, title: str) -> None:
        self._started[job_id] = time.monotonic()
        self._set(job_id, 2, "running")
        self.current_label.setText(title)
        self.progress.setValue(0)
        self.progress.setFormat("%p %")
        self.eta_label.setText("")
        self.cancel_button.setEnabled(True)

    def job_progress(self, job_id: int, fraction: float, message: str) -> None:
        fraction = min(1.0, max(0.0, fraction))
        self.progress.setValue(int(fraction * 1000))
        elapsed = time.monotonic() - self._started.get(job_id, time.monotonic())
        eta = ""
        if 0.02 < fraction < 1.0 and elapsed > 0.5:
            eta = format_seconds(elapsed * (1 - fraction) / fraction)
        self.eta_label.setText(f"ETA {eta}" if eta else "")
        self._set(job_id, 3, f"{fraction * 100:.0f} %")
        self._set(job_id, 4, eta)
        if message:
            self.current_label.setText(message)

    def job_finished(self, job_id: int, status: str) -> None:
        elapsed = time.monotonic() - self._started.pop(job_id, time.monotonic())
        self._set(job_id, 2, status)
        self._set(job_id, 4, format_seconds(elapsed) if status == "done" else "")
        if status == "done":
            self._set(job_id, 3, "100 %")
        if not self._started:
            self.cancel_button.setEnabled(False)
            self.current_label.setText(f"Idle — last job {status}")
            self.progress.setValue(1000 if status == "done" else 0)
            self.eta_label.setText("")

    def append_log(self, text: str) -> None:
        self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")

    def status_of(self, job_id: int) -> str:
        row = self._rows.get(job_id)
        return self.table.item(row, 2).text() if row is not None else ""


def format_seconds(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
