"""The Corruptions dock: pick an acquisition / archive corruption and its severity, run it on the current
study or a labelled data set, see the prediction change.

Two scopes:

* **current study**: one corruption at one severity (1-5, calibrated in
  physical terms: the line under the choice says what it means for this
  study's modality, e.g. "CT dose reduction, severity 3 (12.5 % dose)");
* **labelled data set folder**: the corruptions whose physics fits the data
  set (the CLI's ``--corruptions default``, decided by the engine on the data)
  or the checked ones, x the severities (``1-5``, ``1,3,5``): the corruption
  evaluation with its progress bar and Cancel; the table and the severity
  curve open in Results.

The list comes from the engine's corruption registry (:meth:`set_corruptions`
with plain tuples); the corruptions whose physics fits the current study's
modality are marked and checked by default (:meth:`set_modality`). The panel
holds no engine state: Run emits :attr:`sig_run_requested` with a
:class:`CorruptionRequest`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
    QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

from medadv_desktop.ui.widgets.common import dim_label, job_progress_bar, path_row
from medadv_desktop.ui.widgets.prediction_bars import PredictionBars

SCOPE_STUDY, SCOPE_DATASET = "study", "dataset"
SCOPES = ((SCOPE_STUDY, "Current study (all slices)"), (SCOPE_DATASET, "Labelled data set folder"))


@dataclass(frozen=True)
class CorruptionChoice:
    """One registry entry as the panel shows it (no engine object)."""

    name: str
    label: str
    description: str
    describe: Callable[[int, str], str]      # (severity, modality) -> "CT dose reduction, severity 3 (12.5 % dose)"


@dataclass
class CorruptionRequest:
    """What Run asks for: ``corruption``/``severity`` on the study, or ``corruptions``/``severities`` on ``dataset``."""

    scope: str
    corruption: str = ""
    severity: int = 3
    corruptions: list[str] | str = field(default_factory=list)     # names, or "default" (fits the data set)
    severities: str = "1-5"
    dataset: str = ""
    max_samples: int | None = None
    seed: int = 0


class CorruptionPanel(QWidget):
    """Corruption, severity, scope, Run / Cancel, progress, and the prediction change of the current slice."""

    sig_run_requested = Signal(object)       # CorruptionRequest
    sig_cancel_requested = Signal()
    sig_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("corruption_panel")
        self.choices: dict[str, CorruptionChoice] = {}
        self.fitting: list[str] = []             # names whose physics fits the current modality
        self.modality = ""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.scope = QComboBox()
        self.scope.setObjectName("corruption_scope")
        for key, text in SCOPES:
            self.scope.addItem(text, key)
        form.addRow("Scope", self.scope)
        self.corruption_combo = QComboBox()
        self.corruption_combo.setObjectName("corruption_combo")
        self.corruption_label = QLabel("Corruption")
        form.addRow(self.corruption_label, self.corruption_combo)
        self.severity_spin = QSpinBox()
        self.severity_spin.setObjectName("corruption_severity")
        self.severity_spin.setRange(1, 5)
        self.severity_spin.setValue(3)
        self.severity_spin.setToolTip("1 (mild) to 5 (severe), calibrated in physical terms (README table)")
        self.severity_label = QLabel("Severity")
        form.addRow(self.severity_label, self.severity_spin)
        self.defaults_check = QCheckBox("Those that fit the data set")
        self.defaults_check.setObjectName("corruption_defaults")
        self.defaults_check.setChecked(True)
        self.defaults_check.setToolTip("The engine chooses, per data set, the corruptions whose physics fits its "
                                       "modality and images (one slice or volumes), as the CLI's --corruptions default; "
                                       "untick to choose by name")
        self.defaults_label = QLabel("Corruptions")
        form.addRow(self.defaults_label, self.defaults_check)
        self.corruption_list = QListWidget()
        self.corruption_list.setObjectName("corruption_list")
        self.corruption_list.setMinimumHeight(120)
        self.list_label = QLabel("")
        form.addRow(self.list_label, self.corruption_list)
        self.severities_edit = QLineEdit("1-5")
        self.severities_edit.setObjectName("corruption_severities")
        self.severities_edit.setToolTip("Severities to run: 1-5, 1,3,5 or 2 (severity 0, the clean image, always runs)")
        self.severities_label = QLabel("Severities")
        form.addRow(self.severities_label, self.severities_edit)
        self.dataset_edit = QLineEdit()
        self.dataset_edit.setObjectName("corruption_dataset")
        self.dataset_edit.setPlaceholderText("folder with one sub-folder per class")
        self.dataset_row = path_row(self.dataset_edit, self._browse, "Choose the labelled data set folder")
        self.dataset_label = QLabel("Data set")
        form.addRow(self.dataset_label, self.dataset_row)
        self.max_spin = QSpinBox()
        self.max_spin.setObjectName("corruption_max_samples")
        self.max_spin.setRange(0, 1_000_000)
        self.max_spin.setSpecialValueText("all")
        self.max_spin.setToolTip("At most this many samples (a stratified, seeded subset); 'all' for every sample")
        self.max_label = QLabel("Samples")
        form.addRow(self.max_label, self.max_spin)
        layout.addLayout(form)
        self.description = dim_label("", object_name="corruption_description")
        layout.addWidget(self.description)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run corruption")
        self.run_button.setObjectName("corruption_run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("corruption_cancel")
        self.cancel_button.setEnabled(False)
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        self.progress = job_progress_bar("corruption_progress")
        layout.addWidget(self.progress)
        self.reason = dim_label("", object_name="corruption_reason")
        layout.addWidget(self.reason)
        self.error = dim_label("", object_name="error")
        self.error.hide()
        layout.addWidget(self.error)
        self.change = QLabel("")
        self.change.setObjectName("corruption_change")
        self.change.setWordWrap(True)
        self.change.setTextFormat(Qt.PlainText)
        layout.addWidget(self.change)
        self.bars = PredictionBars()
        self.bars.header_after.setText("corrupted")
        self.bars.hide()
        layout.addWidget(self.bars)
        layout.addStretch(1)
        self.scope.currentIndexChanged.connect(lambda _i: self._on_scope())
        self.corruption_combo.currentIndexChanged.connect(lambda _i: self._on_changed())
        self.severity_spin.valueChanged.connect(lambda _v: self._on_changed())
        self.corruption_list.itemChanged.connect(lambda _item: self.sig_changed.emit())
        self.defaults_check.toggled.connect(lambda _on: self._on_scope())
        self.severities_edit.textChanged.connect(lambda _t: self.sig_changed.emit())
        self.dataset_edit.textChanged.connect(lambda _t: self.sig_changed.emit())
        self.run_button.clicked.connect(lambda _c=False: self.request_run())
        self.cancel_button.clicked.connect(lambda _c=False: self.sig_cancel_requested.emit())
        self._on_scope()

    # -- content -------------------------------------------------------------------
    def set_corruptions(self, choices: Sequence[CorruptionChoice]) -> None:
        current = self.corruption_combo.currentData()
        self.choices = {c.name: c for c in choices}
        self.corruption_combo.blockSignals(True)
        self.corruption_combo.clear()
        for c in choices:
            self.corruption_combo.addItem(c.label, c.name)
            self.corruption_combo.setItemData(self.corruption_combo.count() - 1, c.description, Qt.ToolTipRole)
        self.corruption_combo.blockSignals(False)
        self.corruption_list.blockSignals(True)
        self.corruption_list.clear()
        for c in choices:
            item = QListWidgetItem(c.label)
            item.setData(Qt.UserRole, c.name)
            item.setToolTip(c.description)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Unchecked)
            self.corruption_list.addItem(item)
        self.corruption_list.blockSignals(False)
        self.set_modality(self.modality, self.fitting, keep=current)

    def set_modality(self, modality: str, fitting: Sequence[str], *, keep: str | None = None) -> None:
        """Mark the corruptions whose physics fits ``modality``: listed first in the combo's tooltip, checked in
        the data-set list, and the combo set to the first of them (unless ``keep`` still fits)."""
        self.modality, self.fitting = modality, list(fitting)
        keep = keep if keep in self.fitting else None
        target = keep or (self.fitting[0] if self.fitting else None)
        if target is not None:
            i = self.corruption_combo.findData(target)
            if i >= 0:
                self.corruption_combo.setCurrentIndex(i)
        self.corruption_list.blockSignals(True)
        for row in range(self.corruption_list.count()):
            item = self.corruption_list.item(row)
            name = item.data(Qt.UserRole)
            fits = name in self.fitting
            item.setCheckState(Qt.Checked if fits else Qt.Unchecked)
            item.setText(self.choices[name].label + ("" if fits or not self.fitting else "  (other modality)"))
        self.corruption_list.blockSignals(False)
        self._on_changed()

    def scope_key(self) -> str:
        return str(self.scope.currentData())

    def checked(self) -> list[str]:
        return [self.corruption_list.item(r).data(Qt.UserRole) for r in range(self.corruption_list.count())
                if self.corruption_list.item(r).checkState() == Qt.Checked]

    def request(self) -> CorruptionRequest:
        return CorruptionRequest(scope=self.scope_key(), corruption=str(self.corruption_combo.currentData() or ""),
                                 severity=self.severity_spin.value(),
                                 corruptions="default" if self.defaults_check.isChecked() else self.checked(),
                                 severities=self.severities_edit.text().strip(),
                                 dataset=self.dataset_edit.text().strip(),
                                 max_samples=self.max_spin.value() or None)

    def problems(self) -> list[str]:
        """What keeps Run from running, as the form sees it."""
        if not self.choices:
            return ["Starting the engine…"]
        if self.scope_key() == SCOPE_STUDY:
            return [] if self.corruption_combo.currentData() else ["Choose a corruption."]
        out = []
        if not self.defaults_check.isChecked() and not self.checked():
            out.append("Check at least one corruption.")
        if not self.severities_edit.text().strip():
            out.append("Give the severities, e.g. 1-5.")
        if not self.dataset_edit.text().strip():
            out.append("Choose the labelled data set folder.")
        return out

    def request_run(self) -> None:
        self.sig_run_requested.emit(self.request())

    # -- state shown -----------------------------------------------------------------
    def set_run_state(self, can_run: bool, reason: str) -> None:
        self.run_button.setEnabled(can_run)
        self.reason.setText(reason)
        self.reason.setVisible(bool(reason))

    def set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)

    def set_progress(self, fraction: float | None, text: str = "") -> None:
        self.progress.setValue(0 if fraction is None else int(round(1000 * max(0.0, min(1.0, fraction)))))
        self.progress.setFormat(text)

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))

    def show_change(self, text: str, class_names: Sequence[str] = (), before: Sequence[float] | None = None,
                    after: Sequence[float] | None = None) -> None:
        """The prediction change of the current slice (``before``: clean, ``after``: corrupted)."""
        self.change.setText(text)
        self.bars.set_classes(class_names)
        if before is None:
            self.bars.clear()
            self.bars.hide()                     # no empty bars under a data-set run or before any run
        else:
            self.bars.set_values(before, after)

    # -- internals -------------------------------------------------------------------
    def _on_scope(self) -> None:
        study = self.scope_key() == SCOPE_STUDY
        for widget in (self.corruption_label, self.corruption_combo, self.severity_label, self.severity_spin):
            widget.setVisible(study)
        for widget in (self.defaults_label, self.defaults_check, self.severities_label, self.severities_edit,
                       self.dataset_label, self.dataset_row, self.max_label, self.max_spin):
            widget.setVisible(not study)
        for widget in (self.list_label, self.corruption_list):
            widget.setVisible(not study and not self.defaults_check.isChecked())
        self.run_button.setText("Run corruption" if study else "Evaluate corruptions")
        self._on_changed()

    def _on_changed(self) -> None:
        name = self.corruption_combo.currentData()
        choice = self.choices.get(str(name)) if name else None
        if choice is None or self.scope_key() != SCOPE_STUDY:
            text = ("Severity 0 (the clean image) always runs; the table and the severity curve open in Results."
                    if self.scope_key() == SCOPE_DATASET else "")
        else:
            text = choice.describe(self.severity_spin.value(), self.modality)
            if self.fitting and name not in self.fitting:
                text += f" — not a default for {self.modality or 'this modality'}"
        self.description.setText(text)
        self.sig_changed.emit()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Labelled data set folder", self.dataset_edit.text())
        if folder:
            self.dataset_edit.setText(folder)
