"""The Jobs dock: queue, current progress with ETA, cancel, and a log without PHI."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPlainTextEdit, QPushButton, QSizePolicy, QSplitter,
    QTableWidget, QVBoxLayout, QWidget,
)

from medadv_desktop.ui.widgets.common import format_seconds, job_progress_bar
from medadv_desktop.ui.widgets.common import table_item as _item


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
        # long progress lines (training epochs) must never widen the window: the label elides instead
        self.current_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
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
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("%p %")
        self.eta_label.setText("")
        self.cancel_button.setEnabled(True)

    def job_progress(self, job_id: int, fraction: float, message: str, *, indeterminate: bool = False) -> None:
        """``indeterminate``: the job does not know its size yet (reading, loading): a busy bar."""
        if indeterminate:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            fraction = min(1.0, max(0.0, fraction))
            self.progress.setValue(int(fraction * 1000))
        elapsed = time.monotonic() - self._started.get(job_id, time.monotonic())
        eta = ""
        if not indeterminate and 0.02 < fraction < 1.0 and elapsed > 0.5:
            eta = format_seconds(elapsed * (1 - fraction) / fraction)
        self.eta_label.setText(f"ETA {eta}" if eta else "")
        if not indeterminate:
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
            self.progress.setRange(0, 1000)
            self.progress.setValue(1000 if status == "done" else 0)
            self.eta_label.setText("")

    def append_log(self, text: str) -> None:
        self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")

    def status_of(self, job_id: int) -> str:
        row = self._rows.get(job_id)
        return self.table.item(row, 2).text() if row is not None else ""
