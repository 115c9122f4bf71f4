"""Class probabilities of the current slice as bars: original, and adversarial after an attack."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QSizePolicy, QWidget

from medadv_desktop.engine.reports import formatting
from medadv_desktop.ui import theme


class PredictionBars(QWidget):
    """One row per class (name, original bar, adversarial bar), built once per class list.

    Updating the probabilities changes the bars' values only; the widgets are
    rebuilt only when the class names change, and the old ones are hidden and
    detached at once, so no bar is ever left behind on the panel.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("prediction_bars")
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setHorizontalSpacing(6)
        self.grid.setVerticalSpacing(2)
        self.header_before = QLabel("original")
        self.header_before.setObjectName("dim")
        self.header_after = QLabel("adversarial")
        self.header_after.setObjectName("dim")
        self.grid.addWidget(self.header_before, 0, 1)
        self.grid.addWidget(self.header_after, 0, 2)
        self.class_names: list[str] = []
        self.rows: list[tuple[QLabel, QProgressBar, QProgressBar]] = []
        self.shown = False              # values are on the bars
        self.clear()

    def _bar(self, name: str, colour: str) -> QProgressBar:
        bar = QProgressBar()
        bar.setObjectName(name)
        bar.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        bar.setMinimumWidth(50)
        bar.setRange(0, 1000)
        bar.setStyleSheet(f"QProgressBar::chunk {{ background: {colour}; }}")
        return bar

    def set_classes(self, class_names: Sequence[str]) -> None:
        names = list(class_names)
        if names == self.class_names:
            return
        for row in self.rows:
            for widget in row:
                self.grid.removeWidget(widget)
                widget.hide()
                widget.setParent(None)
                widget.deleteLater()
        self.rows = []
        self.class_names = names
        for i, name in enumerate(names):
            label = QLabel(name)
            before = self._bar(f"prob_before_{i}", theme.BEFORE_COLOR)
            after = self._bar(f"prob_after_{i}", theme.AFTER_COLOR)
            self.grid.addWidget(label, i + 1, 0)
            self.grid.addWidget(before, i + 1, 1)
            self.grid.addWidget(after, i + 1, 2)
            self.rows.append((label, before, after))
        self.clear()

    def clear(self) -> None:
        """No prediction: the rows stay (empty) so the panel keeps its layout."""
        for label, before, after in self.rows:
            label.setObjectName("")
            before.setValue(0)
            before.setFormat("")
            after.hide()
        self.header_after.hide()
        self.shown = False
        self.setVisible(bool(self.rows))

    def set_values(self, before: Sequence[float], after: Sequence[float] | None = None) -> None:
        top_before = max(range(len(before)), key=lambda i: before[i]) if before else -1
        for i, (label, bar_before, bar_after) in enumerate(self.rows):
            self._set(bar_before, before[i] if i < len(before) else None)
            bar_after.setVisible(after is not None)
            if after is not None:
                self._set(bar_after, after[i] if i < len(after) else None)
            label.setObjectName("heading" if i == top_before else "")
            label.style().unpolish(label)
            label.style().polish(label)
        self.header_after.setVisible(after is not None)
        self.shown = True
        self.setVisible(bool(self.rows))

    @staticmethod
    def _set(bar: QProgressBar, value: float | None) -> None:
        bar.setValue(0 if value is None else int(round(float(value) * 1000)))
        bar.setFormat("" if value is None else formatting.pct(float(value)))

    def texts(self) -> list[list[str]]:
        """[[class, before %, (after %)], ...]: what the bars show ([] when they show nothing)."""
        if not self.shown:
            return []
        return [[label.text(), before.format()] + ([after.format()] if not after.isHidden() else [])
                for label, before, after in self.rows]
