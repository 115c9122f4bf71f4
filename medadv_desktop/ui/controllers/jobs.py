"""Jobs: every user job in the Jobs dock and the status bar; Cancel; the session's messages and errors."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject

from medadv_desktop.engine.jobs import Progress
from medadv_desktop.ui.session import Session
from medadv_desktop.ui.widgets.jobs_panel import JobsPanel
from medadv_desktop.ui.widgets.status_bar import StatusBar
from medadv_desktop.ui.worker import CANCELLED, DONE, JobRequest


class JobsController(QObject):
    """Shows the queue, progress (a busy bar while a job does not know its size) and the log (no PHI)."""

    def __init__(self, session: Session, panel: JobsPanel, status: StatusBar) -> None:
        super().__init__(session)
        self.session, self.panel, self.status = session, panel, status
        worker = session.worker
        worker.sig_submitted.connect(self._on_submitted)
        worker.sig_started.connect(self._on_started)
        worker.sig_progress.connect(self._on_progress)
        worker.sig_finished.connect(self._on_finished)
        panel.sig_cancel_requested.connect(lambda _id: self.cancel())
        session.message.connect(self._on_message)
        session.error_raised.connect(self._on_error)
        session.jobs_changed.connect(self._update)

    def cancel(self) -> None:
        for request in self.session.cancel_jobs():
            self.panel.append_log(f"cancel requested for #{request.job_id}")

    def _on_submitted(self, request: JobRequest) -> None:
        if request.quiet:
            return
        self.panel.add_job(request.job_id, request.title)
        self.panel.append_log(f"queued #{request.job_id}: {request.title}")

    def _on_started(self, request: JobRequest) -> None:
        if request.quiet:
            return
        self.panel.job_started(request.job_id, request.title)
        self.status.set_message(request.title + "…")
        self.status.set_progress(0.0)

    def _on_progress(self, request: JobRequest, event: Progress) -> None:
        if request.quiet:
            return
        unknown = not event.total
        self.panel.job_progress(request.job_id, event.fraction, event.message, indeterminate=unknown)
        self.status.set_progress(None if unknown else event.fraction)

    def _on_finished(self, request: JobRequest, status: str) -> None:
        if not request.quiet:
            self.panel.job_finished(request.job_id, status)
            elapsed = time.monotonic() - request.submitted
            self.panel.append_log(f"#{request.job_id} {status} ({elapsed:.1f} s): {request.title}")
            if status == CANCELLED:
                self.status.set_message(f"Cancelled: {request.title}")
            elif status == DONE:
                self.status.set_message(f"Done: {request.title}")
        if not self.session.busy:
            self.status.hide_progress()

    def _on_message(self, text: str) -> None:
        """Session messages go to the status bar and the log (they never hold file names or PHI)."""
        self.status.set_message(text)
        if text and text not in ("Ready",) and not text.endswith("…"):
            self.panel.append_log(text)

    def _on_error(self, message: str, title: str) -> None:
        first = message.splitlines()[0] if message else "Error"
        self.panel.append_log(f"{title} failed: {first}")
        self.status.set_message(message)

    def _update(self) -> None:
        self.panel.cancel_button.setEnabled(self.session.long_job_running)
