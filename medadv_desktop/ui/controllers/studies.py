"""Studies: open files, folders and the demo (as jobs), recent files, the study list and the tag browser.

Privacy (issue 14): file and folder names can carry a patient's name, so
what this controller sends to the status bar, the job log and error boxes
names no path: a failed open is described as "the folder"/"the file" and the
files refused are listed by name only in the Studies panel of the running
session. The recent-files menu shows the pseudonyms a path opened, unless the
user opted in to remembering paths (then the file name, as they chose).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from medadv_desktop.engine.jobs import CancelToken
from medadv_desktop.ui.privacy import redact_path
from medadv_desktop.ui.session import Session
from medadv_desktop.ui.settings import SettingsStore
from medadv_desktop.ui.widgets.study_browser import StudyBrowser
from medadv_desktop.ui.widgets.tag_browser import TagBrowser
from medadv_desktop.ui.worker import JobFailure, JobRequest

IMAGE_FILTER = ("Images (*.dcm *.DCM *.dicom *.ima *.nii *.nii.gz *.img *.hdr *.png *.jpg *.jpeg *.tif *.tiff);;"
                "All files (*)")


def _open_path_job(path: Path, cancel: CancelToken):
    """The engine's cancellable loader job (progress per file)."""
    from medadv_desktop.engine.io.reader import open_path_job

    return open_path_job(path, cancel=cancel)


class StudiesController(QObject):
    """Opens studies into the session and keeps the Studies and DICOM Tags docks in step with it."""

    def __init__(self, session: Session, browser: StudyBrowser, tags: TagBrowser, settings: SettingsStore,
                 recent_menu: QMenu, dialog_parent: QWidget) -> None:
        super().__init__(session)
        self.session, self.browser, self.tags = session, browser, tags
        self.settings, self.recent_menu, self.parent = settings, recent_menu, dialog_parent
        self.clear_recent_action: Any = None
        self.remember_recent_action: QAction | None = None
        browser.sig_study_selected.connect(session.select_study)
        session.studies_changed.connect(lambda: browser.set_studies(session.studies, session.current_index))
        session.current_study_changed.connect(self._on_current)

    # -- opening ---------------------------------------------------------------
    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.parent, "Open image file", self.settings.last_dir(),
                                              IMAGE_FILTER)
        self.settings.after_study_dialog()
        if path:
            self.open_paths([path])

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.parent, "Open folder", self.settings.last_dir())
        self.settings.after_study_dialog()
        if folder:
            self.open_paths([folder])

    def open_demo(self) -> list[JobRequest]:
        """The bundled synthetic demo study (the model controller loads the demo model)."""
        from medadv_desktop.paths import resources_dir

        self.session.demo = True
        study_dir = resources_dir() / "demo_study"
        if not study_dir.exists():
            self.session.report_error(f"The demo study is missing ({study_dir.name}); reinstall MedAdv Desktop.",
                                      title="Demo")
            return []
        return self.open_paths([study_dir], remember=False)

    def open_paths(self, paths: Sequence[str | Path], *, remember: bool = True) -> list[JobRequest]:
        requests = []
        for path in paths:
            path = Path(path)
            if remember:
                self.settings.add_recent(path)
                self.refresh_recent_menu()
            # job titles go to the log: no file names (they may hold patient names)
            what = "folder" if path.is_dir() else "file"
            requests.append(self.session.submit(JobRequest(
                f"Open {what}", lambda cancel, p=path: _open_path_job(p, cancel),
                on_result=lambda report, p=path: self._loaded(p, report),
                on_error=lambda failure, p=path, w=what: self._open_failed(p, w, failure))))
        return requests

    def _open_failed(self, path: Path, what: str, failure: JobFailure) -> None:
        self.settings.set_recent_label(path, f"{what} that could not be opened")
        self.refresh_recent_menu()
        message = redact_path(failure.message, path, getattr(failure.exception, "path", None))
        self.session.report_error(message, title=f"Open {what}")

    def _loaded(self, path: Path, report: Any) -> None:
        studies = list(report.studies)
        failures = list(report.failures)
        what = "folder" if path.is_dir() else "file"
        if failures:
            self.browser.add_failures(failures)
        if not studies:
            self.settings.set_recent_label(path, f"{what} with nothing readable")
            self.refresh_recent_menu()
            reasons = sorted({reason for _p, reason in failures})
            lines = "\n".join(f"• {redact_path(r, path, *(p for p, _r in failures))}" for r in reasons[:8])
            self.session.report_error(
                f"Nothing could be opened from the {what} ({len(failures)} file(s) refused; the Studies panel "
                f"lists them).\n{lines or 'No images were found.'}", title="Open")
            return
        label = ", ".join(f"{s.pseudonym} ({s.modality})" for s in studies[:2]) + (" …" if len(studies) > 2 else "")
        self.settings.set_recent_label(path, label)
        self.refresh_recent_menu()
        self.session.add_studies(studies)
        self.session.message.emit(
            f"Opened {len(studies)} stud{'y' if len(studies) == 1 else 'ies'}: "
            + ", ".join(f"{s.pseudonym} ({s.modality})" for s in studies[:5])
            + (f"; {len(failures)} file(s) not loaded (listed in the Studies panel)" if failures else ""))

    def _on_current(self, index: int) -> None:
        study = self.session.study
        self.browser.set_current(index)
        self.tags.set_header(study.header if study is not None else [])
        if study is not None:
            rows, cols = study.shape2d
            self.session.message.emit(f"{study.pseudonym or 'Study'}: {study.modality}, "
                                      f"{study.n_slices} slice(s) of {cols}×{rows}")

    # -- recent files -------------------------------------------------------------
    def make_remember_action(self, action: QAction) -> QAction:
        """Wire the opt-in "Remember recent study paths between launches" (checked from the settings)."""
        action.blockSignals(True)
        action.setChecked(self.settings.remember_recent)
        action.blockSignals(False)
        action.toggled.connect(self.set_remember_recent)
        self.remember_recent_action = action
        self.refresh_recent_menu()
        return action

    def set_remember_recent(self, on: bool) -> None:
        self.settings.set_remember_recent(on)
        self.refresh_recent_menu()
        self.session.message.emit("Recent study paths will be remembered between launches" if on else
                                  "Recent study paths are kept for this session only (none stored)")

    def clear_recent(self) -> None:
        self.settings.clear_recent()
        self.refresh_recent_menu()

    def recent_text(self, path: str) -> str:
        """What the menu shows for ``path``: its name when the user opted in to storing paths, else the
        pseudonyms it opened (never the name, which may carry a patient's name)."""
        if self.settings.remember_recent:
            return Path(path).name
        return self.settings.recent_label(path) or ("folder being opened" if Path(path).is_dir()
                                                    else "file being opened")

    def refresh_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        recent = self.settings.recent_files()
        remember = self.settings.remember_recent
        for i, path in enumerate(recent):
            action = menu.addAction(f"&{(i + 1) % 10} {self.recent_text(path)}")
            if remember:
                action.setToolTip(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_paths([p]))
        if recent:
            menu.addSeparator()
        if self.clear_recent_action is not None:
            menu.addAction(self.clear_recent_action)
        if self.remember_recent_action is not None:
            menu.addAction(self.remember_recent_action)
        menu.setEnabled(True)
