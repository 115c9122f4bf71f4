"""Per-sample records of the latest run (Results ▸ Samples): a sortable table over a lazy model.

A model (not one QTableWidgetItem per cell) keeps a data-set evaluation of
thousands of records cheap to show: Qt asks only for the visible cells.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QWidget

from medadv_desktop.engine.reports import formatting
from medadv_desktop.ui import theme
from medadv_desktop.ui.widgets.copyable_table import CopyableTable


# Qt's roles as plain ints: ``data`` runs for every cell and role on each layout, and comparing with
# the Qt enum costs ~25 us per comparison on a loaded machine (100x an int comparison)
_DISPLAY, _USER, _ALIGN, _TOOLTIP, _FOREGROUND = (
    int(r.value) for r in (Qt.DisplayRole, Qt.UserRole, Qt.TextAlignmentRole, Qt.ToolTipRole, Qt.ForegroundRole))


@dataclass
class SampleEntry:
    """A per-sample record and how to get its images for the preview.

    ``images()`` returns (original, adversarial) in the units of ``levels``
    (native units for a study attack, [0, 1] for an evaluation's example
    panels); ``levels`` is the display window (the model card's clinical
    window). ``study_index``/``slice_index``: where it lives among the opened
    studies (study attacks); evaluation examples are opened as a study of
    their own.
    """

    record: Any                                                     # engine SampleRecord
    images: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None
    levels: tuple[float, float] | None = None
    units: str = ""
    study_index: int | None = None
    slice_index: int | None = None
    example: Any = None                                             # engine ExamplePanel

    @property
    def has_images(self) -> bool:
        return self.images is not None


SAMPLE_COLUMNS = ["Sample", "Attack", "eps", "True / clean", "Adversarial", "Conf drop", "Fooled", "Images"]


class SampleModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.entries: list[SampleEntry] = []
        self.class_names: list[str] = []
        self._cache: list[list[tuple[Any, str]]] = []         # per row: (sort key, text) per column

    def rowCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(self.entries)

    def columnCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(SAMPLE_COLUMNS)

    def set_entries(self, entries: Sequence[SampleEntry], class_names: Sequence[str]) -> None:
        self.beginResetModel()
        self.entries = list(entries)
        self.class_names = list(class_names)
        # cells computed once (the view asks for every cell and role on each layout)
        self._cache = [[self._cell(e, c) for c in range(len(SAMPLE_COLUMNS))] for e in self.entries]
        self.endResetModel()

    def _name(self, i: int) -> str:
        return self.class_names[i] if 0 <= i < len(self.class_names) else str(i)

    def _cell(self, entry: SampleEntry, column: int) -> tuple[Any, str]:
        rec = entry.record
        drop = rec.clean_conf_true - rec.adv_conf_true
        fooled = "—" if rec.success is None else ("yes" if rec.success else "no")
        return [
            (rec.sample_id, rec.sample_id),
            (rec.attack, rec.attack),
            (rec.eps, formatting.eps_255(rec.eps)),
            (rec.true_label, f"{self._name(rec.true_label)} / {self._name(rec.clean_pred)}"),
            (rec.adv_pred, self._name(rec.adv_pred)),
            (drop, f"{drop * 100:.1f} pt"),
            (-1 if rec.success is None else int(rec.success), fooled),
            (int(entry.has_images), "yes" if entry.has_images else "—"),
        ][column]

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry = self.entries[index.row()]
        if role == _DISPLAY or role == _USER:
            key, text = self._cache[index.row()][index.column()]
            return text if role == _DISPLAY else key
        if role == _FOREGROUND and index.column() == 6 and entry.record.success:
            return QBrush(QColor(theme.DANGER))
        if role == _TOOLTIP and index.column() == 7 and not entry.has_images:
            return "Only the example panels of an evaluation keep images; this sample has none."
        return None

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return SAMPLE_COLUMNS[section]
        return None


class SampleTable(CopyableTable):
    """The per-sample table; ``sig_entry_selected`` carries the selected :class:`SampleEntry`."""

    sig_entry_selected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        self.sample_model = SampleModel()
        super().__init__(self.sample_model, [(c,) for c in SAMPLE_COLUMNS], "sample_table", parent)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setTextElideMode(Qt.ElideLeft)          # keep "…/slice-004" readable in a narrow column
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Interactive)      # no per-row measuring on thousands of rows
        header.setStretchLastSection(True)
        for column, width in enumerate((170, 70, 56, 130, 90, 70, 50, 50)):
            header.resizeSection(column, width)
        self.selectionModel().currentRowChanged.connect(self._on_current)

    def set_entries(self, entries: Sequence[SampleEntry], class_names: Sequence[str]) -> None:
        self.sample_model.set_entries(entries, class_names)

    @property
    def entries(self) -> list[SampleEntry]:
        return self.sample_model.entries

    def entry_at(self, proxy_row: int) -> SampleEntry:
        return self.entries[self.proxy.mapToSource(self.proxy.index(proxy_row, 0)).row()]

    def select_entry(self, row: int) -> None:
        """Select (and show) the sample in source row ``row``."""
        index = self.proxy.mapFromSource(self.sample_model.index(row, 0))
        self.setCurrentIndex(index)
        self.selectRow(index.row())

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.sig_entry_selected.emit(self.entry_at(current.row()))
