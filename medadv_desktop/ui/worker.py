"""Run engine jobs off the UI thread.

One :class:`JobRunner` lives on one QThread (owned by :class:`JobWorker`).
The UI submits a :class:`JobRequest` whose ``factory(cancel)`` is called ON
THE WORKER THREAD: it may import torch, load a model, and return either an
engine job generator (``Job[T]``: yields :class:`Progress`, returns the result)
or a plain result. The runner drives the generator with the engine's
:func:`~medadv_desktop.engine.jobs.run_job` and forwards events as signals
(throttled by the engine's one throttle, ``ProgressCallback``); Qt queues requests in the worker's event loop, so jobs run one after
the other in submission order.

Cancellation is cooperative through the request's :class:`CancelToken`
(thread-safe): engine jobs check it at least once per attack step, and the
runner checks it between events, so a cancel takes effect within one step.
A job that raises is reported through ``sig_error`` with the user-facing
message (``MedAdvError.user_message()``); the worker keeps running.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from medadv_desktop.engine.jobs import CancelToken, Progress, ProgressCallback, run_job
from medadv_desktop.errors import JobCancelled, MedAdvError

log = logging.getLogger(__name__)

_ids = itertools.count(1)

#: Job status values shown in the jobs panel.
QUEUED, RUNNING, DONE, CANCELLED, FAILED = "queued", "running", "done", "cancelled", "failed"


@dataclass
class JobRequest:
    """A job waiting for, or running on, the worker."""

    title: str                                  # shown in the jobs panel; never PHI
    factory: Callable[[CancelToken], Any]       # runs on the worker thread
    kind: str = "job"                           # "load", "model", "predict", "attack", "evaluate", ...
    cancel: CancelToken = field(default_factory=CancelToken)
    job_id: int = field(default_factory=lambda: next(_ids))
    quiet: bool = False                         # quiet jobs (slice predictions) stay out of the log
    context: dict[str, Any] = field(default_factory=dict)   # UI-side data returned with the result
    submitted: float = field(default_factory=time.monotonic)


@dataclass
class JobFailure:
    """What ``sig_error`` carries: a message a user can act on, and details for the log."""

    message: str
    exception: BaseException | None = None
    details: str = ""


_local = threading.local()


def report_progress(event: Progress) -> None:
    """Forward a progress event from inside a running job (e.g. an attack's per-step events).

    Pass it as a callback to engine code that reports during a long step
    (``attack_study_job(..., on_attack_progress=report_progress)``). It is a
    no-op outside a job; events are throttled like the job's own.
    """
    sink = getattr(_local, "sink", None)
    if sink is not None:
        sink(event)


def configure_torch_threads() -> int:
    """Leave one core to the UI thread: ``torch.set_num_threads(max(1, cpus - 1))``."""
    import torch

    n = max(1, (os.cpu_count() or 1) - 1)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


class JobRunner(QObject):
    """Drives job generators on the worker thread and reports through signals."""

    sig_started = Signal(object)             # JobRequest
    sig_progress = Signal(object, object)    # JobRequest, Progress
    sig_result = Signal(object, object)      # JobRequest, result
    sig_error = Signal(object, object)       # JobRequest, JobFailure
    sig_finished = Signal(object, str)       # JobRequest, status (done/cancelled/failed)

    #: Minimum seconds between two forwarded progress events (the last always goes).
    progress_interval_s = 0.05

    def __init__(self) -> None:
        super().__init__()
        self._threads_set = False

    @Slot(object)
    def run(self, request: JobRequest) -> None:
        """Run one request to the end. Never raises."""
        if request.cancel.cancelled:
            self.sig_finished.emit(request, CANCELLED)
            return
        self.sig_started.emit(request)
        status = DONE

        def emit(event: Progress) -> None:
            self.sig_progress.emit(request, event)

        _local.sink = ProgressCallback(callback=emit, interval_s=self.progress_interval_s).report
        try:
            outcome = request.factory(request.cancel)
            self._set_threads()
            if _is_generator(outcome):
                outcome = run_job(outcome, emit, cancel=request.cancel, interval_s=self.progress_interval_s)
            request.cancel.raise_if_cancelled()
            self.sig_result.emit(request, outcome)
        except JobCancelled:
            status = CANCELLED
        except MedAdvError as exc:
            status = FAILED
            self.sig_error.emit(request, JobFailure(exc.user_message(), exc))
        except Exception as exc:  # noqa: BLE001 - a job must never take the app down
            status = FAILED
            details = traceback.format_exc()
            log.error("job %s failed: %s", request.title, details)
            self.sig_error.emit(request, JobFailure(
                f"An unexpected error stopped '{request.title}': {exc.__class__.__name__}: {exc}\n"
                "The application keeps running; the log has the details.", exc, details))
        finally:
            _local.sink = None
        self.sig_finished.emit(request, status)

    def _set_threads(self) -> None:
        if not self._threads_set and "torch" in sys.modules:
            configure_torch_threads()
            self._threads_set = True


def _is_generator(obj: Any) -> bool:
    return hasattr(obj, "__next__") and hasattr(obj, "send") and hasattr(obj, "throw")


class JobWorker(QObject):
    """Owns the worker QThread and its :class:`JobRunner`; the UI's handle on jobs.

    ``submit(request)`` queues a job; ``cancel(job_id)`` / ``cancel_all()`` set
    tokens. Signals are re-emitted on the UI thread.
    """

    sig_submitted = Signal(object)
    sig_started = Signal(object)
    sig_progress = Signal(object, object)
    sig_result = Signal(object, object)
    sig_error = Signal(object, object)
    sig_finished = Signal(object, str)
    _sig_run = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("medadv-worker")
        self.runner = JobRunner()
        self.runner.moveToThread(self.thread)
        self._sig_run.connect(self.runner.run)
        self.runner.sig_started.connect(self._on_started)
        self.runner.sig_progress.connect(self.sig_progress)
        self.runner.sig_result.connect(self.sig_result)
        self.runner.sig_error.connect(self.sig_error)
        self.runner.sig_finished.connect(self._on_finished)
        self.jobs: dict[int, JobRequest] = {}     # queued or running
        self.current: JobRequest | None = None
        self.thread.start()

    def submit(self, request: JobRequest) -> JobRequest:
        self.jobs[request.job_id] = request
        self.sig_submitted.emit(request)
        self._sig_run.emit(request)
        return request

    def cancel(self, job_id: int) -> None:
        request = self.jobs.get(job_id)
        if request is not None:
            request.cancel.cancel()

    def cancel_all(self) -> None:
        for request in list(self.jobs.values()):
            request.cancel.cancel()

    def pending(self, kind: str | None = None) -> list[JobRequest]:
        return [r for r in self.jobs.values() if kind is None or r.kind == kind]

    @property
    def busy(self) -> bool:
        return bool(self.jobs)

    def _on_started(self, request: JobRequest) -> None:
        self.current = request
        self.sig_started.emit(request)

    def _on_finished(self, request: JobRequest, status: str) -> None:
        self.jobs.pop(request.job_id, None)
        if self.current is request:
            self.current = None
        self.sig_finished.emit(request, status)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel everything and stop the thread (called when the window closes)."""
        self.cancel_all()
        self.thread.quit()
        if not self.thread.wait(timeout_ms):
            log.warning("worker thread did not stop within %d ms", timeout_ms)
