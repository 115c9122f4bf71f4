"""Help ▸ Keyboard Shortcuts: the viewer's keys and mouse, then every menu action with a shortcut."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from medadv_desktop.ui.widgets.shortcut_list import VIEWER_SHORTCUTS


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    """The viewer's rows, then (shortcut, action text) of each action that has a shortcut (not listed yet)."""
    rows = list(VIEWER_SHORTCUTS)
    listed = {keys for keys, _what in rows}
    for action in actions:
        keys = action.shortcut().toString(QKeySequence.NativeText)
        if keys and keys not in listed:
            rows.append((keys, action.text().replace("&", "").rstrip("…")))
            listed.add(keys)
    return rows


class ShortcutsDialog(QDialog):
    def __init__(self, actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcuts_dialog")
        self.setWindowTitle("Keyboard Shortcuts")
        self.rows = shortcut_rows(actions)
        self.table = QTableWidget(len(self.rows), 2)
        self.table.setObjectName("shortcuts_table")
        self.table.setHorizontalHeaderLabels(["Keys", "Action"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        for r, (keys, what) in enumerate(self.rows):
            self.table.setItem(r, 0, QTableWidgetItem(keys))
            self.table.setItem(r, 1, QTableWidgetItem(what))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(720, 520)
