"""The Studies dock: loaded studies and the files that failed to load."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from medadv_desktop.ui import theme

if TYPE_CHECKING:  # pragma: no cover
    from medadv_desktop.engine.io.study import Study


def study_lines(study: Study, index: int) -> tuple[str, str]:
    """(name, details) as the list shows them: the pseudonym, then modality · description · year · size ·
    slices (· volumes), de-identified (``Study.display_info()``: the year only, descriptions cleaned)."""
    rows, cols = study.shape2d
    name = study.pseudonym or f"Study {index + 1}"
    info = study.display_info()
    slices = f"{study.n_slices} slice{'s' if study.n_slices != 1 else ''}"
    volumes = f" × {info.n_volumes} volumes" if info.n_volumes > 1 else ""
    parts = [info.modality, info.series_description, info.study_date, f"{cols}×{rows}", slices + volumes]
    details = " · ".join(p for p in parts if p)
    if study.synthetic:
        details += " · synthetic"
    if info.burned_in_annotation:
        details += " · burned-in text"
    return name, details


class StudyBrowser(QWidget):
    """Loaded studies (two lines each: pseudonym; modality, size, slices) and files that failed to load.

    Two lines instead of four columns keep the pseudonym readable in a narrow
    dock (1280x800); a name too long for the dock is elided in the middle, so
    both of its ends stay visible.
    """

    sig_study_selected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.tree = QTreeWidget()
        self.tree.setObjectName("study_tree")
        self.tree.setHeaderHidden(True)
        self.tree.setColumnCount(1)
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setTextElideMode(Qt.ElideMiddle)
        self.tree.header().setSectionResizeMode(0, QHeaderView.Stretch)
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

    def set_studies(self, studies: Sequence[Study], current: int | None = None) -> None:
        self.tree.blockSignals(True)
        self.tree.clear()
        for index, study in enumerate(studies):
            name, details = study_lines(study, index)
            item = QTreeWidgetItem([f"{name}\n{details}"])
            item.setData(0, Qt.UserRole, index)
            item.setToolTip(0, f"{name}\n{details}" + (f"\n{study.description}" if study.description else ""))
            self.tree.addTopLevelItem(item)
        self.set_current(current)
        self.tree.blockSignals(False)
        self.placeholder.setVisible(not studies)

    def set_current(self, index: int | None) -> None:
        """Highlight study ``index`` without emitting ``sig_study_selected``."""
        blocked = self.tree.blockSignals(True)
        if index is not None and 0 <= index < self.tree.topLevelItemCount():
            self.tree.setCurrentItem(self.tree.topLevelItem(index))
        self.tree.blockSignals(blocked)

    def row_texts(self) -> list[tuple[str, str]]:
        """(name, details) of every listed study, as displayed."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            name, _, details = self.tree.topLevelItem(i).text(0).partition("\n")
            out.append((name, details))
        return out

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
