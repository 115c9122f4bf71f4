"""Per-sample records of the latest run (Results ▸ Samples): a sortable table over a lazy model.

A model (not one QTableWidgetItem per cell) keeps a data-set evaluation of
thousands of records cheap to show: Qt asks only for the visible cells, a
row's texts are made when it is first shown, and the entries themselves may
be a lazy sequence (:class:`LazyEntries`) built one row at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
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


def _sort_key(entry: SampleEntry, column: int) -> Any:
    rec = entry.record
    if column == 0:
        return rec.sample_id
    if column == 1:
        return rec.attack
    if column == 2:
        return rec.eps
    if column == 3:
        return rec.true_label
    if column == 4:
        return rec.adv_pred
    if column == 5:
        return rec.clean_conf_true - rec.adv_conf_true
    if column == 6:
        return -1 if rec.success is None else int(rec.success)
    return int(entry.has_images)


class SampleModel(QAbstractTableModel):
    """The rows of a run's per-sample records, formatted only when Qt asks for them.

    A full evaluation has thousands of records (300 samples x 8 attacks x 3 eps = 7 200):
    formatting every cell up front took seconds on the UI thread. Here a row's texts are made
    the first time one of its cells is shown (a screenful at a time) and kept; sorting is done
    here on one column's keys (``sort``) instead of by the proxy, whose comparisons would ask
    ``data`` twice per comparison (n log n Python calls).
    """

    def __init__(self) -> None:
        super().__init__()
        self.entries: Sequence[SampleEntry] = []
        self.class_names: list[str] = []
        self._order: list[int] = []                           # view row -> entry index
        self._texts: dict[int, list[str]] = {}                # entry index -> column texts, made on demand
        self._sort: tuple[int, Qt.SortOrder] | None = None

    def rowCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(self._order)

    def columnCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(SAMPLE_COLUMNS)

    def set_entries(self, entries: Sequence[SampleEntry], class_names: Sequence[str]) -> None:
        """Show ``entries`` (any sequence: a lazy one builds an entry only when its row is shown)."""
        self.beginResetModel()
        self.entries = entries
        self.class_names = list(class_names)
        self._texts = {}
        self._order = list(range(len(entries)))
        if self._sort is not None:
            self._order = self._sorted(*self._sort)
        self.endResetModel()

    def entry(self, row: int) -> SampleEntry:
        """The entry shown in model row ``row``."""
        return self.entries[self._order[row]]

    def row_of(self, index: int) -> int:
        """The model row that shows ``entries[index]``."""
        return self._order.index(index)

    def _sorted(self, column: int, order: Qt.SortOrder) -> list[int]:
        keys = [_sort_key(self.entries[i], column) for i in range(len(self.entries))]
        return sorted(range(len(keys)), key=keys.__getitem__, reverse=order == Qt.DescendingOrder)

    def sort(self, column: int, order: Qt.SortOrder = Qt.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        before = self._order
        if column < 0:
            self._sort, self._order = None, list(range(len(self.entries)))
        else:
            self._sort = (column, order)
            self._order = self._sorted(column, order)
        where = {entry: row for row, entry in enumerate(self._order)}
        old = self.persistentIndexList()
        self.changePersistentIndexList(old, [self.index(where[before[i.row()]], i.column()) for i in old])
        self.layoutChanged.emit()

    def _name(self, i: int) -> str:
        return self.class_names[i] if 0 <= i < len(self.class_names) else str(i)

    def _row_texts(self, entry: SampleEntry) -> list[str]:
        rec = entry.record
        drop = rec.clean_conf_true - rec.adv_conf_true
        return [
            rec.sample_id,
            rec.attack,
            formatting.eps_255(rec.eps),
            f"{self._name(rec.true_label)} / {self._name(rec.clean_pred)}",
            self._name(rec.adv_pred),
            f"{drop * 100:.1f} pt",
            "—" if rec.success is None else ("yes" if rec.success else "no"),
            "yes" if entry.has_images else "—",
        ]

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        i = self._order[index.row()]
        entry = self.entries[i]
        if role == _DISPLAY:
            texts = self._texts.get(i)
            if texts is None:
                texts = self._texts[i] = self._row_texts(entry)
            return texts[index.column()]
        if role == _USER:
            return _sort_key(entry, index.column())
        if role == _FOREGROUND and index.column() == 6 and entry.record.success:
            return QBrush(QColor(theme.DANGER))
        if role == _TOOLTIP and index.column() == 7 and not entry.has_images:
            return "Only the example panels of an evaluation keep images; this sample has none."
        return None

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return SAMPLE_COLUMNS[section]
        return None


class _ModelSortProxy(QSortFilterProxyModel):
    """A pass-through proxy whose ``sort`` is the source model's (see :class:`SampleModel`)."""

    def sort(self, column: int, order: Qt.SortOrder = Qt.AscendingOrder) -> None:
        self.sourceModel().sort(column, order)


class SampleTable(CopyableTable):
    """The per-sample table; ``sig_entry_selected`` carries the selected :class:`SampleEntry`."""

    sig_entry_selected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        self.sample_model = SampleModel()
        super().__init__(self.sample_model, [(c,) for c in SAMPLE_COLUMNS], "sample_table", parent)
        generic, self.proxy = self.proxy, _ModelSortProxy(self)      # sorting by the model (see SampleModel)
        self.proxy.setSourceModel(self.sample_model)
        self.setModel(self.proxy)
        generic.deleteLater()
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
    def entries(self) -> Sequence[SampleEntry]:
        return self.sample_model.entries

    def entry_at(self, proxy_row: int) -> SampleEntry:
        """The entry shown in table row ``proxy_row`` (in the current sort order)."""
        return self.sample_model.entry(self.proxy.mapToSource(self.proxy.index(proxy_row, 0)).row())

    def select_entry(self, entry_index: int) -> None:
        """Select (and show) ``entries[entry_index]``, wherever the sort order puts it."""
        row = self.sample_model.row_of(entry_index)
        index = self.proxy.mapFromSource(self.sample_model.index(row, 0))
        self.setCurrentIndex(index)
        self.selectRow(index.row())

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.sig_entry_selected.emit(self.entry_at(current.row()))


class LazyEntries(Sequence[SampleEntry]):
    """``make(i)`` for i < n, each built on first use and kept: a run's thousands of sample entries
    cost nothing until their rows are shown, selected or sorted on."""

    def __init__(self, n: int, make: Callable[[int], SampleEntry]) -> None:
        self._n, self._make = n, make
        self._made: dict[int, SampleEntry] = {}

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        entry = self._made.get(i)
        if entry is None:
            entry = self._made[i] = self._make(i)
        return entry
