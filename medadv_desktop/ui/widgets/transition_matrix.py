"""Counts of (true class -> adversarial prediction) for one summary row."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget


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
