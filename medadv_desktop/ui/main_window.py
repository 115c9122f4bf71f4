"""The main window: viewer in the centre, docks around it, menus, toolbar, status bar.

Lifecycle (Spyder style): ``__init__`` builds widgets, ``setup()`` wires
actions and docks, ``update_actions()`` enables what the current state allows.
The window owns the session state (studies, model, results) and runs every
engine call as a job on :class:`~medadv_desktop.ui.worker.JobWorker`; the UI
thread never imports or runs torch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QIcon
from PySide6.QtWidgets import (
    QDockWidget, QFileDialog, QLabel, QMainWindow, QMenu, QMessageBox, QProgressBar, QSizePolicy, QToolBar,
)

from medadv_desktop import __version__
from medadv_desktop.engine.jobs import CancelToken
from medadv_desktop.engine.reports.formatting import budget_text, eps_255, pct
from medadv_desktop.errors import MedAdvError
from medadv_desktop.ui.actions import ActionId, create_action
from medadv_desktop.ui.attack_dock import (
    SCOPE_ALL, SCOPE_DATASET, SCOPE_SLICE, SCOPE_VOLUME, AttackInfo, AttackPanel, AttackRequest,
    gather_attack_infos,
)
from medadv_desktop.ui.docks import (
    CreateCardDialog, JobsPanel, ModelPanel, StudyBrowser, TagBrowser, make_dock,
)
from medadv_desktop.ui.results import ResultsPanel, SampleEntry, SummaryRow
from medadv_desktop.ui.training import TrainingController, TrainingPanel
from medadv_desktop.ui.viewer import (
    ADVERSARIAL, DIFFERENCE, ORIGINAL, SIDE_BY_SIDE, ViewerWidget,
)
from medadv_desktop.ui.worker import (
    CANCELLED, DONE, JobFailure, JobRequest, JobWorker, report_progress,
)

log = logging.getLogger(__name__)

APP_TITLE = "MedAdv Desktop"
DEMO_TITLE = "synthetic demo task, not for clinical use"
SETTINGS_ORG, SETTINGS_APP = "MedAdv", "MedAdv Desktop"
MAX_RECENT = 10
STATE_VERSION = 3

DOCK_STUDIES, DOCK_TAGS, DOCK_MODEL, DOCK_ATTACK, DOCK_JOBS, DOCK_RESULTS = (
    "dock_studies", "dock_tags", "dock_model", "dock_attack", "dock_jobs", "dock_results")
DOCK_TRAINING = "dock_training"      # hidden until Model ▸ Adversarial Training; not in ``docks``


def make_settings() -> QSettings:
    return QSettings(SETTINGS_ORG, SETTINGS_APP)


def _open_path_job(path: str | Path, cancel: CancelToken):
    """The engine's cancellable loader job (progress per file)."""
    from medadv_desktop.engine.io.reader import open_path_job

    return open_path_job(path, cancel=cancel)


class MainWindow(QMainWindow):
    """MedAdv Desktop's main window."""

    sig_studies_loaded = Signal(int)          # number of studies now loaded
    sig_model_loaded = Signal(object)         # ModelCard
    sig_engine_ready = Signal(list)           # [AttackInfo]
    sig_prediction_ready = Signal(object)     # (slice index, probabilities)
    sig_attack_finished = Signal(object)      # StudyAttackResult or EvaluationResult (or list of them)
    sig_error_shown = Signal(str)             # user-facing error text
    sig_job_finished = Signal(object, str)    # JobRequest, status
    sig_idle = Signal()                       # no job queued or running

    def __init__(self, settings: QSettings | None = None, *, restore: bool = True) -> None:
        super().__init__()
        self.setObjectName("main_window")
        self.settings = settings or make_settings()
        self.studies: list[Any] = []
        self.current_study: int | None = None
        self.classifier: Any = None
        self.card: Any = None
        self.device_name = ""
        self.attack_infos: list[AttackInfo] = []
        self.study_results: dict[int, Any] = {}      # study index -> latest StudyAttackResult
        self.last_evaluation: Any = None
        self.last_error = ""
        self.demo_mode = False
        self._prediction_pending = False
        self._prediction_dirty = False
        self._predictions: dict[tuple[int, int], list[float]] = {}
        self.actions: dict[str, QAction] = {}
        self._shown_once = False
        self._state_restored = False
        self.worker = JobWorker(self)
        self._build()
        self.setup()
        if restore:
            self._state_restored = self.restore_settings()
        self.update_actions()
        self._update_title()

    # ------------------------------------------------------------------ build
    def _build(self) -> None:
        from medadv_desktop.paths import resources_dir

        icon = resources_dir() / "icons" / "medadv-64.png"
        if icon.exists():
            self.setWindowIcon(QIcon(str(icon)))
        self.viewer = ViewerWidget()
        self.setCentralWidget(self.viewer)
        self.study_browser = StudyBrowser()
        self.tag_browser = TagBrowser()
        self.model_panel = ModelPanel()
        self.attack_panel = AttackPanel()
        self.jobs_panel = JobsPanel()
        self.results_panel = ResultsPanel()
        self.docks: dict[str, QDockWidget] = {
            DOCK_STUDIES: make_dock("Studies", DOCK_STUDIES, self.study_browser, self),
            DOCK_TAGS: make_dock("DICOM Tags", DOCK_TAGS, self.tag_browser, self),
            DOCK_MODEL: make_dock("Model", DOCK_MODEL, self.model_panel, self, scroll=True),
            DOCK_ATTACK: make_dock("Attack", DOCK_ATTACK, self.attack_panel, self),
            DOCK_JOBS: make_dock("Jobs", DOCK_JOBS, self.jobs_panel, self),
            DOCK_RESULTS: make_dock("Results", DOCK_RESULTS, self.results_panel, self),
        }
        # long progress lines (training epochs) must never widen the window: the label elides instead
        self.jobs_panel.current_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.training_panel = TrainingPanel()
        self.training_dock = make_dock("Adversarial Training", DOCK_TRAINING, self.training_panel, self)
        for key, width in ((DOCK_STUDIES, 210), (DOCK_TAGS, 210), (DOCK_MODEL, 300), (DOCK_ATTACK, 300)):
            self.docks[key].setMinimumWidth(width)
        self.setDockOptions(QMainWindow.AnimatedDocks | QMainWindow.AllowTabbedDocks | QMainWindow.AllowNestedDocks)
        self.setCorner(Qt.BottomLeftCorner, Qt.LeftDockWidgetArea)
        self.setCorner(Qt.BottomRightCorner, Qt.RightDockWidgetArea)
        self.default_layout()
        self.setAcceptDrops(True)
        # status bar
        bar = self.statusBar()
        self.status_message = QLabel("Ready")
        bar.addWidget(self.status_message, 1)
        self.status_cursor = QLabel("")
        self.status_cursor.setObjectName("dim")
        bar.addPermanentWidget(self.status_cursor)
        self.status_progress = QProgressBar()
        self.status_progress.setFixedWidth(140)
        self.status_progress.setRange(0, 1000)
        self.status_progress.hide()
        bar.addPermanentWidget(self.status_progress)
        self.status_model = QLabel("No model")
        bar.addPermanentWidget(self.status_model)

    def default_layout(self) -> None:
        """Left: studies over tags; right: model over attack; bottom: results beside jobs."""
        d = self.docks
        for dock in d.values():
            dock.setFloating(False)
            dock.show()
        self.addDockWidget(Qt.LeftDockWidgetArea, d[DOCK_STUDIES])
        self.addDockWidget(Qt.LeftDockWidgetArea, d[DOCK_TAGS])
        self.splitDockWidget(d[DOCK_STUDIES], d[DOCK_TAGS], Qt.Vertical)
        self.addDockWidget(Qt.RightDockWidgetArea, d[DOCK_MODEL])
        self.addDockWidget(Qt.RightDockWidgetArea, d[DOCK_ATTACK])
        self.splitDockWidget(d[DOCK_MODEL], d[DOCK_ATTACK], Qt.Vertical)
        self.addDockWidget(Qt.BottomDockWidgetArea, d[DOCK_RESULTS])
        self.addDockWidget(Qt.BottomDockWidgetArea, d[DOCK_JOBS])
        self.splitDockWidget(d[DOCK_RESULTS], d[DOCK_JOBS], Qt.Horizontal)
        self.training_dock.setFloating(False)
        self.tabifyDockWidget(d[DOCK_RESULTS], self.training_dock)
        self.training_dock.hide()
        d[DOCK_RESULTS].raise_()
        self.default_dock_sizes()

    def reset_layout(self) -> None:
        self.default_layout()
        QTimer.singleShot(0, self.default_dock_sizes)

    def default_dock_sizes(self) -> None:
        """Dock sizes as fractions of the window, so 1280x800 and 1600x1000 both look right."""
        d = self.docks
        w, h = max(self.width(), 1000), max(self.height(), 700)
        side_left, side_right = max(230, int(w * 0.18)), max(305, int(w * 0.22))
        self.resizeDocks([d[DOCK_STUDIES], d[DOCK_MODEL]], [side_left, side_right], Qt.Horizontal)
        self.resizeDocks([d[DOCK_STUDIES], d[DOCK_TAGS]], [int(h * 0.3), int(h * 0.5)], Qt.Vertical)
        self.resizeDocks([d[DOCK_MODEL], d[DOCK_ATTACK]], [int(h * 0.34), int(h * 0.6)], Qt.Vertical)
        self.resizeDocks([d[DOCK_RESULTS]], [int(h * 0.3)], Qt.Vertical)
        bottom = w - side_left - side_right
        self.resizeDocks([d[DOCK_RESULTS], d[DOCK_JOBS]], [int(bottom * 0.64), int(bottom * 0.36)], Qt.Horizontal)

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        for action_id, slot in (
            (ActionId.OPEN_FILE, self.open_file_dialog),
            (ActionId.OPEN_FOLDER, self.open_folder_dialog),
            (ActionId.OPEN_DEMO, self.open_demo),
            (ActionId.CLEAR_RECENT, self.clear_recent),
            (ActionId.LOAD_MODEL, self.load_model_dialog),
            (ActionId.CREATE_CARD, self.create_card_dialog),
            (ActionId.ADVERSARIAL_TRAINING, self.show_training),
            (ActionId.EXPORT_REPORT, self.export_report),
            (ActionId.QUIT, self.close),
            (ActionId.RUN_ATTACK, self.attack_panel.request_run),
            (ActionId.CANCEL_JOB, self.cancel_current_job),
            (ActionId.RESET_VIEW, self.viewer.reset_view),
            (ActionId.NEXT_SLICE, lambda: self.viewer.set_slice(self.viewer.current + 1)),
            (ActionId.PREV_SLICE, lambda: self.viewer.set_slice(self.viewer.current - 1)),
            (ActionId.RESET_LAYOUT, self.reset_layout),
            (ActionId.ABOUT, self.show_about),
        ):
            self.actions[action_id] = create_action(self, action_id, slot)
        for action_id, mode in ((ActionId.VIEW_ORIGINAL, ORIGINAL), (ActionId.VIEW_ADVERSARIAL, ADVERSARIAL),
                                (ActionId.VIEW_DIFFERENCE, DIFFERENCE), (ActionId.VIEW_SIDE_BY_SIDE, SIDE_BY_SIDE)):
            action = create_action(self, action_id)
            action.triggered.connect(lambda _c=False, m=mode: self.viewer.set_mode(m))
            self.actions[action_id] = action
        self.actions[ActionId.TOGGLE_HEATMAP] = create_action(self, ActionId.TOGGLE_HEATMAP,
                                                              self.viewer.set_heatmap_visible)
        self.actions[ActionId.VIEW_ORIGINAL].setChecked(True)
        self._build_menus()
        self._build_toolbar()
        self._connect()

    def _build_menus(self) -> None:
        a = self.actions
        menu_file = self.menuBar().addMenu("&File")
        for action_id in (ActionId.OPEN_FILE, ActionId.OPEN_FOLDER, ActionId.OPEN_DEMO):
            menu_file.addAction(a[action_id])
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.setObjectName("recent_menu")
        menu_file.addMenu(self.recent_menu)
        menu_file.addSeparator()
        menu_file.addAction(a[ActionId.EXPORT_REPORT])
        menu_file.addSeparator()
        menu_file.addAction(a[ActionId.QUIT])
        menu_model = self.menuBar().addMenu("&Model")
        menu_model.addAction(a[ActionId.LOAD_MODEL])
        menu_model.addAction(a[ActionId.CREATE_CARD])
        menu_model.addSeparator()
        menu_model.addAction(a[ActionId.ADVERSARIAL_TRAINING])
        menu_attack = self.menuBar().addMenu("&Attack")
        menu_attack.addAction(a[ActionId.RUN_ATTACK])
        menu_attack.addAction(a[ActionId.CANCEL_JOB])
        menu_view = self.menuBar().addMenu("&View")
        for action_id in (ActionId.VIEW_ORIGINAL, ActionId.VIEW_ADVERSARIAL, ActionId.VIEW_DIFFERENCE,
                          ActionId.VIEW_SIDE_BY_SIDE):
            menu_view.addAction(a[action_id])
        menu_view.addAction(a[ActionId.TOGGLE_HEATMAP])
        menu_view.addSeparator()
        for action_id in (ActionId.RESET_VIEW, ActionId.PREV_SLICE, ActionId.NEXT_SLICE):
            menu_view.addAction(a[action_id])
        menu_view.addSeparator()
        panels = menu_view.addMenu("&Panels")
        for dock in (*self.docks.values(), self.training_dock):
            panels.addAction(dock.toggleViewAction())
        menu_view.addAction(a[ActionId.RESET_LAYOUT])
        menu_help = self.menuBar().addMenu("&Help")
        menu_help.addAction(a[ActionId.ABOUT])
        self._refresh_recent_menu()

    def _build_toolbar(self) -> None:
        a = self.actions
        bar = QToolBar("Main", self)
        bar.setObjectName("toolbar_main")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonTextOnly)
        for action_id in (ActionId.OPEN_FILE, ActionId.OPEN_FOLDER, ActionId.OPEN_DEMO, None,
                          ActionId.LOAD_MODEL, ActionId.CREATE_CARD, None, ActionId.RUN_ATTACK,
                          ActionId.CANCEL_JOB, None, ActionId.ADVERSARIAL_TRAINING, None, ActionId.EXPORT_REPORT):
            if action_id is None:
                bar.addSeparator()
            else:
                bar.addAction(a[action_id])
        self.addToolBar(Qt.TopToolBarArea, bar)
        self.toolbar = bar

    def _connect(self) -> None:
        w = self.worker
        w.sig_submitted.connect(lambda r: None if r.quiet else self.jobs_panel.add_job(r.job_id, r.title))
        w.sig_started.connect(self._on_job_started)
        w.sig_progress.connect(self._on_job_progress)
        w.sig_result.connect(self._on_job_result)
        w.sig_error.connect(self._on_job_error)
        w.sig_finished.connect(self._on_job_finished)
        self.study_browser.sig_study_selected.connect(self.select_study)
        self.model_panel.sig_load_requested.connect(self.load_model_dialog)
        self.model_panel.sig_create_requested.connect(self.create_card_dialog)
        self.attack_panel.sig_run_requested.connect(self.run_attack)
        self.attack_panel.sig_cancel_requested.connect(self.cancel_current_job)
        self.attack_panel.scope.currentIndexChanged.connect(lambda _i: self.update_actions())
        self.jobs_panel.sig_cancel_requested.connect(lambda _id: self.cancel_current_job())
        self.viewer.sig_slice_changed.connect(self._on_slice_changed)
        self.viewer.sig_cursor_text.connect(self.status_cursor.setText)
        self.viewer.sig_mode_changed.connect(self._on_mode_changed)
        self.viewer.heatmap_check.toggled.connect(self._sync_heatmap_action)
        self.results_panel.sig_sample_selected.connect(self._on_sample_selected)
        self._predict_timer = QTimer(self)
        self._predict_timer.setSingleShot(True)
        self._predict_timer.setInterval(120)
        self._predict_timer.timeout.connect(self.request_prediction)
        self.training = TrainingController(self, self.training_panel)

    def update_actions(self) -> None:
        """Enable what the current state allows."""
        has_study = self.current_study is not None
        has_model = self.classifier is not None
        engine = bool(self.attack_infos)
        running = any(r.kind in ("attack", "evaluate", "export", "train", "before_after")
                      for r in self.worker.pending())
        scope = self.attack_panel.scope_key()
        can_run = engine and has_model and (has_study or scope == SCOPE_DATASET) and not running
        self.actions[ActionId.RUN_ATTACK].setEnabled(can_run)
        self.actions[ActionId.CANCEL_JOB].setEnabled(self.worker.busy)
        self.actions[ActionId.EXPORT_REPORT].setEnabled(self.last_evaluation is not None)
        self.attack_panel.set_running(running, can_run)
        self.jobs_panel.cancel_button.setEnabled(self.worker.busy)

    def _update_title(self) -> None:
        title = APP_TITLE
        study = self.study
        if study is not None:
            title += f" — {study.pseudonym or 'study'} ({study.modality})"
        synthetic = self.demo_mode or (study is not None and study.synthetic) or (
            self.card is not None and self.card.synthetic)
        if synthetic:
            title += f" — {DEMO_TITLE}"
        self.setWindowTitle(title)

    @property
    def study(self):
        if self.current_study is None or not (0 <= self.current_study < len(self.studies)):
            return None
        return self.studies[self.current_study]

    # ------------------------------------------------------------------ jobs
    def submit(self, title: str, factory: Callable[[CancelToken], Any], *, kind: str = "job",
               quiet: bool = False, **context: Any) -> JobRequest:
        request = JobRequest(title=title, factory=factory, kind=kind, quiet=quiet, context=context)
        self.worker.submit(request)
        if not quiet:
            self.jobs_panel.append_log(f"queued #{request.job_id}: {title}")
        self.update_actions()
        return request

    def _on_job_started(self, request: JobRequest) -> None:
        if request.quiet:
            return
        self.jobs_panel.job_started(request.job_id, request.title)
        self.status_message.setText(request.title + "…")
        self.status_progress.setValue(0)
        self.status_progress.show()

    def _on_job_progress(self, request: JobRequest, event) -> None:
        if request.quiet:
            return
        fraction = event.fraction
        self.jobs_panel.job_progress(request.job_id, fraction, event.message)
        self.status_progress.setValue(int(fraction * 1000))

    def _on_job_result(self, request: JobRequest, result: Any) -> None:
        handler = getattr(self, f"_handle_{request.kind}", None)
        try:
            if handler is not None:
                handler(request, result)
        except MedAdvError as exc:
            self.show_error(exc.user_message(), title=request.title)
        except Exception as exc:  # noqa: BLE001 - the UI keeps working
            log.exception("handling the result of %s failed", request.title)
            self.show_error(f"Showing the result of '{request.title}' failed: {exc}", title=request.title)

    def _on_job_error(self, request: JobRequest, failure: JobFailure) -> None:
        if request.kind == "predict":
            self.model_panel.prediction_note.setText(failure.message)
            self.model_panel.prediction_note.show()
            return
        self.jobs_panel.append_log(f"#{request.job_id} failed: {failure.message.splitlines()[0]}")
        if failure.details:
            self.jobs_panel.append_log(failure.details.strip().splitlines()[-1])
        self.show_error(failure.message, title=request.title)

    def _on_job_finished(self, request: JobRequest, status: str) -> None:
        if request.kind == "predict":
            self._prediction_pending = False
            if self._prediction_dirty:
                self._prediction_dirty = False
                self._predict_timer.start()
        if not request.quiet:
            self.jobs_panel.job_finished(request.job_id, status)
            elapsed = time.monotonic() - request.submitted
            self.jobs_panel.append_log(f"#{request.job_id} {status} ({elapsed:.1f} s): {request.title}")
            if status == CANCELLED:
                self.status_message.setText(f"Cancelled: {request.title}")
            elif status == DONE:
                self.status_message.setText(f"Done: {request.title}")
        if not self.worker.busy:
            self.status_progress.hide()
        self.update_actions()
        self.sig_job_finished.emit(request, status)
        if not self.worker.busy:
            self.sig_idle.emit()

    def cancel_current_job(self) -> None:
        current = self.worker.current
        targets = [current] if current is not None and not current.quiet else []
        targets += [r for r in self.worker.pending()
                    if r.kind in ("attack", "evaluate", "export", "train", "before_after")]
        for request in targets:
            request.cancel.cancel()
            self.jobs_panel.append_log(f"cancel requested for #{request.job_id}")
        if targets:
            self.status_message.setText("Cancelling…")

    def show_error(self, message: str, *, title: str = "Error") -> None:
        """Show a user-facing error without blocking; the application keeps working."""
        self.last_error = message
        self.status_message.setText(message.splitlines()[0] if message else "Error")
        box = QMessageBox(QMessageBox.Warning, f"{APP_TITLE}: {title}", message, QMessageBox.Ok, self)
        box.setModal(False)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.show()
        self.error_box = box
        self.sig_error_shown.emit(message)

    # ------------------------------------------------------------------ engine start-up
    def prepare_engine(self) -> JobRequest:
        """Import torch and the attack registry on the worker, then build the attack forms."""
        return self.submit("Loading the attack engine", lambda cancel: gather_attack_infos(), kind="engine")

    def _handle_engine(self, request: JobRequest, infos: list[AttackInfo]) -> None:
        self.attack_infos = list(infos)
        self.attack_panel.set_attacks(infos)
        if self.card is not None:
            self.attack_panel.set_class_names(self.card.class_names)
        self._update_native_scale()
        self.update_actions()
        self.sig_engine_ready.emit(self.attack_infos)

    # ------------------------------------------------------------------ studies
    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open image file", self._last_dir(),
            "Images (*.dcm *.DCM *.dicom *.ima *.nii *.nii.gz *.img *.hdr *.png *.jpg *.jpeg *.tif *.tiff);;All files (*)")
        if path:
            self.open_paths([path])

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open folder", self._last_dir())
        if folder:
            self.open_paths([folder])

    def _last_dir(self) -> str:
        recent = self.recent_files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def open_demo(self) -> None:
        from medadv_desktop.paths import demo_model_card, resources_dir

        self.demo_mode = True
        self._update_title()
        study_dir = resources_dir() / "demo_study"
        card = demo_model_card()
        if study_dir.exists():
            self.open_paths([study_dir], remember=False)
        else:
            self.show_error(f"The demo study is missing ({study_dir.name}); reinstall MedAdv Desktop.",
                            title="Demo")
        if card.exists():
            self.load_model(card)
        else:
            self.show_error("The demo model card is missing; reinstall MedAdv Desktop.", title="Demo")

    def open_paths(self, paths: Sequence[str | Path], *, remember: bool = True) -> list[JobRequest]:
        requests = []
        for path in paths:
            path = Path(path)
            if remember:
                self.add_recent(path)
            # job titles go to the log: no file names (they may hold patient names)
            what = "folder" if path.is_dir() else "file"
            requests.append(self.submit(f"Open {what}", lambda cancel, p=path: _open_path_job(p, cancel),
                                        kind="load", path=str(path)))
        return requests

    def _handle_load(self, request: JobRequest, report) -> None:
        name = Path(request.context.get("path", "")).name
        studies = list(getattr(report, "studies", []))
        failures = list(getattr(report, "failures", []))
        if failures:
            self.study_browser.add_failures(failures)
            self.jobs_panel.append_log(f"{len(failures)} file(s) not loaded; the Studies panel lists them")
        if not studies:
            reasons = "\n".join(f"• {Path(p).name}: {r}" for p, r in failures[:8]) or "No images were found."
            self.show_error(f"Nothing could be opened from '{name}'.\n{reasons}", title="Open")
            return
        first_new = len(self.studies)
        self.studies.extend(studies)
        self.study_browser.set_studies(self.studies, first_new)
        self.select_study(first_new)
        self.jobs_panel.append_log(f"opened {len(studies)} stud{'y' if len(studies) == 1 else 'ies'}: "
                                   + ", ".join(f"{s.pseudonym} ({s.modality})" for s in studies[:5]))
        self.sig_studies_loaded.emit(len(self.studies))

    def select_study(self, index: int) -> None:
        if not 0 <= index < len(self.studies):
            return
        self.current_study = index
        study = self.studies[index]
        self.viewer.set_study(study)
        self.tag_browser.set_header(study.header)
        result = self.study_results.get(index)
        if result is not None:
            self._show_study_result_in_viewer(result)
        self._update_native_scale()
        self._update_title()
        self.update_actions()
        self.status_message.setText(f"{study.pseudonym or 'Study'}: {study.modality}, "
                                    f"{study.n_slices} slice(s) of {study.shape2d[1]}×{study.shape2d[0]}")
        self._predict_timer.start()

    def _on_slice_changed(self, index: int) -> None:
        result = self.study_results.get(self.current_study)
        if result is not None:
            self._show_result_chart(result)
        self._update_native_scale()
        self._show_prediction_for_slice()
        self._predict_timer.start()

    def _on_mode_changed(self, mode: str) -> None:
        mapping = {ORIGINAL: ActionId.VIEW_ORIGINAL, ADVERSARIAL: ActionId.VIEW_ADVERSARIAL,
                   DIFFERENCE: ActionId.VIEW_DIFFERENCE, SIDE_BY_SIDE: ActionId.VIEW_SIDE_BY_SIDE}
        for m, action_id in mapping.items():
            self.actions[action_id].setChecked(m == mode)

    def _sync_heatmap_action(self, on: bool) -> None:
        action = self.actions[ActionId.TOGGLE_HEATMAP]
        if action.isChecked() != on:
            action.blockSignals(True)
            action.setChecked(on)
            action.blockSignals(False)

    # ------------------------------------------------------------------ model
    def load_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model card", self._last_dir(),
                                              "Model cards (*.json);;All files (*)")
        if path:
            self.load_model(path)

    def load_model(self, card_path: str | Path) -> JobRequest:
        card_path = Path(card_path)

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.models import load_classifier

            classifier = load_classifier(card_path)
            return classifier

        return self.submit(f"Load model {card_path.name}", factory, kind="model", path=str(card_path))

    def _handle_model(self, request: JobRequest, classifier) -> None:
        self.classifier = classifier
        self.card = classifier.card
        self.device_name = str(getattr(classifier, "device", "cpu"))
        self.model_panel.set_card(self.card, self.device_name)
        self.status_model.setText(f"Model: {self.card.name[:48]}")
        self.attack_panel.set_class_names(self.card.class_names)
        self._predictions.clear()
        self._update_native_scale()
        self._update_title()
        self.update_actions()
        self.jobs_panel.append_log(f"model loaded: {self.card.architecture or self.card.format}, "
                                   f"classes {', '.join(self.card.class_names)}, device {self.device_name}")
        self.sig_model_loaded.emit(self.card)
        self._predict_timer.start()

    def create_card_dialog(self) -> None:
        dialog = CreateCardDialog(self)
        while dialog.exec():
            try:
                values = dialog.values()
                from medadv_desktop.engine.models import create_card_from_weights, save_card

                card = create_card_from_weights(**values)
                target, _ = QFileDialog.getSaveFileName(self, "Save model card",
                                                        str(Path(values["weights"]).with_suffix(".json")),
                                                        "Model cards (*.json)")
                if not target:
                    return
                card = create_card_from_weights(**values, card_path=target)
                saved = save_card(card, target)
            except (MedAdvError, ValueError) as exc:
                dialog.error.setText(exc.user_message() if isinstance(exc, MedAdvError) else f"Invalid number: {exc}")
                continue
            self.load_model(saved)
            return

    # ------------------------------------------------------------------ adversarial training
    def show_training(self) -> None:
        """Model ▸ Adversarial Training: show the Training dock with room for its form, curves and table.

        The first time it is shown in the bottom area, the Jobs panel joins the
        Results / Training tabs so the training panel gets the full bottom width
        (its own status line and progress bar follow the jobs); View ▸ Reset
        Layout restores the default.
        """
        dock = self.training_dock
        was_hidden = not dock.isVisible()
        dock.show()
        if was_hidden and not dock.isFloating() and self.dockWidgetArea(dock) == Qt.BottomDockWidgetArea:
            jobs = self.docks[DOCK_JOBS]
            if not jobs.isFloating() and self.dockWidgetArea(jobs) == Qt.BottomDockWidgetArea and \
                    dock not in self.tabifiedDockWidgets(jobs):
                self.tabifyDockWidget(dock, jobs)
            self.resizeDocks([dock], [max(340, int(self.height() * 0.46))], Qt.Vertical)
        dock.raise_()

    def _update_native_scale(self) -> None:
        """Native units per [0, 1] unit for the eps fields: window width, or the slice's range."""
        study = self.study
        if self.card is None or study is None:
            self.attack_panel.set_native_scale(None, study.units if study is not None else "")
            return
        npu = self.card.intensity.native_per_unit()          # a window: fixed; per-image mappings: this slice's
        if npu is None:
            npu = self.card.intensity.native_per_unit(study.slice_chw(self.viewer.current))
        self.attack_panel.set_native_scale(npu, study.units or "a.u.")

    # ------------------------------------------------------------------ predictions
    def request_prediction(self) -> None:
        """Predict the current slice on the worker (coalesced: one pending at a time)."""
        study, classifier = self.study, self.classifier
        if study is None or classifier is None:
            return
        key = (self.current_study, self.viewer.current)
        if key in self._predictions:
            self._show_prediction_for_slice()
            return
        if self._prediction_pending:
            self._prediction_dirty = True
            return
        self._prediction_pending = True
        index = self.viewer.current

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.models import study_to_unit

            unit, _bounds = study_to_unit(study, classifier.card, [index])
            return classifier.predict_proba(unit)[0].tolist()

        self.submit("Predict current slice", factory, kind="predict", quiet=True, key=key)

    def _handle_predict(self, request: JobRequest, probs: list[float]) -> None:
        self._predictions[request.context["key"]] = probs
        self._show_prediction_for_slice()
        self.sig_prediction_ready.emit((request.context["key"][1], probs))

    def _show_prediction_for_slice(self) -> None:
        if self.card is None or self.study is None:
            return
        key = (self.current_study, self.viewer.current)
        result = self.study_results.get(self.current_study)
        before = self._predictions.get(key)
        after = None
        note = ""
        if result is not None and self.viewer.current in result.slices:
            i = result.slices.index(self.viewer.current)
            i = i if i < len(result.clean_probs) else 0      # a 3-D model has one row per volume
            before = [float(v) for v in result.clean_probs[i]]
            after = [float(v) for v in result.adv_probs[i]]
            note = f"after {result.attack} at eps {eps_255(result.eps)}"
            if result.eps_native is not None:
                note += f" ({result.eps_native:.3g} {result.units})"
        if before is None:
            self.model_panel.prediction_note.setText("Computing…")
            self.model_panel.prediction_note.show()
            return
        self.model_panel.set_prediction(self.card.class_names, before, after, note)

    # ------------------------------------------------------------------ attacks
    def run_attack(self, request: AttackRequest) -> JobRequest | None:
        if self.classifier is None:
            self.show_error("Load a model first (Model ▸ Load Model Card).", title="Attack")
            return None
        classifier = self.classifier
        if request.scope == SCOPE_DATASET:
            return self._run_evaluation(request)
        if self.study is None:
            self.show_error("Open a study first (File ▸ Open).", title="Attack")
            return None
        targets: list[tuple[int, Any, list[int] | None]]
        if request.scope == SCOPE_SLICE:
            targets = [(self.current_study, self.study, [self.viewer.current])]
        elif request.scope == SCOPE_VOLUME:
            targets = [(self.current_study, self.study, None)]
        else:
            targets = [(i, s, None) for i, s in enumerate(self.studies)]
        params = dict(request.params)
        label = next((i.label for i in self.attack_infos if i.name == request.attack), request.attack)

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.workflows.study_attack import study_attack_workflow

            def job():
                results = []
                for index, study, slices in targets:
                    outcome = yield from study_attack_workflow(classifier, study, request.attack, params,
                                                               slices=slices, cancel=cancel,
                                                               on_attack_progress=report_progress)
                    results.append((index, outcome.result))
                return results
            return job()

        scope_text = {SCOPE_SLICE: f"slice {self.viewer.current + 1}", SCOPE_VOLUME: "whole volume",
                      SCOPE_ALL: f"{len(targets)} studies"}[request.scope]
        title = f"{label} eps {budget_text(params.get('eps', 0))} on {scope_text}"
        self.attack_panel.show_error("")
        return self.submit(title, factory, kind="attack", scope=request.scope)

    def _handle_attack(self, request: JobRequest, results: list[tuple[int, Any]]) -> None:
        rows, samples = [], []
        for index, result in results:
            self.study_results[index] = result
            study = self.studies[index]
            where = (f"slice {result.slices[0] + 1}" if len(result.slices) == 1 else f"{len(result.slices)} slices")
            rows.append(SummaryRow(source=f"{result.study} {where}", row=result.row, clean_accuracy=None,
                                   units=result.units))
            for i, record in enumerate(result.records):
                slice_index = result.slices[i] if i < len(result.slices) else None

                def images(r=result, i=i, s=study):
                    return r.clean_native[i], r.adv_native[i], None

                samples.append(SampleEntry(record, images, index, slice_index))
            self.jobs_panel.append_log(
                f"{result.attack} on {result.study} {where}: robust accuracy {pct(result.row.robust_accuracy)}, "
                f"{result.elapsed_s:.2f} s")
        self.results_panel.class_names = list(self.card.class_names) if self.card else []
        self.results_panel.add_summary(rows)
        self.results_panel.set_samples(samples)
        all_rows = [r.row for r in self.results_panel.table.summary.rows if r.clean_accuracy is None]
        if self.last_evaluation is None:
            self.results_panel.show_curve(all_rows, None)
        if results:
            shown = next((r for i, r in results if i == self.current_study), None)
            if shown is None:
                self.select_study(results[0][0])
                shown = results[0][1]
            self._show_study_result_in_viewer(shown)
        self.sig_attack_finished.emit(results)

    def _show_study_result_in_viewer(self, result) -> None:
        adv = {s: result.adv_native[i] for i, s in enumerate(result.slices)}
        if self.viewer.current not in adv:
            self.viewer.set_slice(result.slices[0])
        self.viewer.set_adversarial(adv)
        self._show_result_chart(result)
        self._show_prediction_for_slice()

    def _show_result_chart(self, result) -> None:
        """Before/after probabilities of the current slice in the Results ▸ Prediction change tab."""
        if self.viewer.current not in result.slices:
            return
        i = result.slices.index(self.viewer.current)
        p = i if i < len(result.clean_probs) else 0        # a 3-D model has one row per volume
        names = list(result.class_names)
        before = [float(v) for v in result.clean_probs[p]]
        after = [float(v) for v in result.adv_probs[p]]
        b, a = max(range(len(before)), key=before.__getitem__), max(range(len(after)), key=after.__getitem__)
        eps = eps_255(result.eps) + (f" = {result.eps_native:.3g} {result.units}" if result.eps_native else "")
        verdict = "prediction CHANGED" if a != b else "prediction unchanged"
        caption = (f"{result.attack} at eps {eps} on slice {result.slices[i] + 1}: {names[b]} ({pct(before[b])}) → "
                   f"{names[a]} ({pct(after[a])}) — {verdict}")
        self.results_panel.show_prediction(names, before, after, caption)

    def _run_evaluation(self, request: AttackRequest) -> JobRequest:
        classifier = self.classifier
        folder = request.dataset
        norm = request.params.get("norm", "linf")

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.workflows.evaluation import EvaluationRequest, evaluation_workflow

            def job():
                outcome = yield from evaluation_workflow(classifier, EvaluationRequest(
                    data=folder, attacks=request.attacks, eps=request.eps_grid, norm=norm,
                    seed=int(request.params.get("seed", 0)), full_rows=request.full_rows), cancel=cancel)
                return outcome.result
            return job()

        names = ", ".join(n for n, _ in request.attacks)
        mode = ", per-attack rows" if request.full_rows else ""
        return self.submit(f"Evaluate {names} on a labelled data set ({len(request.eps_grid)} eps{mode})", factory,
                           kind="evaluate", full_rows=request.full_rows)

    def _handle_evaluate(self, request: JobRequest, result) -> None:
        self.last_evaluation = result
        self.results_panel.class_names = list(result.class_names)
        source = f"eval {result.dataset.name}"
        rows = [SummaryRow(source, r, result.clean_accuracy, result.units) for r in result.rows]
        self.results_panel.add_summary(rows)
        self.results_panel.show_curve(result.rows, result.clean_accuracy)
        examples = {e.sample_id + e.attack + f"{e.eps:.6f}": e for e in result.examples}
        entries = []
        for rec in result.samples:
            ex = examples.get(rec.sample_id + rec.attack + f"{rec.eps:.6f}")

            def images(e=ex):
                import numpy as np
                return np.asarray(e.original, np.float32), np.asarray(e.adversarial, np.float32), (0.0, 1.0)

            entries.append(SampleEntry(rec, images if ex is not None else None))
        self.results_panel.set_samples(entries)
        worst = [r for r in result.rows if r.attack == "worst-case"]
        if worst:
            self.results_panel.show_curve(result.rows, result.clean_accuracy)
        for flag in result.flags:
            self.jobs_panel.append_log(f"flag: {flag.title}: {flag.explanation}")
        self.jobs_panel.append_log(f"evaluation: {result.n_samples} samples, clean accuracy "
                                   f"{pct(result.clean_accuracy)}")
        self.results_panel.setCurrentIndex(1)
        self.update_actions()
        self.sig_attack_finished.emit(result)

    def _on_sample_selected(self, entry: SampleEntry) -> None:
        if entry.study_index is not None and entry.slice_index is not None:
            if entry.study_index != self.current_study:
                self.select_study(entry.study_index)
            self.viewer.set_slice(entry.slice_index)
            result = self.study_results.get(entry.study_index)
            if result is not None:
                self._show_study_result_in_viewer(result)

    # ------------------------------------------------------------------ reports
    def export_report(self) -> JobRequest | None:
        """File ▸ Export Report: writes PDF + CSV + JSON of the latest evaluation via the engine."""
        if self.last_evaluation is None:
            self.show_error("Run an evaluation on a labelled data set folder first; the report describes it.",
                            title="Export report")
            return None
        from medadv_desktop.engine.reports import default_report_stem, export_reports_job

        folder = QFileDialog.getExistingDirectory(self, "Export report to folder", self._last_dir())
        if not folder:
            return None
        stem = default_report_stem(self.last_evaluation)
        base = Path(folder) / stem
        result = self.last_evaluation
        paths = dict(pdf=base.with_suffix(".pdf"), csv=base.with_name(stem + "-samples.csv"),
                     summary_csv=base.with_name(stem + "-summary.csv"), json=base.with_suffix(".json"))
        return self.submit(f"Export report {stem}", lambda cancel: export_reports_job(result, cancel=cancel, **paths),
                           kind="export")

    def _handle_export(self, request: JobRequest, paths) -> None:
        names = ", ".join(Path(p).name for p in paths)
        self.jobs_panel.append_log(f"report written: {names}")
        self.status_message.setText(f"Report written: {names}")

    # ------------------------------------------------------------------ recent files & settings
    def recent_files(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def add_recent(self, path: str | Path) -> None:
        path = str(Path(path).resolve())
        recent = [p for p in self.recent_files() if p != path]
        recent.insert(0, path)
        self.settings.setValue("recent_files", recent[:MAX_RECENT])
        self._refresh_recent_menu()

    def clear_recent(self) -> None:
        self.settings.setValue("recent_files", [])
        self._refresh_recent_menu()

    def _refresh_recent_menu(self) -> None:
        menu = getattr(self, "recent_menu", None)
        if menu is None:
            return
        menu.clear()
        recent = self.recent_files()
        for i, path in enumerate(recent):
            action = menu.addAction(f"&{(i + 1) % 10} {Path(path).name}")
            action.setToolTip(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_paths([p]))
        if recent:
            menu.addSeparator()
        menu.addAction(self.actions[ActionId.CLEAR_RECENT])
        menu.setEnabled(True)

    def save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(STATE_VERSION))
        self.settings.setValue("viewer/heatmap_opacity", self.viewer.opacity_slider.value())
        self.settings.sync()

    def restore_settings(self) -> bool:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        opacity = self.settings.value("viewer/heatmap_opacity")
        if opacity is not None:
            self.viewer.set_heatmap_opacity(int(opacity) / 100)
        restored = False
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            restored = self.restoreGeometry(geometry)
        if isinstance(state, QByteArray) and not state.isEmpty():
            restored = self.restoreState(state, STATE_VERSION) and restored
        return restored

    # ------------------------------------------------------------------ events
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        cards = [p for p in paths if p.lower().endswith(".json")]
        images = [p for p in paths if p not in cards]
        if images:
            self.open_paths(images)
        for card in cards:
            self.load_model(card)
        event.acceptProposedAction()

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            if not self._state_restored:
                QTimer.singleShot(0, self.default_dock_sizes)

    def closeEvent(self, event) -> None:  # noqa: N802
        self.save_settings()
        self.worker.shutdown()
        super().closeEvent(event)

    def show_about(self) -> None:
        attacks = f" ({', '.join(i.label for i in self.attack_infos)})" if self.attack_infos else ""
        QMessageBox.about(
            self, f"About {APP_TITLE}",
            f"<h3>{APP_TITLE} {__version__}</h3>"
            f"<p>Tests how easily medical image classifiers are fooled by adversarial attacks{attacks}, "
            "hardens them by adversarial training, and exports de-identified reports.</p>"
            "<p><b>For research and quality assurance. Not a medical device; not for clinical use.</b> "
            "The bundled demo is a synthetic task.</p>"
            "<p>Runs offline. Protected health information is never written to logs or reports.</p>")
