"""The attack-suite picker of the Attack dock's data-set rows: a named suite (standard, quick, full) or the
ticked attacks ("Custom").

Choosing a suite emits :attr:`SuitePicker.sig_suite_chosen`; the panel then ticks the suite's attacks and
puts the suite's settings into their forms. The description under the combo says what the suite runs (and,
for the quick suite, that its robust accuracy is an upper bound). Torch-free: the suites come from
``engine/attacks/spec.py``.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QVBoxLayout, QWidget

from medadv_desktop.engine.attacks.spec import SUITES
from medadv_desktop.ui.widgets.common import dim_label

CUSTOM = ""
CUSTOM_LABEL = "Custom (the ticked attacks)"
CUSTOM_NOTE = "The ticked attacks, in list order, each with its own form's settings."


class SuitePicker(QWidget):
    """A combo of the named suites plus "Custom", with the chosen one's description."""

    sig_suite_chosen = Signal(str)          # a suite name, or "" for Custom; only on a user's (or set_suite) choice

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.combo = QComboBox()
        self.combo.setObjectName("suite_combo")
        self.combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(10)
        self.combo.addItem(CUSTOM_LABEL, CUSTOM)
        for suite in SUITES.values():
            self.combo.addItem(suite.label, suite.name)
            self.combo.setItemData(self.combo.count() - 1, suite.description, 3)   # Qt.ToolTipRole
        self.note = dim_label(CUSTOM_NOTE, object_name="suite_note")
        layout.addWidget(self.combo)
        layout.addWidget(self.note)
        self.combo.activated.connect(lambda _i: self._chosen())

    def suite(self) -> str:
        """The chosen suite's name, or "" for Custom."""
        return str(self.combo.currentData() or CUSTOM)

    def set_suite(self, name: str, *, emit: bool = True) -> None:
        """Choose ``name`` ("" = Custom) as a user would (emits :attr:`sig_suite_chosen` unless ``emit`` is
        False: restoring a state that already is the suite's)."""
        self.combo.setCurrentIndex(max(0, self.combo.findData(name)))
        if emit:
            self._chosen()
        else:
            self._describe()

    def show_custom(self) -> None:
        """The ticked attacks or their settings no longer are the suite's: show Custom (emits nothing)."""
        if self.suite() != CUSTOM:
            self.combo.setCurrentIndex(0)
            self._describe()

    def _describe(self) -> None:
        name = self.suite()
        suite = SUITES.get(name)
        text = suite.description if suite is not None else CUSTOM_NOTE
        self.note.setText((suite.short or suite.description) if suite is not None else CUSTOM_NOTE)  # one line
        self.note.setToolTip(text)                                                                  # in full
        self.combo.setToolTip(text)

    def _chosen(self) -> None:
        self._describe()
        self.sig_suite_chosen.emit(self.suite())
