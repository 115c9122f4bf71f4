"""The DICOM Tags dock: header elements of the current study, PHI marked and hidden by default."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QHBoxLayout, QHeaderView, QLineEdit, QTableWidget, QVBoxLayout, QWidget,
)

from medadv_desktop.ui import theme
from medadv_desktop.ui.widgets.common import table_item as _item

if TYPE_CHECKING:  # pragma: no cover
    from medadv_desktop.engine.io.study import HeaderElement

PHI_HIDDEN = "•••• hidden (PHI)"


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

    def set_header(self, elements: Sequence[HeaderElement]) -> None:
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
