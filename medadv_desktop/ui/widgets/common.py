"""Small builders shared by the widgets (no widget classes here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDockWidget, QHBoxLayout, QLabel, QLineEdit, QProgressBar, QScrollArea, QSizePolicy, QTableWidgetItem,
    QToolButton, QWidget,
)

from medadv_desktop.engine.reports import formatting


def pct(value: float | None) -> str:
    return formatting.pct(value, dash="—")


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


def browse_button(slot: Callable[[], None], tip: str = "Choose a folder") -> QToolButton:
    """The "…" button beside a path field: a tool button sized to its text, never clipped."""
    button = QToolButton()
    button.setText("…")
    button.setToolTip(tip)
    button.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Preferred)
    button.clicked.connect(lambda _checked=False: slot())
    return button


def path_row(edit: QLineEdit, slot: Callable[[], None], tip: str = "Choose a folder") -> QWidget:
    """A path field with its browse button, in one row."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(3)
    layout.addWidget(edit, 1)
    row.browse = browse_button(slot, tip)  # type: ignore[attr-defined]
    layout.addWidget(row.browse)  # type: ignore[attr-defined]
    return row


def dim_label(text: str = "", *, wrap: bool = True, object_name: str = "dim") -> QLabel:
    label = QLabel(text)
    label.setObjectName(object_name)
    label.setWordWrap(wrap)
    return label


#: the item data role holding a cell's sort key (a number or a tuple), where the text does not sort right
SORT_ROLE = Qt.UserRole + 7


class SortableItem(QTableWidgetItem):
    """A cell that sorts by its :data:`SORT_ROLE` key (numbers as numbers; no key: after every key)."""

    def __lt__(self, other: QTableWidgetItem) -> bool:  # type: ignore[override]
        a, b = self.data(SORT_ROLE), other.data(SORT_ROLE)
        if a is None or b is None:
            return (a is not None) if (a is None) != (b is None) else super().__lt__(other)
        try:
            return bool(a < b)
        except TypeError:
            return str(a) < str(b)


def table_item(text: str, *, tip: str = "", align_right: bool = False, sort_key: Any = None) -> QTableWidgetItem:
    item: QTableWidgetItem = QTableWidgetItem(text) if sort_key is None else SortableItem(text)
    if sort_key is not None:
        item.setData(SORT_ROLE, sort_key)
    item.setFlags(item.flags() & ~Qt.ItemIsEditable)
    if tip:
        item.setToolTip(tip)
    if align_right:
        item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
    return item


def format_seconds(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
