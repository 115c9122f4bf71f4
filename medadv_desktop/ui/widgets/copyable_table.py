"""A read-only, sortable table whose Ctrl+C copies rows as tab-separated text (a base for result tables)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget


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
