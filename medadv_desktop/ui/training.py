"""Adversarial training in the GUI: form, live curves, before/after table, "use the hardened model".

The **Training** dock (:class:`TrainingPanel`) only displays state and emits
``sig_*`` requests; :class:`TrainingController` ties it to the main window:
it runs two jobs one after the other on the window's
:class:`~medadv_desktop.ui.worker.JobWorker` (never on the UI thread):

1. ``kind="train"``: the training phase of the adversarial training workflow
   (``engine/workflows/training.py``) on a copy of the currently loaded model
   (the input model's files are never written);
2. ``kind="before_after"``: its re-test phase, the original and the hardened
   model against the ticked attacks at the training eps and over the eps
   grid; the table is also written as ``before_after.json`` in the output
   folder. ``medadv train-adv`` runs the same two phases.

Data: a labelled folder (class sub-folders or ``labels.csv``). With
``train/`` and ``test/`` sub-folders the model is trained on ``train/`` and
re-tested on ``test/``; otherwise the re-test uses the held-out validation
split (the workflow's ``retest_set``, the one rule).

Live curves: the worker forwards progress events at most every 50 ms and drops
the ones in between, so every event is also recorded in a thread-safe
:class:`TrainingMonitor` that the panel reads on each forwarded event: no
batch loss and no epoch is ever missed.

Units: every budget (eps, grid) is an L-inf distance in [0, 1] image units
(after the model card's intensity mapping); for a windowed card
``eps_native = eps * window width`` (e.g. HU). Accuracies are fractions shown
in percent; "change" = after - before in percentage points.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
    QListWidget, QListWidgetItem, QPushButton, QSizePolicy, QSpinBox, QSplitter, QVBoxLayout, QWidget,
)

from medadv_desktop.engine.attacks.spec import SUITE_QUICK
from medadv_desktop.engine.jobs import CancelToken, Progress
from medadv_desktop.engine.reports import formatting
from medadv_desktop.ui import theme
from medadv_desktop.ui.attack_dock import BudgetField, format_budget
from medadv_desktop.ui.docks import job_progress_bar, vertical_scroll_area
from medadv_desktop.ui.results import CopyableTable

if TYPE_CHECKING:  # pragma: no cover
    from medadv_desktop.engine.training import BeforeAfterResult, TrainingConfig, TrainingResult
    from medadv_desktop.engine.workflows.training import AdversarialTrainingRequest, RetestOutcome, TrainingPhaseOutcome

log = logging.getLogger(__name__)

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


def pct(value: float | None) -> str:
    return formatting.pct(value, dash="—")


def points(value: float | None) -> str:
    """A change of accuracy in percentage points."""
    return formatting.points(value, dash="—")


# --------------------------------------------------------------------------- monitor
class TrainingMonitor:
    """Every training event, recorded on the worker thread, read on the UI thread.

    ``batches``: (x, loss) with x = epoch - 1 + batch / n_batches (fractional
    epochs, so a batch curve and the epoch means share one axis);
    ``epochs``: the epoch events' data (epoch 0 = before training).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.batches: list[tuple[float, float]] = []
        self.epochs: list[dict[str, Any]] = []
        self.resumed_from: int = 0

    def record(self, event: Progress) -> None:
        kind = event.data.get("kind")
        with self._lock:
            if kind == "batch":
                d = event.data
                x = d["epoch"] - 1 + d["batch"] / max(1, d["n_batches"])
                self.batches.append((float(x), float(d["loss"])))
            elif kind == "epoch":
                self.epochs.append(dict(event.data))
            elif kind == "resume":
                self.resumed_from = int(event.data.get("epoch", 0))

    def snapshot(self, n_batches_seen: int, n_epochs_seen: int) -> tuple[list, list]:
        """(new batch points, new epoch records) since the counts already seen."""
        with self._lock:
            return self.batches[n_batches_seen:], self.epochs[n_epochs_seen:]

    @property
    def last_checkpoint_epoch(self) -> int:
        with self._lock:
            done = [int(e["epoch"]) for e in self.epochs if e.get("checkpoint")]
        return max(done + [self.resumed_from])


# --------------------------------------------------------------------------- curves
class TrainingCurves(QWidget):
    """Training loss (per batch and per epoch) and validation accuracy (clean, robust) per epoch."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 2, 4, 0)
        layout.setSpacing(4)
        self.setMinimumHeight(150)
        self.loss_plot = pg.PlotWidget()
        self.loss_plot.setObjectName("training_loss_plot")
        self.accuracy_plot = pg.PlotWidget()
        self.accuracy_plot.setObjectName("training_accuracy_plot")
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.setMenuEnabled(False)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("bottom", "epoch")
            plot.getAxis("left").setWidth(42)
            plot.getAxis("left").enableAutoSIPrefix(False)
            layout.addWidget(plot, 1)
        self.loss_plot.setTitle("Training loss", color=theme.TEXT, size="9pt")
        self.loss_plot.setLabel("left", "loss")
        self.accuracy_plot.setTitle("Validation accuracy", color=theme.TEXT, size="9pt")
        self.accuracy_plot.setToolTip("Clean and robust accuracy on the validation split after every epoch "
                                      "(epoch 0: before training). Robust: L-inf PGD at the training eps.")
        self.accuracy_plot.setLabel("left", "accuracy (%)")
        self.accuracy_plot.setYRange(0, 122, padding=0)      # headroom above 100 % for the legend
        self.accuracy_plot.getAxis("left").setTicks([[(v, str(v)) for v in (0, 25, 50, 75, 100)]])
        loss_legend = self.loss_plot.addLegend(offset=(-6, 4), colCount=2)
        acc_legend = self.accuracy_plot.addLegend(offset=(-6, 4), colCount=2)
        for legend in (loss_legend, acc_legend):
            legend.setBrush(pg.mkBrush(theme.PANEL + "d0"))
        self.batch_item = self.loss_plot.plot([], [], pen=pg.mkPen(theme.TEXT_DIM, width=1), name="batch")
        self.epoch_loss_item = self.loss_plot.plot([], [], pen=pg.mkPen(theme.AFTER_COLOR, width=2), symbol="o",
                                                   symbolSize=7, symbolBrush=theme.AFTER_COLOR, name="epoch mean")
        self.clean_item = self.accuracy_plot.plot([], [], pen=pg.mkPen(theme.BEFORE_COLOR, width=2), symbol="o",
                                                  symbolSize=7, symbolBrush=theme.BEFORE_COLOR, name="clean")
        self.robust_item = self.accuracy_plot.plot([], [], pen=pg.mkPen(theme.AFTER_COLOR, width=2), symbol="s",
                                                   symbolSize=7, symbolBrush=theme.AFTER_COLOR, name="robust (PGD)")
        self.clear()

    def clear(self) -> None:
        self.batch_x: list[float] = []
        self.batch_loss: list[float] = []
        self.epoch_x: list[float] = []
        self.epoch_loss: list[float] = []
        self.acc_x: list[float] = []
        self.clean_accuracy: list[float] = []
        self.robust_accuracy: list[float] = []
        self._redraw()

    def add_batches(self, pts: Sequence[tuple[float, float]]) -> None:
        for x, loss in pts:
            self.batch_x.append(x)
            self.batch_loss.append(loss)
        if pts:
            self.batch_item.setData(self.batch_x, self.batch_loss)

    def add_epochs(self, records: Sequence[dict[str, Any]]) -> None:
        for r in records:
            epoch = float(r["epoch"])
            if r.get("loss") is not None:
                self.epoch_x.append(epoch)
                self.epoch_loss.append(float(r["loss"]))
            if r.get("val_clean_accuracy") is not None:
                self.acc_x.append(epoch)
                self.clean_accuracy.append(100 * float(r["val_clean_accuracy"]))
                self.robust_accuracy.append(100 * float(r.get("val_robust_accuracy") or 0.0))
        if records:
            self._redraw()

    def _redraw(self) -> None:
        self.batch_item.setData(self.batch_x, self.batch_loss)
        self.epoch_loss_item.setData(self.epoch_x, self.epoch_loss)
        self.clean_item.setData(self.acc_x, self.clean_accuracy)
        self.robust_item.setData(self.acc_x, self.robust_accuracy)
        last = max([1.0] + self.acc_x + self.epoch_x + self.batch_x)
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.setXRange(0, last, padding=0.04)
            plot.getAxis("bottom").setTicks([[(float(e), str(e)) for e in range(int(last) + 1)]]
                                            if last <= 20 else None)


# --------------------------------------------------------------------------- before/after table
BA_COLUMNS: list[tuple[str, str]] = [
    ("Attack", "attack"), ("eps", "eps"), ("eps native", "native"),
    ("Before", "before"), ("After adv. training", "after"), ("Change", "change"),
]


class BeforeAfterModel(QAbstractTableModel):
    """Rows of a ``BeforeAfterResult``; sort keys in ``Qt.UserRole``."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Any] = []
        self.units = ""

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(BA_COLUMNS)

    def set_result(self, result: BeforeAfterResult | None) -> None:
        self.beginResetModel()
        self.rows = list(result.rows) if result is not None else []
        self.units = (result.units or "") if result is not None else ""
        self.endResetModel()

    def _values(self, r) -> dict[str, tuple[Any, str]]:
        clean = r.attack == "clean"
        eps = (0.0, "—") if clean else (r.eps, format_budget(r.eps) + (" ★" if r.at_training_eps else ""))
        native = (-1.0, "—") if clean or r.eps_native is None else (
            r.eps_native, f"{r.eps_native:.3g} {self.units}".strip())
        change = r.change
        return {
            "attack": (r.attack, r.attack),
            "eps": eps,
            "native": native,
            "before": (-1.0 if r.accuracy_before is None else r.accuracy_before, pct(r.accuracy_before)),
            "after": (-1.0 if r.accuracy_after is None else r.accuracy_after, pct(r.accuracy_after)),
            "change": (-9.0 if change is None else change, points(change)),
        }

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self.rows[index.row()]
        key = BA_COLUMNS[index.column()][1]
        if role in (Qt.DisplayRole, Qt.UserRole):
            sort_key, text = self._values(r)[key]
            return text if role == Qt.DisplayRole else sort_key
        if role == Qt.TextAlignmentRole and index.column() >= 1:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.ForegroundRole and key == "change" and r.change is not None and abs(r.change) > 1e-9:
            return QBrush(QColor(theme.SUCCESS if r.change > 0 else theme.DANGER))
        if role == Qt.FontRole and r.at_training_eps and r.attack != "clean":
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ToolTipRole and r.at_training_eps and r.attack != "clean":
            return "★ the training eps"
        return None

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return BA_COLUMNS[section][0]
        return None


class BeforeAfterTable(CopyableTable):
    """The seed paper's Table 1 with an "after adversarial training" column; sortable, Ctrl+C copies TSV."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.table_model = BeforeAfterModel()
        super().__init__(self.table_model, BA_COLUMNS, "before_after_table", parent)

    def set_result(self, result: BeforeAfterResult | None) -> None:
        self.table_model.set_result(result)

    def row_texts(self) -> list[dict[str, str]]:
        """The displayed rows (in the current sort order) as {column title: text}."""
        return [{BA_COLUMNS[c][0]: str(self.proxy.index(r, c).data(Qt.DisplayRole)) for c in range(len(BA_COLUMNS))}
                for r in range(self.proxy.rowCount())]


# --------------------------------------------------------------------------- the panel
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
        form.addRow("Data set:", self._with_browse(self.data_edit, self._browse_data))
        self.method = QComboBox()
        self.method.setObjectName("training_method")
        for key, text in METHOD_LABELS:
            self.method.addItem(text, key)
        self.method.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.method.setMinimumContentsLength(10)
        self.method.currentIndexChanged.connect(self._on_method)
        form.addRow("Method:", self.method)
        self.method_help = QLabel("")
        self.method_help.setObjectName("dim")
        self.method_help.setWordWrap(True)
        form.addRow(self.method_help)
        self.eps = BudgetField("train_eps", 2 / 255)
        self.eps.setToolTip("L-inf training budget in [0, 1] image units (e.g. 2/255) = native units")
        form.addRow("eps:", self.eps)
        self.steps = _spin(1, 1000, 7, " steps")
        self.steps.setToolTip("Attack steps per batch (PGD, TRADES, PGD mix)")
        form.addRow("Steps:", self.steps)
        self.beta = _dspin(0.0, 1000.0, 6.0, 2, 0.5)
        self.beta.setToolTip("TRADES weight of the KL term")
        form.addRow("Beta:", self.beta)
        self.mix_ratio = _dspin(0.0, 1.0, 0.5, 2, 0.05)
        self.mix_ratio.setToolTip("Fraction of every batch replaced by adversarial examples")
        form.addRow("Mix ratio:", self.mix_ratio)
        self.mix_attack = QComboBox()
        self.mix_attack.addItems(["fgsm", "pgd"])
        self.mix_attack.currentIndexChanged.connect(self._on_method)
        form.addRow("Mix attack:", self.mix_attack)
        self.epochs = _spin(1, 10000, 5)
        form.addRow("Epochs:", self.epochs)
        from medadv_desktop.engine.training.config import TrainingConfig  # no torch: cheap at start-up
        defaults = TrainingConfig()
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
        form.addRow("Output folder:", self._with_browse(self.out_edit, self._browse_out))
        retest = QLabel("Re-test before / after")
        retest.setObjectName("heading")
        form.addRow(retest)
        self.attack_list = QListWidget()
        self.attack_list.setObjectName("training_attack_list")
        self.attack_list.setToolTip("Attacks of the before/after table; their parameters (except eps) come "
                                    "from the Attack panel")
        self.attack_list.setFixedHeight(70)
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

    def _with_browse(self, edit: QLineEdit, slot: Callable[[], None]) -> QWidget:
        row = QWidget()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(edit, 1)
        browse = QPushButton("…")
        browse.setFixedWidth(28)
        browse.setStyleSheet("padding: 2px 0px;")          # room for the ellipsis inside 28 px
        browse.setToolTip("Choose a folder")
        browse.clicked.connect(slot)
        lay.addWidget(browse)
        return row

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
        """The attack list of the re-test (``AttackInfo``); the attacks of the "quick" suite ticked by default."""
        ticked = set(self.selected_attacks()) or {i.name for i in infos if SUITE_QUICK in i.default_suites}
        self.attack_list.clear()
        for info in infos:
            item = QListWidgetItem(info.label + ("  ·  black-box" if info.black_box else ""))
            item.setData(Qt.UserRole, info.name)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if info.name in ticked else Qt.Unchecked)
            item.setToolTip(info.description)
            self.attack_list.addItem(item)
        self.set_running(self._running)

    def select_attacks(self, names: Sequence[str]) -> None:
        for row in range(self.attack_list.count()):
            item = self.attack_list.item(row)
            item.setCheckState(Qt.Checked if item.data(Qt.UserRole) in names else Qt.Unchecked)

    def selected_attacks(self) -> list[str]:
        return [self.attack_list.item(r).data(Qt.UserRole) for r in range(self.attack_list.count())
                if self.attack_list.item(r).checkState() == Qt.Checked]

    def set_model(self, card: Any, native_per_unit: float | None, units: str) -> None:
        """A model is loaded: eps in native units through its window; Start possible."""
        self._model_ready = card is not None
        self.eps.set_native_scale(native_per_unit, units)
        name = getattr(card, "name", None)
        changed, self._card_name = name != getattr(self, "_card_name", None), name
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

    def set_progress(self, fraction: float, label: str) -> None:
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

    def show_before_after(self, result: BeforeAfterResult, caption: str) -> None:
        self.table.set_result(result)
        self.table_caption.setText(caption)

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
        self.eps._from_unit()
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
        attacks = [(n, dict(attack_params(n)) if attack_params is not None else {}) for n in names]
        return AdversarialTrainingRequest(data=data, out_dir=str(out_path), config=config, attacks=attacks,
                                          eps_grid=grid, max_eval_samples=self.max_eval.value() or None)

    def request_start(self, attack_params: Callable[[str], dict[str, Any]] | None = None) -> None:
        try:
            request = self.build_request(attack_params or getattr(self, "attack_params", None))
        except Exception as exc:  # noqa: BLE001 - shown inline, in words
            self.show_error(exc.user_message() if hasattr(exc, "user_message") else str(exc))
            return
        self.show_error("")
        self.sig_start_requested.emit(request)


# --------------------------------------------------------------------------- controller
def _training_title(config: TrainingConfig) -> str:
    return (f"Adversarial training ({config.method}, eps {format_budget(config.eps)}, "
            f"{config.epochs} epoch{'s' if config.epochs != 1 else ''})")


def _train_factory(classifier, request: AdversarialTrainingRequest, monitor: TrainingMonitor):
    """The training job's factory (runs on the worker): the workflow's training phase; every event is
    also recorded in ``monitor`` (the worker forwards only some of them)."""

    def factory(cancel: CancelToken):
        from medadv_desktop.engine.workflows.training import training_phase

        return training_phase(classifier, request, cancel=cancel, observe=monitor.record)

    return factory


def _before_after_factory(classifier, phase: TrainingPhaseOutcome, request: AdversarialTrainingRequest):
    """The re-test job's factory (runs on the worker): the workflow's re-test phase (saves before_after.json)."""

    def factory(cancel: CancelToken):
        from medadv_desktop.engine.workflows.training import retest_phase

        return retest_phase(classifier, phase, request, cancel=cancel)

    return factory


class TrainingController(QObject):
    """Runs the Training dock's requests on the main window's worker and shows what comes back.

    ``window`` is the :class:`~medadv_desktop.ui.main_window.MainWindow` (its
    ``submit``, ``worker``, ``classifier``, ``card``, ``attack_panel``,
    ``load_model`` and ``sig_*`` signals are used).
    """

    sig_training_finished = Signal(object)        # TrainingResult
    sig_before_after_ready = Signal(object)       # BeforeAfterResult
    sig_run_finished = Signal(str)                # "done", "cancelled", "failed"

    TRAIN_KINDS = ("train", "before_after")

    def __init__(self, window, panel: TrainingPanel) -> None:
        super().__init__(window)
        self.window = window
        self.panel = panel
        self.monitor = TrainingMonitor()
        self.request: AdversarialTrainingRequest | None = None
        self.jobs: dict[int, str] = {}              # job id -> kind
        self.training_result: TrainingResult | None = None
        self.before_after: BeforeAfterResult | None = None
        self._seen = (0, 0)
        self._original: Any = None
        self._eval_source = ""
        panel.attack_params = self.attack_params
        panel.sig_start_requested.connect(self.start)
        panel.sig_cancel_requested.connect(self.cancel)
        panel.sig_use_model_requested.connect(self.use_hardened_model)
        w = window.worker
        w.sig_progress.connect(self._on_progress)
        w.sig_result.connect(self._on_result)
        w.sig_error.connect(self._on_error)
        w.sig_finished.connect(self._on_finished)
        window.sig_model_loaded.connect(lambda _card: self.refresh_model())
        window.sig_studies_loaded.connect(lambda _n: self.refresh_model())
        window.sig_engine_ready.connect(panel.set_attacks)
        if window.attack_infos:
            panel.set_attacks(window.attack_infos)
        self.refresh_model()

    # -- state from the window ------------------------------------------------
    def refresh_model(self) -> None:
        card = self.window.card
        npu = card.intensity.native_per_unit() if card is not None else None
        units = ""
        if npu is not None:
            study = self.window.study
            units = (study.units if study is not None else "") or "a.u."
        self.panel.set_model(card, npu, units)

    def attack_params(self, name: str) -> dict[str, Any]:
        """The Attack panel's parameters of ``name`` without eps and norm (the re-test sets those)."""
        form = self.window.attack_panel.form_by_name.get(name)
        if form is None:
            return {}
        return {k: v for k, v in form.values().items() if k not in ("eps", "norm")}

    @property
    def running(self) -> bool:
        return bool(self.jobs)

    # -- run ------------------------------------------------------------------
    def start(self, request: AdversarialTrainingRequest):
        classifier = self.window.classifier
        if classifier is None:
            self.panel.show_error("Load a model first (Model ▸ Load Model Card).")
            return None
        if self.running:
            self.panel.show_error("A training run is already going; cancel it first.")
            return None
        self.request = request
        self._original = classifier          # the re-test compares the hardened model with this one
        self.monitor = TrainingMonitor()
        self._seen = (0, 0)
        self.training_result = None
        self.before_after = None
        self.panel.begin_run()
        self.panel.set_status("Starting: reading the data set and loading the model on the worker…")
        job = self.window.submit(_training_title(request.config),
                                 _train_factory(classifier, request, self.monitor), kind="train")
        self.jobs[job.job_id] = "train"
        self.window.update_actions()
        return job

    def cancel(self) -> None:
        for job_id in list(self.jobs):
            self.window.worker.cancel(job_id)
        if self.jobs:
            self.panel.set_status("Cancelling… (takes effect before the next batch)")

    def use_hardened_model(self, card_path: str):
        self.panel.set_status(f"Loading the hardened model '{Path(card_path).parent.name}' as the current model…")
        return self.window.load_model(card_path)

    # -- worker signals ---------------------------------------------------------
    def _pull(self) -> None:
        pts, records = self.monitor.snapshot(*self._seen)
        self._seen = (self._seen[0] + len(pts), self._seen[1] + len(records))
        self.panel.curves.add_batches(pts)
        self.panel.curves.add_epochs(records)

    def _on_progress(self, request, event: Progress) -> None:
        kind = self.jobs.get(request.job_id)
        if kind is None:
            return
        if kind == "train":
            self._pull()
            self.panel.set_progress(event.fraction, "Training")
            if event.message:
                self.panel.set_status(event.message)
        else:
            self.panel.set_progress(event.fraction, "Re-testing")
            if event.message:
                self.panel.set_status("Re-test, " + event.message)

    def _on_result(self, request, value: Any) -> None:
        kind = self.jobs.get(request.job_id)
        if kind == "train":
            self._handle_training(value)
        elif kind == "before_after":
            self._handle_before_after(value)

    def _handle_training(self, outcome: TrainingPhaseOutcome) -> None:
        self._pull()
        result = outcome.result
        self.training_result = result
        self._eval_source = outcome.retest.source
        self.panel.set_hardened_model(result.model_card_path)
        final = result.final
        folder = Path(result.out_dir)
        self.window.jobs_panel.append_log(
            f"hardened model written (epoch {final.epoch}: validation clean {pct(final.val_clean_accuracy)}, "
            f"robust {pct(final.val_robust_accuracy)})")
        self.panel.set_status(f"Hardened model saved in '{folder.name}'. Re-testing the original and the hardened "
                              f"model on the {outcome.retest.source} ({len(outcome.retest.dataset)} samples)…")
        self.sig_training_finished.emit(result)
        assert self.request is not None
        job = self.window.submit(
            f"Before/after re-test ({', '.join(n for n, _ in self.request.attacks)})",
            _before_after_factory(self._original, outcome, self.request), kind="before_after")
        self.jobs[job.job_id] = "before_after"

    def _handle_before_after(self, outcome: RetestOutcome) -> None:
        table, saved = outcome.table, outcome.table_path is not None
        self.before_after = table
        n = table.n_samples
        eps = format_budget(table.train_eps)
        clean, row = table.clean, None
        for name in table.attacks:
            r = table.row(name, table.train_eps)
            if r is not None and r.change is not None and (row is None or r.change < row.change):
                row = r
        caption = (f"{n} samples ({self._eval_source}) · ★ training eps {eps} · accuracy = fraction classified "
                   f"correctly · change in percentage points")
        self.panel.show_before_after(table, caption)
        parts = []
        if clean is not None and clean.change is not None:
            parts.append(f"clean accuracy {pct(clean.accuracy_before)} → {pct(clean.accuracy_after)}")
        if row is not None:
            parts.append(f"{row.attack} at {eps}: {pct(row.accuracy_before)} → {pct(row.accuracy_after)}")
        where = "; table saved as before_after.json" if saved else ""
        self.panel.set_status("Done: " + ", ".join(parts) + where + ". 'Use the hardened model' loads it.")
        self.window.jobs_panel.append_log("before/after: " + ", ".join(parts))
        self.panel.new_output_folder()
        self.sig_before_after_ready.emit(table)

    def _on_error(self, request, failure) -> None:
        kind = self.jobs.get(request.job_id)
        if kind is None:
            return
        what = "Training" if kind == "train" else "The before/after re-test"
        self.panel.show_error(f"{what} failed: {failure.message}")
        self.panel.set_status(f"{what} failed; see the message above. The application keeps working.")

    def _on_finished(self, request, status: str) -> None:
        kind = self.jobs.pop(request.job_id, None)
        if kind is None:
            return
        if kind == "train" and status == "cancelled":
            self._pull()
            epoch = self.monitor.last_checkpoint_epoch
            folder = Path(self.request.out_dir).name if self.request else "the output folder"
            if epoch > 0:
                text = (f"Cancelled. The last complete checkpoint (epoch {epoch}) is kept in '{folder}'; start again "
                        "with the same options and output folder to resume from it.")
            else:
                text = (f"Cancelled before the first epoch ended; no checkpoint was written in '{folder}'. The "
                        "original model is unchanged.")
            self.panel.set_status(text)
        elif kind == "before_after" and status == "cancelled":
            self.panel.set_status("Re-test cancelled. The hardened model is saved; 'Use the hardened model' "
                                  "loads it.")
        if self.jobs:                    # the re-test follows the training job
            return
        self.panel.set_running(False)
        self.panel.set_progress(1.0 if status == "done" else self.panel.progress.value() / 1000,
                                {"done": "Done", "cancelled": "Cancelled", "failed": "Failed"}.get(status, status))
        self.window.update_actions()
        self.sig_run_finished.emit(status)
