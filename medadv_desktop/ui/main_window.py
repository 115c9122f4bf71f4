"""The main window: construction and wiring only.

It builds the widgets (viewer in the centre, docks around it, menus, toolbar,
status bar), the :class:`~medadv_desktop.ui.session.Session` (state, jobs,
signals) and one controller per feature (``ui/controllers/``), and connects
actions to controllers. State lives in the session; behaviour in the
controllers; the window keeps only layout, geometry and the error box.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QIcon
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QMessageBox, QToolBar

from medadv_desktop import __version__
from medadv_desktop.ui.actions import ActionId, create_action
from medadv_desktop.ui.controllers.attack import AttackController
from medadv_desktop.ui.controllers.corruption import CorruptionController
from medadv_desktop.ui.controllers.export import ExportController
from medadv_desktop.ui.controllers.jobs import JobsController
from medadv_desktop.ui.controllers.model import ModelController
from medadv_desktop.ui.controllers.results import ResultsController
from medadv_desktop.ui.controllers.studies import StudiesController
from medadv_desktop.ui.controllers.training import TrainingController
from medadv_desktop.ui.controllers.viewer import ViewerController
from medadv_desktop.ui.dialogs.shortcuts import ShortcutsDialog
from medadv_desktop.ui.session import APP_TITLE, DEMO_TITLE, Session
from medadv_desktop.ui.settings import KEY_GEOMETRY, KEY_OPACITY, KEY_STATE, STATE_VERSION, SettingsStore, make_settings
from medadv_desktop.ui.widgets.attack_panel import AttackPanel
from medadv_desktop.ui.widgets.common import make_dock
from medadv_desktop.ui.widgets.corruption_panel import CorruptionPanel
from medadv_desktop.ui.widgets.jobs_panel import JobsPanel
from medadv_desktop.ui.widgets.model_panel import ModelPanel
from medadv_desktop.ui.widgets.results_panel import ResultsPanel
from medadv_desktop.ui.widgets.status_bar import StatusBar
from medadv_desktop.ui.widgets.study_browser import StudyBrowser
from medadv_desktop.ui.widgets.tag_browser import TagBrowser
from medadv_desktop.ui.widgets.training_panel import TrainingPanel
from medadv_desktop.ui.widgets.viewer import ADVERSARIAL, DIFFERENCE, ORIGINAL, SIDE_BY_SIDE, ViewerWidget

__all__ = ["APP_TITLE", "DEMO_TITLE", "MainWindow", "make_settings"]

DOCK_STUDIES, DOCK_TAGS, DOCK_MODEL, DOCK_ATTACK, DOCK_JOBS, DOCK_RESULTS = (
    "dock_studies", "dock_tags", "dock_model", "dock_attack", "dock_jobs", "dock_results")
DOCK_CORRUPTIONS = "dock_corruptions"   # a tab beside the attack dock; not in ``docks``
DOCK_TRAINING = "dock_training"      # hidden until Model ▸ Adversarial Training; not in ``docks``
VIEW_ACTIONS = {ORIGINAL: ActionId.VIEW_ORIGINAL, ADVERSARIAL: ActionId.VIEW_ADVERSARIAL,
                DIFFERENCE: ActionId.VIEW_DIFFERENCE, SIDE_BY_SIDE: ActionId.VIEW_SIDE_BY_SIDE}


class MainWindow(QMainWindow):
    """MedAdv Desktop's main window."""

    def __init__(self, settings: QSettings | None = None, *, restore: bool = True) -> None:
        super().__init__()
        self.setObjectName("main_window")
        self.store = SettingsStore(settings)
        self.settings = self.store.qsettings
        self.session = Session(self)
        self.actions: dict[str, QAction] = {}
        self.error_box: QMessageBox | None = None
        self._shown_once = False
        self._build_widgets()
        self._build_controllers()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._wire()
        self._state_restored = self.restore_settings() if restore else False
        self._update_title()

    # ------------------------------------------------------------------ construction
    def _build_widgets(self) -> None:
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
        self.corruption_panel = CorruptionPanel()
        self.jobs_panel = JobsPanel()
        self.results_panel = ResultsPanel()
        self.training_panel = TrainingPanel()
        self.docks: dict[str, QDockWidget] = {
            DOCK_STUDIES: make_dock("Studies", DOCK_STUDIES, self.study_browser, self),
            DOCK_TAGS: make_dock("DICOM Tags", DOCK_TAGS, self.tag_browser, self),
            DOCK_MODEL: make_dock("Model", DOCK_MODEL, self.model_panel, self, scroll=True),
            DOCK_ATTACK: make_dock("Attack", DOCK_ATTACK, self.attack_panel, self),
            DOCK_JOBS: make_dock("Jobs", DOCK_JOBS, self.jobs_panel, self),
            DOCK_RESULTS: make_dock("Results", DOCK_RESULTS, self.results_panel, self),
        }
        self.corruption_dock = make_dock("Corruptions", DOCK_CORRUPTIONS, self.corruption_panel, self, scroll=True)
        self.training_dock = make_dock("Adversarial Training", DOCK_TRAINING, self.training_panel, self)
        for key, width in ((DOCK_STUDIES, 200), (DOCK_TAGS, 200), (DOCK_MODEL, 290), (DOCK_ATTACK, 290)):
            self.docks[key].setMinimumWidth(width)
        self.setDockOptions(QMainWindow.AnimatedDocks | QMainWindow.AllowTabbedDocks | QMainWindow.AllowNestedDocks)
        self.setCorner(Qt.BottomLeftCorner, Qt.LeftDockWidgetArea)
        self.setCorner(Qt.BottomRightCorner, Qt.RightDockWidgetArea)
        self.default_layout()
        self.setAcceptDrops(True)
        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.setObjectName("recent_menu")

    def _build_controllers(self) -> None:
        s, store = self.session, self.store
        self.jobs = JobsController(s, self.jobs_panel, self.status)
        self.viewer_control = ViewerController(s, self.viewer)
        self.studies = StudiesController(s, self.study_browser, self.tag_browser, store, self.recent_menu, self)
        self.models = ModelController(s, self.model_panel, self.status, store, self)
        self.attacks = AttackController(s, self.attack_panel, store)
        self.corruptions = CorruptionController(s, self.corruption_panel, self.viewer, self.results_panel)
        self.results = ResultsController(s, self.results_panel)
        self.training = TrainingController(s, self.training_panel, self.attack_panel, store)
        self.exporter = ExportController(s, store, self)

    def _build_actions(self) -> None:
        for action_id, slot in (
            (ActionId.OPEN_FILE, self.studies.open_file_dialog),
            (ActionId.OPEN_FOLDER, self.studies.open_folder_dialog),
            (ActionId.OPEN_DEMO, self.open_demo),
            (ActionId.CLEAR_RECENT, self.studies.clear_recent),
            (ActionId.LOAD_MODEL, self.models.load_model_dialog),
            (ActionId.CREATE_CARD, self.models.create_card_dialog),
            (ActionId.ADVERSARIAL_TRAINING, self.show_training),
            (ActionId.EXPORT_REPORT, self.exporter.export_current),
            (ActionId.REPORT_SIGNOFF, self.exporter.edit_signoff),
            (ActionId.QUIT, self.close),
            (ActionId.RUN_ATTACK, self.attacks.run_current),
            (ActionId.CANCEL_JOB, self.jobs.cancel),
            (ActionId.RESET_VIEW, self.viewer.reset_view),
            (ActionId.NEXT_SLICE, lambda: self.session.set_slice(self.session.current_slice + 1)),
            (ActionId.PREV_SLICE, lambda: self.session.set_slice(self.session.current_slice - 1)),
            (ActionId.RESET_LAYOUT, self.reset_layout),
            (ActionId.ABOUT, self.show_about),
            (ActionId.SHORTCUTS, self.show_shortcuts),
        ):
            self.actions[action_id] = create_action(self, action_id, slot)
        for mode, action_id in VIEW_ACTIONS.items():
            action = create_action(self, action_id)
            action.triggered.connect(lambda _c=False, m=mode: self.viewer.set_mode(m))
            self.actions[action_id] = action
        self.actions[ActionId.TOGGLE_HEATMAP] = create_action(self, ActionId.TOGGLE_HEATMAP,
                                                              self.viewer.set_heatmap_visible)
        self.actions[ActionId.VIEW_ORIGINAL].setChecked(True)
        self.studies.clear_recent_action = self.actions[ActionId.CLEAR_RECENT]
        self.actions[ActionId.REMEMBER_RECENT] = self.studies.make_remember_action(
            create_action(self, ActionId.REMEMBER_RECENT))

    def _build_menus(self) -> None:
        a = self.actions
        menus = {name: self.menuBar().addMenu(name) for name in ("&File", "&Model", "&Attack", "&View", "&Help")}
        file_menu = menus["&File"]
        for action_id in (ActionId.OPEN_FILE, ActionId.OPEN_FOLDER, ActionId.OPEN_DEMO):
            file_menu.addAction(a[action_id])
        file_menu.addMenu(self.recent_menu)
        for action_id in (None, ActionId.EXPORT_REPORT, ActionId.REPORT_SIGNOFF, None, ActionId.QUIT):
            file_menu.addSeparator() if action_id is None else file_menu.addAction(a[action_id])
        for action_id in (ActionId.LOAD_MODEL, ActionId.CREATE_CARD, None, ActionId.ADVERSARIAL_TRAINING):
            menus["&Model"].addSeparator() if action_id is None else menus["&Model"].addAction(a[action_id])
        menus["&Attack"].addAction(a[ActionId.RUN_ATTACK])
        menus["&Attack"].addAction(a[ActionId.CANCEL_JOB])
        view = menus["&View"]
        for action_id in (*VIEW_ACTIONS.values(), ActionId.TOGGLE_HEATMAP, None, ActionId.RESET_VIEW,
                          ActionId.PREV_SLICE, ActionId.NEXT_SLICE, None):
            view.addSeparator() if action_id is None else view.addAction(a[action_id])
        panels = view.addMenu("&Panels")
        for dock in (*self.docks.values(), self.corruption_dock, self.training_dock):
            panels.addAction(dock.toggleViewAction())
        view.addAction(a[ActionId.RESET_LAYOUT])
        menus["&Help"].addAction(a[ActionId.SHORTCUTS])
        menus["&Help"].addAction(a[ActionId.ABOUT])
        self.studies.refresh_recent_menu()

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main", self)
        bar.setObjectName("toolbar_main")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonTextOnly)
        for action_id in (ActionId.OPEN_FILE, ActionId.OPEN_FOLDER, ActionId.OPEN_DEMO, None,
                          ActionId.LOAD_MODEL, ActionId.CREATE_CARD, None, ActionId.RUN_ATTACK,
                          ActionId.CANCEL_JOB, None, ActionId.ADVERSARIAL_TRAINING, None, ActionId.EXPORT_REPORT):
            bar.addSeparator() if action_id is None else bar.addAction(self.actions[action_id])
        self.addToolBar(Qt.TopToolBarArea, bar)
        self.toolbar = bar

    def _wire(self) -> None:
        s, a = self.session, self.actions
        for signal in (s.current_study_changed, s.model_changed, s.studies_changed):
            signal.connect(lambda *_args: self._update_title())
        s.error_raised.connect(self.show_error)
        s.jobs_changed.connect(self.update_actions)
        s.current_result_changed.connect(lambda _e: self.update_actions())
        self.attacks.run_state_changed.connect(a[ActionId.RUN_ATTACK].setEnabled)
        self.training.sig_unsaved.connect(self.exporter.offer_save_elsewhere)
        self.viewer.sig_cursor_text.connect(self.status.cursor.setText)
        self.viewer.sig_mode_changed.connect(lambda m: [act.setChecked(mode == m)
                                                        for mode, act in ((k, a[v]) for k, v in VIEW_ACTIONS.items())])
        self.viewer.heatmap_check.toggled.connect(self._sync_heatmap_action)
        self.update_actions()

    # ------------------------------------------------------------------ layout
    def default_layout(self) -> None:
        """Left: studies over tags; right: model over attack (corruptions in a tab beside it); bottom: results beside jobs."""
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
        self.corruption_dock.setFloating(False)
        self.corruption_dock.show()
        self.tabifyDockWidget(d[DOCK_ATTACK], self.corruption_dock)
        d[DOCK_ATTACK].raise_()
        self.addDockWidget(Qt.BottomDockWidgetArea, d[DOCK_RESULTS])
        self.addDockWidget(Qt.BottomDockWidgetArea, d[DOCK_JOBS])
        self.splitDockWidget(d[DOCK_RESULTS], d[DOCK_JOBS], Qt.Horizontal)
        self.training_dock.setFloating(False)
        self.addDockWidget(Qt.BottomDockWidgetArea, self.training_dock)   # tabbed when first shown: a hidden
        self.training_dock.hide()                                         # tab left a ghost tab bar on the viewer
        d[DOCK_RESULTS].raise_()
        self.default_dock_sizes()

    def reset_layout(self) -> None:
        self.default_layout()
        QTimer.singleShot(0, self.default_dock_sizes)

    def default_dock_sizes(self) -> None:
        """Dock sizes as fractions of the window, so 1280x800 and 1600x1000 both look right."""
        d = self.docks
        w, h = max(self.width(), 1000), max(self.height(), 700)
        side_left, side_right = max(210, int(w * 0.17)), max(300, int(w * 0.22))
        self.resizeDocks([d[DOCK_STUDIES], d[DOCK_MODEL]], [side_left, side_right], Qt.Horizontal)
        self.resizeDocks([d[DOCK_STUDIES], d[DOCK_TAGS]], [int(h * 0.3), int(h * 0.5)], Qt.Vertical)
        self.resizeDocks([d[DOCK_MODEL], d[DOCK_ATTACK]], [int(h * 0.28), int(h * 0.66)], Qt.Vertical)
        self.resizeDocks([d[DOCK_RESULTS]], [int(h * 0.3)], Qt.Vertical)
        bottom = w - side_left - side_right
        self.resizeDocks([d[DOCK_RESULTS], d[DOCK_JOBS]], [int(bottom * 0.64), int(bottom * 0.36)], Qt.Horizontal)

    def show_training(self) -> None:
        """Model ▸ Adversarial Training: the Training dock, with the Jobs panel joining the bottom tabs
        the first time so the training panel gets the full width (View ▸ Reset Layout restores it)."""
        dock = self.training_dock
        was_hidden = not dock.isVisible()
        results = self.docks[DOCK_RESULTS]
        if was_hidden and not dock.isFloating() and self.dockWidgetArea(dock) == Qt.BottomDockWidgetArea and \
                not results.isFloating() and self.dockWidgetArea(results) == Qt.BottomDockWidgetArea and \
                dock not in self.tabifiedDockWidgets(results):
            self.tabifyDockWidget(results, dock)
        dock.show()
        if was_hidden and not dock.isFloating() and self.dockWidgetArea(dock) == Qt.BottomDockWidgetArea:
            jobs = self.docks[DOCK_JOBS]
            if not jobs.isFloating() and self.dockWidgetArea(jobs) == Qt.BottomDockWidgetArea and \
                    dock not in self.tabifiedDockWidgets(jobs):
                self.tabifyDockWidget(dock, jobs)
            self.resizeDocks([dock], [max(340, int(self.height() * 0.46))], Qt.Vertical)
        dock.raise_()

    # ------------------------------------------------------------------ state shown by the window
    def open_demo(self) -> None:
        self.studies.open_demo()
        self.models.load_demo_model()
        self._update_title()

    def update_actions(self) -> None:
        long_job = self.session.long_job_running
        self.actions[ActionId.CANCEL_JOB].setEnabled(long_job)
        self.actions[ActionId.EXPORT_REPORT].setEnabled(self.exporter.can_export())
        self.actions[ActionId.RUN_ATTACK].setEnabled(self.attacks.can_run)

    def _update_title(self) -> None:
        self.setWindowTitle(self.session.window_title())

    def _sync_heatmap_action(self, on: bool) -> None:
        action = self.actions[ActionId.TOGGLE_HEATMAP]
        if action.isChecked() != on:
            action.blockSignals(True)
            action.setChecked(on)
            action.blockSignals(False)

    def show_error(self, message: str, title: str = "Error") -> None:
        """Show a user-facing error without blocking; the application keeps working."""
        box = QMessageBox(QMessageBox.Warning, f"{APP_TITLE}: {title}", message, QMessageBox.Ok, self)
        box.setModal(False)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.show()
        self.error_box = box

    def show_shortcuts(self) -> None:
        self.shortcuts_dialog = ShortcutsDialog(list(self.actions.values()), self)
        self.shortcuts_dialog.show()

    def show_about(self) -> None:
        infos = self.session.attack_infos
        attacks = f" ({', '.join(i.label for i in infos)})" if infos else ""
        QMessageBox.about(
            self, f"About {APP_TITLE}",
            f"<h3>{APP_TITLE} {__version__}</h3>"
            f"<p>Tests how easily medical image classifiers are fooled by adversarial attacks{attacks}, "
            "hardens them by adversarial training, and exports de-identified reports.</p>"
            "<p><b>For research and quality assurance. Not a medical device; not for clinical use.</b> "
            "The bundled demo is a synthetic task.</p>"
            "<p>Runs offline. Protected health information is never written to logs or reports.</p>")

    # ------------------------------------------------------------------ settings
    def save_settings(self) -> None:
        self.store.set_value(KEY_GEOMETRY, self.saveGeometry())
        self.store.set_value(KEY_STATE, self.saveState(STATE_VERSION))
        self.store.set_value(KEY_OPACITY, self.viewer.opacity_slider.value())
        self.attacks.save_settings()
        self.training.save_settings()
        self.store.sync()

    def restore_settings(self) -> bool:
        self.viewer.set_heatmap_opacity(self.store.int(KEY_OPACITY, self.viewer.opacity_slider.value()) / 100)
        geometry, state = self.store.bytes(KEY_GEOMETRY), self.store.bytes(KEY_STATE)
        restored = self.restoreGeometry(geometry) if geometry is not None else False
        if state is not None:
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
            self.studies.open_paths(images)
        for card in cards:
            self.models.load_model(card)
        event.acceptProposedAction()

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            if not self._state_restored:
                QTimer.singleShot(0, self.default_dock_sizes)

    def closeEvent(self, event) -> None:  # noqa: N802
        self.save_settings()
        self.session.shutdown()
        super().closeEvent(event)
