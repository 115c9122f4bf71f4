"""The Adversarial Training dock: options (left), live curves (middle), before/after table (right).

The panel only displays state and emits ``sig_*`` requests; the training
controller runs them. Every budget (eps, grid) is an L-inf distance in [0, 1]
image units (after the model card's intensity mapping); for a windowed card
``eps_native = eps * window width`` (e.g. HU).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
    QListWidget, QListWidgetItem, QPushButton, QSizePolicy, QSpinBox, QSplitter, QVBoxLayout, QWidget,
)

from medadv_desktop.engine.attacks.spec import SUITE_QUICK, SUITES
from medadv_desktop.ui.widgets.before_after_table import BeforeAfterTable
from medadv_desktop.ui.widgets.budget_field import BudgetField
from medadv_desktop.ui.widgets.common import job_progress_bar, path_row, vertical_scroll_area
from medadv_desktop.ui.widgets.suite_picker import SuitePicker
from medadv_desktop.ui.widgets.training_curves import TrainingCurves

if TYPE_CHECKING:  # pragma: no cover
    from medadv_desktop.engine.results.before_after import BeforeAfterResult
    from medadv_desktop.engine.workflows.training import AdversarialTrainingRequest

METHOD_LABELS = (
    ("fgsm", "FGSM, random start (fast)"),
    ("pgd", "PGD, k steps (Madry)"),
    ("trades", "TRADES (beta)"),
    ("mix", "Clean + adversarial mix"),
)
METHOD_HELP = {
    "fgsm": "One FGSM step of 1.25·eps from a random start in the eps-ball (Wong et al. 2020); "
            "about 2× the cost of clean training.",
    "pgd": "k projected sign-gradient steps of 2.5·eps/k from a random start (Madry et al. 2018); "
           "about (k+1)× the cost of clean training.",
    "trades": "Loss = CE(f(x), y) + beta·KL(f(x) ‖ f(x′)), x′ from k steps (Zhang et al. 2019).",
    "mix": "A fraction (mix ratio) of every batch replaced by adversarial examples, the rest clean "
           "(the seed paper's scheme).",
}
DEFAULT_EPS_GRID = "1/255, 2/255, 4/255"


def default_output_dir(now: _dt.datetime | None = None) -> Path:
    """``~/MedAdv/hardened-YYYYmmdd-HHMMSS``: a new folder for each run."""
    now = now or _dt.datetime.now()
    return Path.home() / "MedAdv" / f"hardened-{now.strftime('%Y%m%d-%H%M%S')}"


def _spin(lo: int, hi: int, value: int, suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    if suffix:
        box.setSuffix(suffix)
    box.setMinimumWidth(60)
    box.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
    return box


def _dspin(lo: float, hi: float, value: float, decimals: int, step: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setDecimals(decimals)
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setValue(value)
    box.setMinimumWidth(60)
    box.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
    return box


class TrainingPanel(QWidget):
    """The Training dock: options (left), live curves (middle), before/after table (right)."""

    sig_start_requested = Signal(object)        # AdversarialTrainingRequest
    sig_cancel_requested = Signal()
    sig_use_model_requested = Signal(str)       # the hardened model's card path

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("training_panel")
        self.hardened_card: str | None = None
        #: the re-test attacks' parameters (except eps and norm), by attack name; set by the controller
        self.attack_params: Callable[[str], dict[str, Any]] | None = None
        self._card_name: str | None = None
        self._infos: list[Any] = []
        self._model_ready = False
        self._running = False
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        outer.addWidget(self.splitter)
        self.splitter.addWidget(self._build_options())
        right = QSplitter(Qt.Vertical)
        right.setChildrenCollapsible(False)
        self.curves = TrainingCurves()
        right.addWidget(self.curves)
        right.addWidget(self._build_table_side())
        right.setStretchFactor(0, 2)
        right.setStretchFactor(1, 3)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([300, 700])
        self._on_method()
        self.set_running(False)

    # -- building -----------------------------------------------------------
    def _build_options(self) -> QWidget:
        side = QWidget()
        side.setMinimumWidth(240)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.setSpacing(0)
        body = QWidget()
        form = QFormLayout(body)
        form.setContentsMargins(6, 6, 6, 6)
        form.setLabelAlignment(Qt.AlignRight)
        form.setVerticalSpacing(4)
        self.form = form
        side_layout.addWidget(vertical_scroll_area(body), 1)

        self.data_edit = QLineEdit()
        self.data_edit.setObjectName("training_data_edit")
        self.data_edit.setPlaceholderText("class sub-folders or labels.csv; train/ + test/")
        self.data_edit.setToolTip("Labelled data set folder: one sub-folder per class, or a labels.csv "
                                  "(path,label). With train/ and test/ sub-folders the model is trained on "
                                  "train/ and re-tested on test/.")
        form.addRow("Data set:", path_row(self.data_edit, self._browse_data, "Choose the labelled data set folder"))
        from medadv_desktop.engine.training.config import MIX_ATTACKS, TrainingConfig  # no torch: cheap
        defaults = TrainingConfig()                 # the form's defaults are the engine's (one home)
        self.method = QComboBox()
        self.method.setObjectName("training_method")
        for key, text in METHOD_LABELS:
            self.method.addItem(text, key)
        self.method.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.method.setMinimumContentsLength(10)
        self.method.setCurrentIndex(max(0, self.method.findData(defaults.method)))
        self.method.currentIndexChanged.connect(self._on_method)
        form.addRow("Method:", self.method)
        self.method_help = QLabel("")
        self.method_help.setObjectName("dim")
        self.method_help.setWordWrap(True)
        form.addRow(self.method_help)
        self.eps = BudgetField("train_eps", defaults.eps)
        self.eps.setToolTip("L-inf training budget in [0, 1] image units (e.g. 2/255) = native units")
        form.addRow("eps:", self.eps)
        self.steps = _spin(1, 1000, defaults.steps, " steps")
        self.steps.setToolTip("Attack steps per batch (PGD, TRADES, PGD mix)")
        form.addRow("Steps:", self.steps)
        self.beta = _dspin(0.0, 1000.0, defaults.beta, 2, 0.5)
        self.beta.setToolTip("TRADES weight of the KL term")
        form.addRow("Beta:", self.beta)
        self.mix_ratio = _dspin(0.0, 1.0, defaults.mix_ratio, 2, 0.05)
        self.mix_ratio.setToolTip("Fraction of every batch replaced by adversarial examples")
        form.addRow("Mix ratio:", self.mix_ratio)
        self.mix_attack = QComboBox()
        self.mix_attack.addItems(list(MIX_ATTACKS))
        self.mix_attack.setCurrentText(defaults.mix_attack)
        self.mix_attack.currentIndexChanged.connect(self._on_method)
        form.addRow("Mix attack:", self.mix_attack)
        self.epochs = _spin(1, 10000, defaults.epochs)
        form.addRow("Epochs:", self.epochs)
        self.lr = _dspin(1e-6, 10.0, defaults.lr, 6, 1e-4)
        self.lr.setToolTip("AdamW learning rate")
        form.addRow("Learning rate:", self.lr)
        self.lr_schedule = QComboBox()
        self.lr_schedule.addItems(["constant", "cosine"])
        self.lr_schedule.setCurrentText(defaults.lr_schedule)
        self.lr_schedule.setToolTip("constant: the learning rate above throughout; cosine: decays it to 0 over the run")
        form.addRow("LR schedule:", self.lr_schedule)
        self.eps_warmup = _dspin(0.0, 1.0, defaults.eps_warmup, 2, 0.05)
        self.eps_warmup.setToolTip("Fraction of the run over which the training eps rises linearly from 0 to eps "
                                   "(0: the full eps from the first batch)")
        form.addRow("Eps warm-up:", self.eps_warmup)
        self.batch_size = _spin(1, 65536, 32)
        form.addRow("Batch size:", self.batch_size)
        self.max_train = _spin(0, 10**7, 0)
        self.max_train.setObjectName("training_max_samples")
        self.max_train.setSpecialValueText("all")
        self.max_train.setToolTip("Train on a seeded, class-balanced subset of at most this many samples "
                                  "(all: every sample of the training folder)")
        form.addRow("Training samples:", self.max_train)
        self.weight_decay = _dspin(0.0, 10.0, 1e-4, 6, 1e-4)
        self.weight_decay.setToolTip("AdamW decoupled weight decay")
        form.addRow("Weight decay:", self.weight_decay)
        self.val_split = _dspin(0.0, 0.9, 0.2, 2, 0.05)
        self.val_split.setToolTip("Fraction of the training folder held out (stratified, seeded) to measure "
                                  "clean and PGD robust accuracy after every epoch")
        form.addRow("Validation split:", self.val_split)
        self.val_pgd_steps = _spin(1, 1000, 10, " steps")
        self.val_pgd_steps.setToolTip("PGD steps of the robust validation accuracy after every epoch")
        form.addRow("Validation PGD:", self.val_pgd_steps)
        self.seed = _spin(0, 2**31 - 1, 0)
        form.addRow("Seed:", self.seed)
        self.mixed_precision = QCheckBox("bfloat16 on a CUDA GPU")
        self.mixed_precision.setToolTip("Mixed precision; ignored on the CPU")
        form.addRow("Mixed precision:", self.mixed_precision)
        self.out_edit = QLineEdit(str(default_output_dir()))
        self.out_edit.setObjectName("training_out_edit")
        self.out_edit.setToolTip("A new or empty folder for the hardened model, its card and the checkpoints "
                                 "(or a cancelled run's folder, to resume it)")
        form.addRow("Output folder:", path_row(self.out_edit, self._browse_out, "Choose a new or empty folder"))
        retest = QLabel("Re-test before / after")
        retest.setObjectName("heading")
        form.addRow(retest)
        self.retest_suite = SuitePicker()             # quick (default), standard, full, or Custom (the ticks)
        self.retest_suite.setObjectName("training_suite")
        self.retest_suite.set_suite(SUITE_QUICK, emit=False)
        self.retest_suite.sig_suite_chosen.connect(self._apply_retest_suite)
        form.addRow("Suite:", self.retest_suite)
        self.attack_list = QListWidget()
        self.attack_list.setObjectName("training_attack_list")
        self.attack_list.setToolTip("Attacks of the before/after table. A suite runs with its own settings; "
                                    "Custom: the ticked attacks with the Attack panel's parameters (except eps)")
        self.attack_list.setFixedHeight(70)
        self.attack_list.itemChanged.connect(lambda _item: self._retest_ticks_changed())
        form.addRow("Attacks:", self.attack_list)
        self.eps_grid = QLineEdit(DEFAULT_EPS_GRID)
        self.eps_grid.setObjectName("training_eps_grid")
        self.eps_grid.setToolTip("Comma-separated budgets in [0, 1] units; the training eps is always added")
        form.addRow("eps grid:", self.eps_grid)
        self.max_eval = _spin(0, 10**7, 0)
        self.max_eval.setSpecialValueText("all")
        self.max_eval.setToolTip("Re-test on a seeded, class-balanced subset of at most this many samples "
                                 "(all: every sample)")
        form.addRow("Re-test samples:", self.max_eval)

        footer = QVBoxLayout()
        footer.setContentsMargins(6, 4, 6, 6)
        footer.setSpacing(4)
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.hide()
        footer.addWidget(self.error)
        self.status = QLabel("Load a model, choose a labelled data set folder, then start.")
        self.status.setObjectName("training_status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        footer.addWidget(self.status)
        self.progress = job_progress_bar("training_progress", "idle")
        footer.addWidget(self.progress)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start training")
        self.start_button.setObjectName("primary")
        self.start_button.clicked.connect(lambda _checked=False: self.request_start())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("danger")
        self.cancel_button.clicked.connect(self.sig_cancel_requested)
        buttons.addWidget(self.start_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        footer.addLayout(buttons)
        self.use_button = QPushButton("Use the hardened model")
        self.use_button.setToolTip("Load the hardened model's card as the current model (Model panel)")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self._use_model)
        footer.addWidget(self.use_button)
        side_layout.addLayout(footer)
        return side

    def _build_table_side(self) -> QWidget:
        side = QWidget()
        layout = QVBoxLayout(side)
        layout.setContentsMargins(4, 2, 4, 4)
        layout.setSpacing(2)
        heading = QLabel("Before / after adversarial training")
        heading.setObjectName("heading")
        layout.addWidget(heading)
        self.table_caption = QLabel("The table appears when training and the re-test are done.")
        self.table_caption.setObjectName("dim")
        self.table_caption.setWordWrap(True)
        self.table_caption.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        layout.addWidget(self.table_caption)
        self.table = BeforeAfterTable()
        self.table.setMinimumHeight(90)
        layout.addWidget(self.table, 1)
        return side

    # -- state ----------------------------------------------------------------
    def _on_method(self, *_args) -> None:
        method = self.method_key()
        steps = method in ("pgd", "trades") or (method == "mix" and self.mix_attack.currentText() == "pgd")
        for widget, visible in ((self.steps, steps), (self.beta, method == "trades"),
                                (self.mix_ratio, method == "mix"), (self.mix_attack, method == "mix")):
            self.form.setRowVisible(widget, visible)
        self.method_help.setText(METHOD_HELP[method])

    def method_key(self) -> str:
        return self.method.currentData()

    def set_method(self, key: str) -> None:
        self.method.setCurrentIndex(max(0, self.method.findData(key)))

    def set_attacks(self, infos: Sequence[Any]) -> None:
        """The attack list of the re-test (``AttackInfo``); the chosen suite's attacks ticked (by default the
        "quick" suite)."""
        suite = self.retest_suite.suite()
        ticked = (set(self.suite_names(suite, infos)) if suite else set(self.selected_attacks())) or \
            {i.name for i in infos if SUITE_QUICK in i.default_suites}
        self._infos = list(infos)
        self.attack_list.blockSignals(True)
        self.attack_list.clear()
        for info in infos:
            item = QListWidgetItem(info.label + ("  ·  black-box" if info.black_box else ""))
            item.setData(Qt.UserRole, info.name)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if info.name in ticked else Qt.Unchecked)
            item.setToolTip(info.description)
            self.attack_list.addItem(item)
        self.attack_list.blockSignals(False)
        self.set_running(self._running)

    @staticmethod
    def suite_names(suite: str, infos: Sequence[Any]) -> list[str]:
        """The attacks of the named suite, in its order ("full": then every other listed attack)."""
        spec = SUITES[suite]
        return spec.names + ([i.name for i in infos if i.name not in spec.names] if spec.with_registered else [])

    def _apply_retest_suite(self, suite: str) -> None:
        """A suite chosen: tick exactly its attacks ("" (Custom) keeps the ticks)."""
        if suite:
            self.select_attacks(self.suite_names(suite, self._infos))

    def _retest_ticks_changed(self) -> None:
        """A tick changed by hand: a suite no longer matched is shown as Custom."""
        suite = self.retest_suite.suite()
        if suite and set(self.selected_attacks()) != set(self.suite_names(suite, self._infos)):
            self.retest_suite.show_custom()

    def retest_attacks(self, attack_params: Callable[[str], dict[str, Any]] | None = None) -> list[Any]:
        """What the request's ``attacks`` holds: ``[suite name]`` while the ticks are a suite's (the engine
        runs it with the suite's settings), else ``[(name, the Attack panel's parameters)]``."""
        suite, names = self.retest_suite.suite(), self.selected_attacks()
        if suite and set(names) == set(self.suite_names(suite, self._infos)):
            return [suite]
        return [(n, dict(attack_params(n)) if attack_params is not None else {}) for n in names]

    def select_attacks(self, names: Sequence[str]) -> None:
        self.attack_list.blockSignals(True)
        try:
            for row in range(self.attack_list.count()):
                item = self.attack_list.item(row)
                item.setCheckState(Qt.Checked if item.data(Qt.UserRole) in names else Qt.Unchecked)
        finally:
            self.attack_list.blockSignals(False)
        self._retest_ticks_changed()

    def selected_attacks(self) -> list[str]:
        return [self.attack_list.item(r).data(Qt.UserRole) for r in range(self.attack_list.count())
                if self.attack_list.item(r).checkState() == Qt.Checked]

    def set_model(self, card: Any, native_per_unit: float | None, units: str) -> None:
        """A model is loaded: eps in native units through its window; Start possible."""
        self._model_ready = card is not None
        self.eps.set_native_scale(native_per_unit, units)
        name = getattr(card, "name", None)
        changed, self._card_name = name != self._card_name, name
        if card is not None and changed and not self._running:
            self.set_status(f"Model: {card.name}. Choose a labelled data set folder, then start.")
        self.set_running(self._running)

    def set_running(self, running: bool) -> None:
        self._running = running
        self.start_button.setEnabled(not running and self._model_ready and self.attack_list.count() > 0)
        self.cancel_button.setEnabled(running)
        if running:
            self.use_button.setEnabled(False)
        else:
            self.use_button.setEnabled(self.hardened_card is not None)

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def set_progress(self, fraction: float, label: str, *, indeterminate: bool = False) -> None:
        """``indeterminate``: the phase has no known size yet (reading data, the epoch-0 validation): busy bar."""
        if indeterminate:
            self.progress.setRange(0, 0)
            self.progress.setFormat(label)
            return
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
        self.progress.setFormat(f"{label} {fraction * 100:.0f} %" if label else f"{fraction * 100:.0f} %")

    def begin_run(self) -> None:
        self.curves.clear()
        self.table.set_result(None)
        self.hardened_card = None
        self.table_caption.setText("The table appears when training and the re-test are done.")
        self.show_error("")
        self.set_progress(0.0, "Training")
        self.set_running(True)

    def set_hardened_model(self, card_path: str | None) -> None:
        self.hardened_card = card_path
        self.use_button.setEnabled(card_path is not None and not self._running)

    def show_before_after(self, result: BeforeAfterResult, caption: str, paired: Any = None) -> None:
        """The table (``paired``: the engine's paired tests of its rows) and the caption, then its cautions."""
        self.table.set_result(result, paired)
        self.table_caption.setText("\n".join([caption, *self.table.cautions()]))

    def _use_model(self) -> None:
        if self.hardened_card:
            self.sig_use_model_requested.emit(self.hardened_card)

    def _browse_data(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Labelled data set folder", self.data_edit.text())
        if folder:
            self.data_edit.setText(folder)

    def _browse_out(self) -> None:
        start = str(Path(self.out_edit.text()).parent) if self.out_edit.text() else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "New or empty output folder", start)
        if folder:
            self.out_edit.setText(folder)

    def new_output_folder(self) -> None:
        """A fresh default output folder (after a finished run, so the next one never collides)."""
        self.out_edit.setText(str(default_output_dir()))

    # -- the request -----------------------------------------------------------
    def build_request(self, attack_params: Callable[[str], dict[str, Any]] | None = None
                      ) -> AdversarialTrainingRequest:
        """The request for the current settings; raises a ``MedAdvError`` naming what is wrong."""
        from medadv_desktop.engine.attacks.spec import parse_budget_list
        from medadv_desktop.engine.training.config import TrainingConfig
        from medadv_desktop.engine.workflows.training import AdversarialTrainingRequest
        from medadv_desktop.errors import AttackConfigError, DatasetError, TrainingConfigError

        data = self.data_edit.text().strip()
        if not data:
            raise DatasetError("Choose the labelled data set folder to train on (one sub-folder per class, "
                               "or a labels.csv).")
        if not Path(data).is_dir():
            raise DatasetError(f"The data set folder '{Path(data).name}' does not exist.",
                               hint="Choose an existing folder with one sub-folder per class.")
        out = self.out_edit.text().strip()
        if not out:
            raise TrainingConfigError("choose a new or empty output folder", field="output folder")
        out_path = Path(out).expanduser()
        if out_path.exists() and not out_path.is_dir():
            raise TrainingConfigError(f"'{out_path.name}' is a file, not a folder", field="output folder",
                                      hint="Choose a new or empty output folder.")
        if out_path.is_dir() and any(out_path.iterdir()) and not (out_path / "run.json").is_file():
            raise TrainingConfigError(f"the folder '{out_path.name}' already holds files; MedAdv never writes "
                                      "over them", field="output folder",
                                      hint="Choose a new or empty output folder.")
        if not self.eps.valid and self.eps.failure is not None:
            raise self.eps.failure
        config = TrainingConfig(
            method=self.method_key(), eps=self.eps.value, steps=self.steps.value(), beta=self.beta.value(),
            mix_ratio=self.mix_ratio.value(), mix_attack=self.mix_attack.currentText(), epochs=self.epochs.value(),
            lr=self.lr.value(), batch_size=self.batch_size.value(), weight_decay=self.weight_decay.value(),
            val_split=self.val_split.value(), val_pgd_steps=self.val_pgd_steps.value(), seed=self.seed.value(),
            mixed_precision=self.mixed_precision.isChecked(), lr_schedule=self.lr_schedule.currentText(),
            eps_warmup=self.eps_warmup.value())
        names = self.selected_attacks()
        if not names:
            raise AttackConfigError("tick at least one attack for the before/after re-test", parameter="attacks")
        grid = parse_budget_list(self.eps_grid.text())
        attacks = self.retest_attacks(attack_params)
        return AdversarialTrainingRequest(data=data, out_dir=str(out_path), config=config, attacks=attacks,
                                          eps_grid=grid, max_eval_samples=self.max_eval.value() or None,
                                          max_train_samples=self.max_train.value() or None)

    def request_start(self, attack_params: Callable[[str], dict[str, Any]] | None = None) -> None:
        try:
            request = self.build_request(attack_params or self.attack_params)
        except Exception as exc:  # noqa: BLE001 - shown inline, in words
            self.show_error(exc.user_message() if hasattr(exc, "user_message") else str(exc))
            return
        self.show_error("")
        self.sig_start_requested.emit(request)
