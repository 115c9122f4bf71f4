"""A budget (eps, step size) edited in [0, 1] image units and in the study's native units, strictly.

``native_per_unit`` = native units per [0, 1] unit (the model card's window
width, or the image's range for per-image mappings):
``eps_native = eps * native_per_unit``. Either field accepts what the CLI
accepts: ``2/255``, ``0.008``, ``6HU`` (native units with their suffix); the
native field also takes a bare number in its units. Each keystroke is
checked: an entry that is not a valid budget marks the field, keeps the last
valid value out of any request (:attr:`error` is set and ``sig_validity_changed``
fires, so the panel disables Run with the reason) and is never replaced
silently.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QSizePolicy, QWidget

from medadv_desktop.engine.attacks.spec import parse_budget
from medadv_desktop.engine.reports.formatting import budget_text
from medadv_desktop.errors import AttackConfigError, MedAdvError

UNIT_TIP = "In [0, 1] image units: e.g. 2/255 or 0.008 (or 6HU, in the study's units)"
NATIVE_TIP = "In the study's native units (e.g. 6 or 6HU); needs a model"


class BudgetField(QWidget):
    """A budget edited in [0, 1] units and in native units, kept in sync; invalid text is never used."""

    sig_changed = Signal(float)
    sig_validity_changed = Signal(bool)      # valid or not, or a new reason why not

    def __init__(self, name: str, value: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.value = float(value)
        self.native_per_unit: float | None = None
        self.units = ""
        self.error = ""                       # why the text on screen is not a budget ("" when it is)
        self.failure: MedAdvError | None = None
        self._syncing = False
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(3)
        self.unit_edit = QLineEdit(budget_text(self.value))
        self.unit_edit.setObjectName(f"{name}_unit")
        self.unit_edit.setToolTip(UNIT_TIP)
        self.unit_edit.setMinimumWidth(44)
        self.native_edit = QLineEdit()
        self.native_edit.setObjectName(f"{name}_native")
        self.native_edit.setToolTip(NATIVE_TIP)
        self.native_edit.setMinimumWidth(40)
        self.native_label = QLabel("")
        self.native_label.setObjectName(f"{name}_units")
        self.native_label.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Preferred)
        row.addWidget(self.unit_edit, 1)
        row.addWidget(QLabel("="))
        row.addWidget(self.native_edit, 1)
        row.addWidget(self.native_label)
        self.unit_edit.textChanged.connect(lambda _t: self._parse(self.unit_edit, native=False))
        self.native_edit.textChanged.connect(lambda _t: self._parse(self.native_edit, native=True))
        self.unit_edit.editingFinished.connect(self._tidy)
        self.native_edit.editingFinished.connect(self._tidy)
        self._sync_native()

    # -- state --------------------------------------------------------------------------
    @property
    def valid(self) -> bool:
        return not self.error

    def set_native_scale(self, native_per_unit: float | None, units: str) -> None:
        self.native_per_unit = native_per_unit
        self.units = units or "a.u."
        metrics = self.native_label.fontMetrics()
        self.native_label.setMinimumWidth(metrics.horizontalAdvance(self.units) + 4)
        if self.valid:
            self._sync_native()

    def set_value(self, value: float) -> None:
        self.value = float(value)
        self._syncing = True
        self.unit_edit.setText(budget_text(self.value))
        self._syncing = False
        self._sync_native()
        self._set_error("")
        self.sig_changed.emit(self.value)

    def native_text(self) -> str:
        return f"{self.native_edit.text()} {self.native_label.text()}".strip()

    def both_units_text(self) -> str:
        """``2/255 = 3.14 HU`` (or just ``2/255`` without a native scale)."""
        native = f" = {self.value * self.native_per_unit:.3g} {self.units}" if self.native_per_unit else ""
        return budget_text(self.value) + native

    # -- parsing --------------------------------------------------------------------------
    def _parse(self, edit: QLineEdit, *, native: bool) -> None:
        if self._syncing:
            return
        text = edit.text().strip()
        try:
            if native and not self.native_per_unit:
                raise AttackConfigError("native units need a model whose card maps a fixed window "
                                        "(and a study); give the budget in [0, 1] units", parameter=self.name)
            value = parse_budget(text, self.native_per_unit, self.units if self.units != "a.u." else "",
                                 parameter=self.name, native=native)
        except MedAdvError as exc:
            self.failure = exc
            self._set_error(exc.user_message(), edit)
            other = self.native_edit if edit is self.unit_edit else self.unit_edit
            if other.isEnabled():             # the mirror no longer shows the last valid value as if it held
                self._syncing = True
                other.setText("")
                other.setPlaceholderText("—")
                self._syncing = False
            return
        self.value = value
        self._set_error("")
        other = self.native_edit if edit is self.unit_edit else self.unit_edit
        self._syncing = True
        if other is self.native_edit:
            self._sync_native()
        else:
            self.unit_edit.setText(budget_text(value))
        self._syncing = False
        self.sig_changed.emit(value)

    def _tidy(self) -> None:
        """When the user leaves a valid field, show the value in both units in canonical form."""
        if self.valid:
            self._syncing = True
            self.unit_edit.setText(budget_text(self.value))
            self._syncing = False
            self._sync_native()

    def _sync_native(self) -> None:
        enabled = bool(self.native_per_unit)
        self.native_edit.setEnabled(enabled)
        self.native_label.setText(self.units if enabled else "")
        self._syncing = True
        if enabled:
            self.native_edit.setText(f"{self.value * self.native_per_unit:.3g}")
        else:
            self.native_edit.setText("")
            self.native_edit.setPlaceholderText("native: load a model")
        self._syncing = False

    def _set_error(self, message: str, edit: QLineEdit | None = None) -> None:
        old = self.error
        self.error = message
        if not message:
            self.failure = None
        for field_edit in (self.unit_edit, self.native_edit):
            bad = bool(message) and field_edit is edit
            field_edit.setProperty("invalid", "true" if bad else "false")
            field_edit.style().unpolish(field_edit)
            field_edit.style().polish(field_edit)
            field_edit.setToolTip(message if bad else (UNIT_TIP if field_edit is self.unit_edit else NATIVE_TIP))
        if message != old:
            self.sig_validity_changed.emit(self.valid)
