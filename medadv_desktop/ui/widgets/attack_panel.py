"""The Attack dock: scope, data set options, the attack list and its generated form, Run and Cancel.

Top to bottom: the scope (current slice, whole volume, all loaded studies, a
labelled data set folder) with the data-set rows right under it (shown only
for that scope), so both stay above the fold at 1280x800; then the attack
list, its description and its form. The footer holds the error line, the
reason Run is disabled (also its tooltip) and the buttons.

The panel validates what it holds (every budget field and the eps grid,
live) and reports problems through :meth:`problems`; the controller decides
whether Run is possible and tells the panel with :meth:`set_run_state`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget,
    QListWidgetItem, QPushButton, QSizePolicy, QSpinBox, QStackedWidget, QVBoxLayout, QWidget,
)

from medadv_desktop.engine.attacks.spec import DEFAULT_SUITE, SUITES, parse_budget_list
from medadv_desktop.errors import AttackConfigError, DatasetError, MedAdvError
from medadv_desktop.ui.attack_info import SCOPE_DATASET, SCOPES, AttackInfo, AttackRequest
from medadv_desktop.ui.widgets.attack_form import AttackForm
from medadv_desktop.ui.widgets.common import dim_label, path_row, vertical_scroll_area
from medadv_desktop.ui.widgets.plan_picker import PlanPicker
from medadv_desktop.ui.widgets.suite_picker import SuitePicker

#: parameters a suite leaves as the user set them (the budget and threat model are the evaluation's own)
SUITE_KEEPS = ("eps", "norm", "seed")

DEFAULT_EPS_GRID = "1/255, 2/255, 4/255"
EVAL_NOTE = ("Evaluation runs every ticked attack in the list, in order, as a cascade: a later attack only on "
             "the samples still robust (its rows are cumulative, marked *).")
PER_ATTACK_TIP = (
    "Off (default): the attack cascade. The worst case is exact and cheapest to get; the rows of later "
    "attacks are cumulative (robust accuracy after this attack and the ones above it).\n"
    "On: every attack runs on every sample, so each attack's row is its own robust accuracy. "
    "Same worst case, slower (per-attack rows).")


class AttackPanel(QWidget):
    """Scope, data set options, attack list, generated form, Run and Cancel."""

    sig_run_requested = Signal(object)      # AttackRequest
    sig_cancel_requested = Signal()
    sig_changed = Signal()                  # anything that may change whether Run is possible

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
        footer.setSpacing(3)
        outer.addLayout(footer)

        scope_form = QFormLayout()
        scope_form.setLabelAlignment(Qt.AlignRight)
        scope_form.setContentsMargins(0, 0, 0, 0)
        self.scope = QComboBox()
        self.scope.setObjectName("scope_combo")
        self.scope.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.scope.setMinimumContentsLength(10)
        for key, text in SCOPES:
            self.scope.addItem(text, key)
        scope_form.addRow("Scope:", self.scope)
        layout.addLayout(scope_form)
        layout.addWidget(self._build_dataset_rows())
        self.attack_list = QListWidget()
        self.attack_list.setObjectName("attack_list")
        self.attack_list.currentRowChanged.connect(self._on_attack_changed)
        self.attack_list.itemChanged.connect(lambda _item: self._edited())
        layout.addWidget(self.attack_list)
        self.description = dim_label("Starting the attack engine…")
        layout.addWidget(self.description)
        self.forms = QStackedWidget()
        layout.addWidget(self.forms)
        layout.addStretch(1)

        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.hide()
        footer.addWidget(self.error)
        self.reason = dim_label("", object_name="run_reason")
        footer.addWidget(self.reason)
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
        self._applying = False
        self._native: tuple[float | None, str] = (None, "")
        self._class_names: list[str] = []
        self.scope.currentIndexChanged.connect(self._on_scope)
        self._on_scope()

    def _build_dataset_rows(self) -> QWidget:
        box = QWidget()
        box.setObjectName("dataset_rows")
        form = QFormLayout(box)
        form.setLabelAlignment(Qt.AlignRight)
        form.setContentsMargins(0, 0, 0, 0)
        self.dataset_edit = QLineEdit()
        self.dataset_edit.setObjectName("dataset_edit")
        self.dataset_edit.setPlaceholderText("folder with one sub-folder per class")
        self.dataset_edit.textChanged.connect(lambda _t: self.sig_changed.emit())
        self.dataset_row = path_row(self.dataset_edit, self._browse, "Choose the labelled data set folder")
        form.addRow("Data set:", self.dataset_row)
        self.eps_grid = QLineEdit(DEFAULT_EPS_GRID)
        self.eps_grid.setObjectName("eps_grid")
        self.eps_grid.setToolTip("Comma-separated budgets: 2/255, 0.01 or 6HU")
        self.eps_grid.textChanged.connect(self._check_grid)
        form.addRow("eps grid:", self.eps_grid)
        self.max_samples = QSpinBox()
        self.max_samples.setObjectName("max_samples")
        self.max_samples.setRange(0, 10**7)
        self.max_samples.setSpecialValueText("all")
        self.max_samples.setToolTip("Evaluate a seeded, class-balanced subset of at most this many samples "
                                    "(all: every sample); the CLI's --max-samples")
        form.addRow("Max samples:", self.max_samples)
        self.per_attack = QCheckBox("Each attack on every sample")     # short: a longer text widened the dock
        self.per_attack.setObjectName("per_attack")
        self.per_attack.setToolTip(PER_ATTACK_TIP)
        self.per_attack.setSizePolicy(QSizePolicy.Maximum, QSizePolicy.Fixed)   # as wide as its text: all of it clicks
        form.addRow(self.per_attack)
        self.suite_picker = SuitePicker()
        self.suite_picker.sig_suite_chosen.connect(self.apply_suite)
        form.addRow("Suite:", self.suite_picker)
        self.eval_note = dim_label(EVAL_NOTE)
        form.addRow(self.eval_note)
        self.plan_picker = PlanPicker()                     # issue 15: acceptance criteria (plan_picker.py)
        self.plan_picker.sig_changed.connect(self.sig_changed)
        form.addRow("Test plan:", self.plan_picker)
        self.dataset_box = box
        self.grid_error = ""
        return box

    # -- attacks ------------------------------------------------------------
    def set_attacks(self, infos: Sequence[AttackInfo]) -> None:
        self.infos = list(infos)
        self.attack_list.blockSignals(True)
        self.attack_list.clear()
        while self.forms.count():
            w = self.forms.widget(0)
            self.forms.removeWidget(w)
            w.deleteLater()
        self.form_by_name = {}
        for info in self.infos:
            item = QListWidgetItem(info.label + ("  ·  black-box" if info.black_box else ""))
            item.setData(Qt.UserRole, info.name)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Unchecked)
            item.setToolTip(info.description)
            self.attack_list.addItem(item)
            form = AttackForm(info)
            form.set_native_scale(*self._native)
            form.set_class_names(self._class_names)
            form.sig_validity_changed.connect(self.sig_changed)
            form.sig_edited.connect(self._edited)
            self.form_by_name[info.name] = form
            self.forms.addWidget(form)
        self.attack_list.blockSignals(False)
        rows = max(1, len(self.infos))
        self.attack_list.setFixedHeight(min(6, rows) * (self.attack_list.sizeHintForRow(0) or 18) + 6)
        if self.infos:
            self.attack_list.setCurrentRow(0)
            # the data-set default is the engine's default suite (AutoAttack-grade), as in the CLI; the current
            # row (the single-study attack) stays the list's first
            if all(n in self.form_by_name for n in SUITES[DEFAULT_SUITE].names):
                self.apply_suite(DEFAULT_SUITE, select=False)
                self.suite_picker.set_suite(DEFAULT_SUITE, emit=False)
            else:
                self.attack_list.item(0).setCheckState(Qt.Checked)
        self.sig_changed.emit()

    def select_attack(self, name: str) -> AttackForm:
        for row in range(self.attack_list.count()):
            if self.attack_list.item(row).data(Qt.UserRole) == name.lower():
                self.attack_list.setCurrentRow(row)
                return self.form_by_name[name.lower()]
        raise AttackConfigError(f"no attack named '{name}'; available: {', '.join(self.form_by_name)}",
                                parameter="attack")

    def current_attack(self) -> str | None:
        item = self.attack_list.currentItem()
        return item.data(Qt.UserRole) if item is not None else None

    def current_form(self) -> AttackForm | None:
        name = self.current_attack()
        return self.form_by_name.get(name) if name else None

    def ticked_attacks(self) -> list[str]:
        return [self.attack_list.item(r).data(Qt.UserRole) for r in range(self.attack_list.count())
                if self.attack_list.item(r).checkState() == Qt.Checked]

    def set_ticked_attacks(self, names: Sequence[str]) -> None:
        for r in range(self.attack_list.count()):
            item = self.attack_list.item(r)
            item.setCheckState(Qt.Checked if item.data(Qt.UserRole) in names else Qt.Unchecked)

    # -- suites -------------------------------------------------------------
    def suite_specs(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        """``[(attack, the suite's settings)]`` of the suite ``name`` in run order ("full": then every other
        attack of the list, in list order, at its defaults), as ``attacks.suite_attacks`` without torch."""
        suite = SUITES[name]
        specs = suite.specs()
        if suite.with_registered:
            specs += [(i.name, {}) for i in self.infos if i.name not in suite.names]
        return [(n, p) for n, p in specs if n in self.form_by_name]

    def apply_suite(self, name: str, *, select: bool = True) -> None:
        """Tick exactly the suite's attacks and put its settings into their forms (other parameters at their
        defaults; eps, norm and seed as they are); ``select``: show the suite's first attack's form. ""
        (Custom) changes nothing."""
        if name not in SUITES or not self.form_by_name:
            return
        self._applying = True
        try:
            specs = self.suite_specs(name)
            for attack, params in specs:
                form = self.form_by_name[attack]
                form.reset(keep=SUITE_KEEPS)
                for key, value in params.items():
                    form.set_value(key, value)
            self.set_ticked_attacks([n for n, _ in specs])
            if select:
                self.select_attack(specs[0][0])
        finally:
            self._applying = False
        self.sig_changed.emit()

    def suite_in_force(self) -> str:
        """The chosen suite if the ticked attacks and their settings still are exactly its own, else ""."""
        name = self.suite_picker.suite()
        if name not in SUITES:
            return ""
        specs = self.suite_specs(name)
        if set(self.ticked_attacks()) != {n for n, _ in specs}:
            return ""
        for attack, params in specs:
            form = self.form_by_name[attack]
            want = {k: v for k, v in {**{s.name: s.default for s in form.info.schema}, **params}.items()
                    if k not in SUITE_KEEPS}
            try:
                have = form.values()
            except MedAdvError:
                return ""
            if any(have.get(k) != form.specs[k].validate(v) for k, v in want.items()):
                return ""
        return name

    def _edited(self) -> None:
        """A tick or a form value changed: a suite no longer matched is shown as Custom."""
        if not self._applying and self.suite_picker.suite() and not self.suite_in_force():
            self.suite_picker.show_custom()
        self.sig_changed.emit()

    def _on_attack_changed(self, row: int) -> None:
        if 0 <= row < len(self.infos):
            info = self.infos[row]
            self.forms.setCurrentIndex(row)
            kind = "Black-box (queries only)" if info.black_box else "White-box (gradients)"
            self.description.setText(f"{info.description}\n{kind}; norms: {', '.join(info.norms)}.".strip())
        self.sig_changed.emit()

    def set_native_scale(self, native_per_unit: float | None, units: str) -> None:
        self._native = (native_per_unit, units)
        for form in self.form_by_name.values():
            form.set_native_scale(native_per_unit, units)
        self._check_grid()

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
        self.dataset_box.setVisible(dataset)
        for w in (self.dataset_row, self.eps_grid, self.eval_note, self.per_attack, self.max_samples, self.plan_picker):
            w.setEnabled(dataset)
        self.run_button.setText("Run evaluation" if dataset else "Run attack")
        self.sig_changed.emit()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Labelled data set folder", self.dataset_edit.text())
        if folder:
            self.dataset_edit.setText(folder)

    def _check_grid(self, *_args) -> None:
        npu, units = self._native
        try:
            parse_budget_list(self.eps_grid.text(), npu, units if units != "a.u." else "")
            self.grid_error = ""
        except MedAdvError as exc:
            self.grid_error = exc.user_message()
        self.eps_grid.setProperty("invalid", "true" if self.grid_error else "false")
        self.eps_grid.style().unpolish(self.eps_grid)
        self.eps_grid.style().polish(self.eps_grid)
        self.eps_grid.setToolTip(self.grid_error or "Comma-separated budgets: 2/255, 0.01 or 6HU")
        self.sig_changed.emit()

    # -- run ----------------------------------------------------------------
    def problems(self) -> list[str]:
        """What stops the current settings from running, in words ([] when nothing does)."""
        form = self.current_form()
        out = list(form.errors()) if form is not None else []
        if self.scope_key() == SCOPE_DATASET:
            if not self.dataset_edit.text().strip():
                out.append("Choose a labelled data set folder (one sub-folder per class).")
            if self.grid_error:
                out.append(self.grid_error)
            if self.plan_picker.problem():
                out.append(self.plan_picker.problem())
            for name in self.ticked_attacks():
                other = self.form_by_name.get(name)
                if other is not None and other is not form:
                    out.extend(f"{other.info.label}: {e}" for e in other.errors())
        return out

    def set_run_state(self, enabled: bool, reason: str) -> None:
        """Enable Run, or disable it and say why (under the button and as its tooltip)."""
        self.run_button.setEnabled(enabled)
        self.reason.setText("" if enabled else reason)
        self.reason.setVisible(bool(reason) and not enabled)
        form = self.current_form()
        budgets = "; ".join(f"{k} {v}" for k, v in form.budget_texts().items()) if form is not None else ""
        self.run_button.setToolTip(reason if not enabled else (f"Run with {budgets}" if budgets else "Run"))

    def set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def build_request(self) -> AttackRequest:
        """The request for the current settings (raises a MedAdvError naming what is wrong)."""
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
            npu, units = self._native
            request.eps_grid = parse_budget_list(self.eps_grid.text(), npu, units if units != "a.u." else "")
            request.suite = self.suite_in_force()
            names = [n for n, _ in self.suite_specs(request.suite)] if request.suite else self.ticked_attacks()
            if not request.suite and request.attack not in names:
                names.insert(0, request.attack)
            request.attacks = [(n, {k: v for k, v in self.form_by_name[n].values().items() if k != "eps"})
                               for n in names]
            request.full_rows = self.per_attack.isChecked()
            request.max_samples = self.max_samples.value() or None
            request.plan = self.plan_picker.plan
        return request

    def request_run(self) -> None:
        try:
            request = self.build_request()
        except MedAdvError as exc:
            self.show_error(exc.user_message())
            return
        self.show_error("")
        self.sig_run_requested.emit(request)

    # -- settings -----------------------------------------------------------
    def settings_state(self) -> dict[str, Any]:
        """What File ▸ Quit remembers: the chosen attack, the ticked ones, every form's values as text."""
        forms = {}
        for name, form in self.form_by_name.items():
            forms[name] = form.text_values()
        return {"attack": self.current_attack(), "ticked": self.ticked_attacks(), "scope": self.scope_key(),
                "eps_grid": self.eps_grid.text(), "max_samples": self.max_samples.value(),
                "per_attack": self.per_attack.isChecked(), "plan": self.plan_picker.path(), "forms": forms,
                "suite": self.suite_in_force()}

    def restore_state(self, state: dict[str, Any]) -> None:
        """Apply :meth:`settings_state` output; unknown attacks and values that no longer validate are skipped."""
        for name, values in (state.get("forms") or {}).items():
            form = self.form_by_name.get(name)
            if form is not None and isinstance(values, dict):
                form.restore_text_values(values)
        if isinstance(state.get("ticked"), list) and state["ticked"]:
            self.set_ticked_attacks([str(n) for n in state["ticked"]])
        if isinstance(state.get("eps_grid"), str) and state["eps_grid"].strip():
            self.eps_grid.setText(state["eps_grid"])
        if isinstance(state.get("max_samples"), int):
            self.max_samples.setValue(state["max_samples"])
        if isinstance(state.get("per_attack"), bool):
            self.per_attack.setChecked(state["per_attack"])
        if isinstance(state.get("plan"), str) and (not state["plan"] or os.path.isfile(state["plan"])):
            self.plan_picker.set_path(state["plan"])         # a plan moved away since is not restored
        if isinstance(state.get("scope"), str) and self.scope.findData(state["scope"]) >= 0:
            self.set_scope(state["scope"])
        if isinstance(state.get("attack"), str) and state["attack"] in self.form_by_name:
            self.select_attack(state["attack"])
        if isinstance(state.get("suite"), str) and state["suite"] in SUITES:
            self.suite_picker.set_suite(state["suite"], emit=False)
        if not self.suite_in_force():                     # e.g. a remembered Custom choice over the default suite
            self.suite_picker.show_custom()
