"""Attack configuration: the attack list, a form per attack built from its schema, scope, Run/Cancel.

The forms are generated from the engine's ``Attack.schema()`` (a tuple of
``ParamSpec``: name, kind, default, minimum, maximum, unit, help, choices), so
a new attack appears here with no UI code. Budgets (kind ``budget``, or a float
in ``[0,1]`` units such as a step size) are edited in [0, 1] image units *and*
in the study's native units (e.g. HU), kept in sync through
``native_per_unit`` = native units per [0, 1] unit (the model card's window
width, or the image's range for per-image mappings):
``eps_native = eps * native_per_unit``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
    QListWidget, QListWidgetItem, QPushButton, QSizePolicy, QSpinBox, QStackedWidget, QVBoxLayout, QWidget,
)

from medadv_desktop.engine.attacks.spec import parse_budget, parse_budget_list
from medadv_desktop.engine.reports.formatting import budget_text
from medadv_desktop.errors import MedAdvError
from medadv_desktop.ui.docks import vertical_scroll_area

SCOPE_SLICE, SCOPE_VOLUME, SCOPE_ALL, SCOPE_DATASET = "slice", "volume", "all_studies", "dataset"
SCOPES = ((SCOPE_SLICE, "Current slice"), (SCOPE_VOLUME, "Whole volume"),
          (SCOPE_ALL, "All loaded studies"), (SCOPE_DATASET, "Labelled data set folder (eps grid)"))


@dataclass(frozen=True)
class AttackInfo:
    """What the UI needs about one attack; gathered on the worker (the attack modules import torch)."""

    name: str
    label: str
    description: str
    black_box: bool
    norms: tuple[str, ...]
    schema: tuple[Any, ...]          # engine ParamSpec objects
    default_suites: tuple[str, ...] = ()   # the default attack lists it is in ("evaluate", "quick")


@dataclass
class AttackRequest:
    """What the user asked to run."""

    attack: str
    params: dict[str, Any]
    scope: str
    dataset: str = ""
    eps_grid: list[float] = field(default_factory=list)
    attacks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)   # dataset scope
    # dataset scope: False = the attack cascade (later attacks only on samples still robust; their rows are
    # cumulative); True = every attack on every sample, each row the attack's own (evaluate_job's full_rows)
    full_rows: bool = False


def gather_attack_infos() -> list[AttackInfo]:
    """Read the registry (imports the attack modules, hence torch): call on the worker."""
    from medadv_desktop.engine.attacks.base import available, get_attack

    infos = []
    for name in available():
        cls = get_attack(name)
        infos.append(AttackInfo(name, cls.label or name, cls.description or "", cls.is_black_box(),
                                tuple(cls.norms), tuple(cls.schema()), tuple(cls.default_suites)))
    return infos


#: a [0, 1] budget as the fields show it (``2/255``, ``0.01``): the formatting module's, shared with the CLI
format_budget = budget_text


class BudgetField(QWidget):
    """A budget edited in [0, 1] units and in native units, kept in sync."""

    sig_changed = Signal(float)

    def __init__(self, name: str, value: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.value = float(value)
        self.native_per_unit: float | None = None
        self.units = ""
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.unit_edit = QLineEdit(format_budget(self.value))
        self.unit_edit.setObjectName(f"{name}_unit")
        self.unit_edit.setToolTip("In [0, 1] image units: e.g. 2/255 or 0.008")
        self.unit_edit.setMinimumWidth(44)
        self.native_edit = QLineEdit()
        self.native_edit.setObjectName(f"{name}_native")
        self.native_edit.setToolTip("In the study's native units (e.g. HU); needs a model and a study")
        self.native_edit.setMinimumWidth(44)
        self.native_label = QLabel("")
        self.native_label.setMinimumWidth(22)
        row.addWidget(self.unit_edit, 1)
        row.addWidget(QLabel("="))
        row.addWidget(self.native_edit, 1)
        row.addWidget(self.native_label)
        self.unit_edit.editingFinished.connect(self._from_unit)
        self.native_edit.editingFinished.connect(self._from_native)
        self._sync_native()

    def set_native_scale(self, native_per_unit: float | None, units: str) -> None:
        self.native_per_unit = native_per_unit
        self.units = units or "a.u."
        self._sync_native()

    def set_value(self, value: float) -> None:
        self.value = float(value)
        self.unit_edit.setText(format_budget(self.value))
        self._mark(self.unit_edit, True)
        self._sync_native()
        self.sig_changed.emit(self.value)

    def native_text(self) -> str:
        return f"{self.native_edit.text()} {self.native_label.text()}".strip()

    def _sync_native(self) -> None:
        enabled = bool(self.native_per_unit)
        self.native_edit.setEnabled(enabled)
        self.native_label.setText(self.units if enabled else "")
        if enabled:
            self.native_edit.setText(f"{self.value * self.native_per_unit:.3g}")
        else:
            self.native_edit.setText("")
            self.native_edit.setPlaceholderText("native: load model + study")
        self._mark(self.native_edit, True)

    def _from_unit(self) -> None:
        try:
            value = parse_budget(self.unit_edit.text(), parameter=self.name)
        except MedAdvError as exc:
            self._mark(self.unit_edit, False, exc.user_message())
            return
        self._mark(self.unit_edit, True)
        if value != self.value:
            self.value = value
            self._sync_native()
            self.sig_changed.emit(value)

    def _from_native(self) -> None:
        if not self.native_per_unit:
            return
        text = self.native_edit.text().strip()
        for suffix in (self.units, "HU", "hu"):
            if suffix and text.endswith(suffix):
                text = text[: -len(suffix)].strip()
        try:
            value = parse_budget(text, self.native_per_unit, native=True, parameter=self.name)
        except MedAdvError as exc:
            self._mark(self.native_edit, False, f"Not a valid budget: {exc}")
            return
        self._mark(self.native_edit, True)
        self.value = value
        self.unit_edit.setText(format_budget(value))
        self.sig_changed.emit(value)

    @staticmethod
    def _mark(edit: QLineEdit, ok: bool, message: str = "") -> None:
        edit.setProperty("invalid", "false" if ok else "true")
        edit.style().unpolish(edit)
        edit.style().polish(edit)
        if not ok:
            edit.setToolTip(message)


class AttackForm(QWidget):
    """A form generated from one attack's schema."""

    def __init__(self, info: AttackInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = info
        self.widgets: dict[str, QWidget] = {}
        self.specs = {spec.name: spec for spec in info.schema}
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setLabelAlignment(Qt.AlignRight)
        form.setVerticalSpacing(4)
        for spec in info.schema:
            widget = self._widget_for(spec)
            if isinstance(widget, QComboBox):      # never let a long choice widen the dock
                widget.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
                widget.setMinimumContentsLength(6)
            if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
                widget.setMinimumWidth(60)
                widget.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
            widget.setToolTip(self._tooltip(spec))
            self.widgets[spec.name] = widget
            label = QLabel(spec.display_name + ":")
            label.setToolTip(self._tooltip(spec))
            form.addRow(label, widget)
        if "targeted" in self.widgets and "target_class" in self.widgets:
            self.widgets["targeted"].currentTextChanged.connect(self._targeted_changed)
            self._targeted_changed(self.widgets["targeted"].currentText())

    @staticmethod
    def _tooltip(spec) -> str:
        parts = [spec.help]
        rng = []
        if spec.minimum is not None:
            rng.append(f"min {spec.minimum:g}")
        if spec.maximum is not None:
            rng.append(f"max {spec.maximum:g}")
        if rng:
            parts.append("Range: " + ", ".join(rng) + (f" {spec.unit}" if spec.unit else ""))
        return "\n".join(p for p in parts if p)

    def _widget_for(self, spec) -> QWidget:
        if spec.kind == "budget" or (spec.kind == "float" and spec.unit == "[0,1]"):
            return BudgetField(spec.name, float(spec.default))
        if spec.kind == "bool":
            box = QCheckBox()
            box.setChecked(bool(spec.default))
            return box
        if spec.kind == "choice":
            combo = QComboBox()
            combo.addItems([c for c in spec.choices if c in self.info.norms] if spec.name == "norm" else list(spec.choices))
            combo.setCurrentText(str(spec.default))
            return combo
        if spec.kind == "int" and spec.name == "target_class":
            combo = QComboBox()
            combo.setEditable(False)
            combo.addItem(f"class {spec.default}", int(spec.default))
            return combo
        if spec.kind == "int":
            box = QSpinBox()
            box.setRange(int(spec.minimum) if spec.minimum is not None else -10**9,
                         int(spec.maximum) if spec.maximum is not None else 10**9)
            box.setValue(int(spec.default))
            if spec.unit:
                box.setSuffix(f" {spec.unit}")
            return box
        box = QDoubleSpinBox()
        box.setDecimals(4)
        box.setRange(float(spec.minimum) if spec.minimum is not None else -1e9,
                     float(spec.maximum) if spec.maximum is not None else 1e9)
        box.setSingleStep(0.1 if (spec.maximum or 10) > 1 else 0.01)
        box.setValue(float(spec.default))
        if spec.unit:
            box.setSuffix(f" {spec.unit}")
        return box

    def _targeted_changed(self, mode: str) -> None:
        self.widgets["target_class"].setEnabled(mode == "class")

    def set_class_names(self, names: Sequence[str]) -> None:
        combo = self.widgets.get("target_class")
        if isinstance(combo, QComboBox) and names:
            current = combo.currentData()
            combo.clear()
            for i, name in enumerate(names):
                combo.addItem(f"{i}: {name}", i)
            combo.setCurrentIndex(current if isinstance(current, int) and current < len(names) else 0)

    def set_native_scale(self, native_per_unit: float | None, units: str) -> None:
        for widget in self.widgets.values():
            if isinstance(widget, BudgetField):
                widget.set_native_scale(native_per_unit, units)

    def set_value(self, name: str, value: Any) -> None:
        widget = self.widgets[name]
        if isinstance(widget, BudgetField):
            widget.set_value(float(value))
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QComboBox) and name == "target_class":
            widget.setCurrentIndex(max(0, widget.findData(int(value))))
        elif isinstance(widget, QComboBox):
            widget.setCurrentText(str(value))
        else:
            widget.setValue(value)

    def values(self) -> dict[str, Any]:
        """Parameter values, validated by each ParamSpec (raises AttackConfigError naming the parameter)."""
        out: dict[str, Any] = {}
        for name, widget in self.widgets.items():
            if isinstance(widget, BudgetField):
                widget._from_unit()
                value: Any = widget.value
            elif isinstance(widget, QCheckBox):
                value = widget.isChecked()
            elif isinstance(widget, QComboBox) and name == "target_class":
                value = int(widget.currentData() or 0)
            elif isinstance(widget, QComboBox):
                value = widget.currentText()
            else:
                value = widget.value()
            out[name] = self.specs[name].validate(value)
        return out


class AttackPanel(QWidget):
    """Attack list, generated form, scope, Run and Cancel."""

    sig_run_requested = Signal(object)      # AttackRequest
    sig_cancel_requested = Signal()
    sig_browse_dataset = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        outer.addWidget(vertical_scroll_area(body), 1)
        footer = QVBoxLayout()
        footer.setContentsMargins(6, 4, 6, 6)
        outer.addLayout(footer)
        self.attack_list = QListWidget()
        self.attack_list.setObjectName("attack_list")
        self.attack_list.setMaximumHeight(118)
        self.attack_list.currentRowChanged.connect(self._on_attack_changed)
        layout.addWidget(self.attack_list)
        self.description = QLabel("Loading the attack engine…")
        self.description.setObjectName("dim")
        self.description.setWordWrap(True)
        layout.addWidget(self.description)
        self.forms = QStackedWidget()
        layout.addWidget(self.forms)
        scope_form = QFormLayout()
        scope_form.setLabelAlignment(Qt.AlignRight)
        self.scope = QComboBox()
        self.scope.setObjectName("scope_combo")
        self.scope.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.scope.setMinimumContentsLength(10)
        for key, text in SCOPES:
            self.scope.addItem(text, key)
        self.scope.currentIndexChanged.connect(self._on_scope)
        scope_form.addRow("Scope:", self.scope)
        data_row = QHBoxLayout()
        self.dataset_edit = QLineEdit()
        self.dataset_edit.setObjectName("dataset_edit")
        self.dataset_edit.setPlaceholderText("folder with one sub-folder per class")
        browse = QPushButton("…")
        browse.setFixedWidth(28)
        browse.clicked.connect(self._browse)
        data_row.addWidget(self.dataset_edit, 1)
        data_row.addWidget(browse)
        self.dataset_row = QWidget()
        self.dataset_row.setLayout(data_row)
        data_row.setContentsMargins(0, 0, 0, 0)
        scope_form.addRow("Data set:", self.dataset_row)
        self.eps_grid = QLineEdit("1/255, 2/255, 4/255")
        self.eps_grid.setObjectName("eps_grid")
        self.eps_grid.setToolTip("Comma-separated budgets in [0, 1] units")
        scope_form.addRow("eps grid:", self.eps_grid)
        self.eval_note = QLabel("Evaluation runs every ticked attack in the list, in order, as a cascade: "
                                "a later attack only on the samples still robust (its rows are cumulative, "
                                "marked *).")
        self.eval_note.setObjectName("dim")
        self.eval_note.setWordWrap(True)
        scope_form.addRow(self.eval_note)
        self.per_attack = QCheckBox("Each attack on every sample (per-attack rows, slower)")
        self.per_attack.setObjectName("per_attack")
        self.per_attack.setChecked(False)
        self.per_attack.setToolTip(
            "Off (default): the attack cascade. The worst case is exact and cheapest to get; the rows of later "
            "attacks are cumulative (robust accuracy after this attack and the ones above it).\n"
            "On: every attack runs on every sample, so each attack's row is its own robust accuracy. "
            "Same worst case, slower.")
        scope_form.addRow(self.per_attack)
        layout.addLayout(scope_form)
        layout.addStretch(1)
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.hide()
        footer.addWidget(self.error)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run attack")
        self.run_button.setObjectName("primary")
        self.run_button.setEnabled(False)
        self.run_button.clicked.connect(self.request_run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("danger")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.sig_cancel_requested)
        buttons.addWidget(self.run_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        footer.addLayout(buttons)
        self.form_by_name: dict[str, AttackForm] = {}
        self.infos: list[AttackInfo] = []
        self._native = (None, "")
        self._class_names: list[str] = []
        self._on_scope()

    # -- attacks ------------------------------------------------------------
    def set_attacks(self, infos: Sequence[AttackInfo]) -> None:
        self.infos = list(infos)
        self.attack_list.clear()
        while self.forms.count():
            w = self.forms.widget(0)
            self.forms.removeWidget(w)
            w.deleteLater()
        self.form_by_name = {}
        for info in self.infos:
            text = info.label + ("  ·  black-box" if info.black_box else "")
            item = QListWidgetItem(text)
            item.setData(Qt.UserRole, info.name)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Unchecked)
            item.setToolTip(info.description)
            self.attack_list.addItem(item)
            form = AttackForm(info)
            form.set_native_scale(*self._native)
            form.set_class_names(self._class_names)
            self.form_by_name[info.name] = form
            self.forms.addWidget(form)
        rows = max(1, len(self.infos))
        self.attack_list.setFixedHeight(min(6, rows) * (self.attack_list.sizeHintForRow(0) or 18) + 6)
        if self.infos:
            self.attack_list.setCurrentRow(0)
            self.attack_list.item(0).setCheckState(Qt.Checked)

    def select_attack(self, name: str) -> AttackForm:
        for row in range(self.attack_list.count()):
            if self.attack_list.item(row).data(Qt.UserRole) == name.lower():
                self.attack_list.setCurrentRow(row)
                return self.form_by_name[name.lower()]
        from medadv_desktop.errors import AttackConfigError
        raise AttackConfigError(f"no attack named '{name}'; available: {', '.join(self.form_by_name)}",
                                parameter="attack")

    def current_attack(self) -> str | None:
        item = self.attack_list.currentItem()
        return item.data(Qt.UserRole) if item is not None else None

    def current_form(self) -> AttackForm | None:
        name = self.current_attack()
        return self.form_by_name.get(name) if name else None

    def _on_attack_changed(self, row: int) -> None:
        if 0 <= row < len(self.infos):
            info = self.infos[row]
            self.forms.setCurrentIndex(row)
            kind = "Black-box (queries only)" if info.black_box else "White-box (gradients)"
            self.description.setText(f"{info.description}\n{kind}; norms: {', '.join(info.norms)}.".strip())

    def set_native_scale(self, native_per_unit: float | None, units: str) -> None:
        self._native = (native_per_unit, units)
        for form in self.form_by_name.values():
            form.set_native_scale(native_per_unit, units)

    def set_class_names(self, names: Sequence[str]) -> None:
        self._class_names = list(names)
        for form in self.form_by_name.values():
            form.set_class_names(names)

    # -- scope --------------------------------------------------------------
    def scope_key(self) -> str:
        return self.scope.currentData()

    def set_scope(self, key: str) -> None:
        self.scope.setCurrentIndex(max(0, self.scope.findData(key)))

    def _on_scope(self, *_args) -> None:
        dataset = self.scope_key() == SCOPE_DATASET
        for w in (self.dataset_row, self.eps_grid, self.eval_note, self.per_attack):
            w.setEnabled(dataset)
        self.run_button.setText("Run evaluation" if dataset else "Run attack")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Labelled data set folder")
        if folder:
            self.dataset_edit.setText(folder)

    # -- run ----------------------------------------------------------------
    def set_running(self, running: bool, can_run: bool) -> None:
        self.cancel_button.setEnabled(running)
        self.run_button.setEnabled(can_run)

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def build_request(self) -> AttackRequest:
        """The request for the current settings (raises AttackConfigError / MedAdvError)."""
        from medadv_desktop.errors import AttackConfigError, DatasetError

        form = self.current_form()
        if form is None:
            raise AttackConfigError("the attack engine is not ready yet", parameter="attack")
        params = form.values()
        request = AttackRequest(form.info.name, params, self.scope_key())
        if request.scope == SCOPE_DATASET:
            folder = self.dataset_edit.text().strip()
            if not folder:
                raise DatasetError("Choose a labelled data set folder (one sub-folder per class) first.")
            request.dataset = folder
            request.eps_grid = parse_budget_list(self.eps_grid.text())
            names = [self.attack_list.item(r).data(Qt.UserRole) for r in range(self.attack_list.count())
                     if self.attack_list.item(r).checkState() == Qt.Checked]
            if request.attack not in names:
                names.insert(0, request.attack)
            request.attacks = [(n, {k: v for k, v in self.form_by_name[n].values().items() if k != "eps"})
                               for n in names]
            request.full_rows = self.per_attack.isChecked()
        return request

    def request_run(self) -> None:
        try:
            request = self.build_request()
        except Exception as exc:  # noqa: BLE001 - shown inline
            message = exc.user_message() if hasattr(exc, "user_message") else str(exc)
            self.show_error(message)
            return
        self.show_error("")
        self.sig_run_requested.emit(request)
