"""Run engine jobs off the UI thread, one after the other, each with its own callbacks.

One :class:`JobRunner` lives on one QThread (owned by :class:`JobWorker`).
The UI submits a :class:`JobRequest` whose ``factory(cancel)`` is called ON
THE WORKER THREAD and returns either an engine job generator (``Job[T]``:
yields :class:`Progress`, returns the result) or a plain result. The runner
drives the generator with the engine's :func:`~medadv_desktop.engine.jobs.run_job`
(throttled by the engine's one throttle); Qt queues requests in the worker's
event loop, so jobs run serially in submission order.

Each request carries its own callbacks (superqt's generator-worker shape:
``on_result``, ``on_error``, ``on_cancelled``, ``on_progress``,
``on_finished``), called back on the UI thread; nothing is routed by a kind
name. ``on_cancelled`` receives what the engine kept
(:attr:`JobCancelled.partial`, e.g. a partial evaluation) or None.

Cancellation is cooperative through the request's :class:`CancelToken`
(thread-safe): engine jobs check it at least once per attack step, and the
runner checks it between events. A job that raises is reported through
``on_error`` with the user-facing message (``MedAdvError.user_message()``);
the worker keeps running. A callback that raises on the UI thread is caught,
logged and reported through :attr:`JobWorker.sig_callback_failed`.

Why not superqt's ``thread_worker``: it starts a QRunnable per job on a
thread pool (serial execution would need a private one-thread pool and its
own abort protocol), and it would add a dependency for what this ~250-line
module does with the engine's ``run_job`` and throttle.

No module is imported for the first time on the worker thread: the session
imports the worker-side stack on the UI thread before the first job
(:mod:`medadv_desktop.ui.engine_start`).

The cyclic garbage collector is paused while a job runs (:class:`CollectorPause`):
a collection on one thread while the other ran torch kernels or Qt's event loop
(both release the GIL) crashed the process in the test suite.
"""

from __future__ import annotations

import gc
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
class JobFailure:
    """What ``on_error`` gets: a message a user can act on, and details for the log."""

    message: str
    exception: BaseException | None = None
    details: str = ""


@dataclass(eq=False)
class JobRequest:
    """A job waiting for, or running on, the worker, with the callbacks of its outcome."""

    title: str                                              # shown in the jobs panel; never PHI
    factory: Callable[[CancelToken], Any]                   # runs on the worker thread
    on_result: Callable[[Any], None] | None = None
    on_error: Callable[[JobFailure], None] | None = None
    on_cancelled: Callable[[Any], None] | None = None       # gets JobCancelled.partial (or None)
    on_progress: Callable[[Progress], None] | None = None
    on_finished: Callable[[str], None] | None = None        # done / cancelled / failed, after the above
    quiet: bool = False              # background work (slice predictions): not listed, never blocks Run
    cancel: CancelToken = field(default_factory=CancelToken)
    job_id: int = field(default_factory=lambda: next(_ids))
    submitted: float = field(default_factory=time.monotonic)
    status: str = QUEUED


_local = threading.local()


def report_progress(event: Progress) -> None:
    """Forward a progress event from inside a running job (an attack's per-step events).

    Pass it as a callback to engine code that reports during a long step
    (``on_attack_progress=report_progress``). A no-op outside a job; events are
    throttled like the job's own.
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


class CollectorPause:
    """Pause CPython's automatic cyclic garbage collection while worker jobs run.

    Why: the collector runs on whichever thread happens to allocate, and walks every tracked object.
    Torch releases the GIL inside its kernels and Qt runs C++ on the UI thread without it, so a
    collection on one thread could traverse objects the other thread was changing. The test suite
    crashed this way with a segmentation fault ("Garbage-collecting" in faulthandler's dump) in
    both directions: the UI thread collecting while the worker deep-copied and traced a model
    (BatchNorm folding), and the worker collecting (inside pydicom) while the UI thread ran
    Qt's event loop. Reference counting still frees everything that is not in a cycle; the
    cycles a job leaves are collected by the UI thread's next automatic collection once no job
    runs (the collector state from before the first job is restored). The worker thread itself
    never collects: it allocates only while a job runs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._was_enabled = False

    def __enter__(self) -> CollectorPause:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._was_enabled:
                gc.enable()

    @property
    def active(self) -> bool:
        return self._depth > 0


#: The one pause shared by every runner (the collector is process-wide).
COLLECTOR_PAUSE = CollectorPause()


class JobRunner(QObject):
    """Drives job generators on the worker thread and reports through signals."""

    sig_started = Signal(object)             # JobRequest
    sig_progress = Signal(object, object)    # JobRequest, Progress
    sig_result = Signal(object, object)      # JobRequest, result
    sig_error = Signal(object, object)       # JobRequest, JobFailure
    sig_cancelled = Signal(object, object)   # JobRequest, partial result or None
    sig_finished = Signal(object, str)       # JobRequest, status

    #: Minimum seconds between two forwarded progress events (the last always goes).
    progress_interval_s = 0.1

    def __init__(self) -> None:
        super().__init__()
        self._threads_set = False

    @Slot(object)
    def run(self, request: JobRequest) -> None:
        """Run one request to the end. Never raises."""
        if request.cancel.cancelled:
            self.sig_cancelled.emit(request, None)
            self.sig_finished.emit(request, CANCELLED)
            return
        self.sig_started.emit(request)
        status = DONE

        def emit(event: Progress) -> None:
            self.sig_progress.emit(request, event)

        _local.sink = ProgressCallback(callback=emit, interval_s=self.progress_interval_s).report
        with COLLECTOR_PAUSE:  # no cyclic collection on any thread while the job runs
            try:
                self._set_threads()
                outcome = request.factory(request.cancel)
                if _is_generator(outcome):
                    outcome = run_job(outcome, emit, cancel=request.cancel, interval_s=self.progress_interval_s)
                # a job that ran to its end is done, even if a cancel arrived after its last step:
                # what it made is handed over, not discarded
                self.sig_result.emit(request, outcome)
            except JobCancelled as stop:
                status = CANCELLED
                self.sig_cancelled.emit(request, stop.partial)
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
    """Owns the worker QThread and its :class:`JobRunner`; calls each request's callbacks on the UI thread.

    ``submit(request)`` queues a job; ``cancel(job_id)`` / ``cancel_all()`` set
    tokens. The generic signals (submitted, started, progress, finished) are
    for displays of every job (jobs panel, status bar).
    """

    sig_submitted = Signal(object)
    sig_started = Signal(object)
    sig_progress = Signal(object, object)
    sig_finished = Signal(object, str)
    sig_callback_failed = Signal(object, str)     # JobRequest, message: a UI callback raised
    _sig_run = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("medadv-worker")
        self.runner = JobRunner()
        self.runner.moveToThread(self.thread)
        self._sig_run.connect(self.runner.run)
        self.runner.sig_started.connect(self._on_started)
        self.runner.sig_progress.connect(self._on_progress)
        self.runner.sig_result.connect(self._on_result)
        self.runner.sig_error.connect(self._on_error)
        self.runner.sig_cancelled.connect(self._on_cancelled)
        self.runner.sig_finished.connect(self._on_finished)
        self.jobs: dict[int, JobRequest] = {}     # queued or running
        self.current: JobRequest | None = None
        self.thread.start()

    def submit(self, request: JobRequest, *, announce: bool = True) -> JobRequest:
        """Queue ``request``; ``announce=False``: ``sig_submitted`` went out already (held by the session)."""
        self.jobs[request.job_id] = request
        if announce:
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

    def pending(self) -> list[JobRequest]:
        return list(self.jobs.values())

    @property
    def busy(self) -> bool:
        return bool(self.jobs)

    # -- dispatch on the UI thread -------------------------------------------------------
    def _call(self, request: JobRequest, callback: Callable[..., None] | None, *args: Any) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception as exc:  # noqa: BLE001 - the UI keeps working; the session shows it
            log.exception("a callback of job '%s' failed", request.title)
            self.sig_callback_failed.emit(request, f"Showing the outcome of '{request.title}' failed: "
                                                   f"{exc.__class__.__name__}: {exc}")

    def _on_started(self, request: JobRequest) -> None:
        self.current = request
        request.status = RUNNING
        self.sig_started.emit(request)

    def _on_progress(self, request: JobRequest, event: Progress) -> None:
        self._call(request, request.on_progress, event)
        self.sig_progress.emit(request, event)

    def _on_result(self, request: JobRequest, value: Any) -> None:
        self._call(request, request.on_result, value)

    def _on_error(self, request: JobRequest, failure: JobFailure) -> None:
        self._call(request, request.on_error, failure)

    def _on_cancelled(self, request: JobRequest, partial: Any) -> None:
        self._call(request, request.on_cancelled, partial)

    def _on_finished(self, request: JobRequest, status: str) -> None:
        self.jobs.pop(request.job_id, None)
        request.status = status
        if self.current is request:
            self.current = None
        self._call(request, request.on_finished, status)
        self.sig_finished.emit(request, status)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel everything and stop the thread (called when the window closes)."""
        self.cancel_all()
        self.thread.quit()
        if not self.thread.wait(timeout_ms):
            log.warning("worker thread did not stop within %d ms", timeout_ms)
