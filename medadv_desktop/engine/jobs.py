"""Long jobs: cancellable generators of progress events.

A job is a generator function that yields :class:`Progress` events and
*returns* its result (``return result`` inside the generator). The CLI drives it
with :func:`run_job`; the GUI drives the same generator with :func:`run_job` from a
worker on a QThread and forwards the events as signals. A job made of sub-jobs
re-yields their events with ``yield from`` (or :func:`relay` to map them).

Cancellation is cooperative: the job checks ``cancel.raise_if_cancelled()``
between steps (at least once per attack step) and raises :class:`JobCancelled`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from medadv_desktop.errors import JobCancelled

T = TypeVar("T")


@dataclass
class Progress:
    """One progress event of a job."""

    stage: str                 # e.g. "attack", "evaluate", "train", "report"
    done: float                # units done so far
    total: float               # units in all (0 if unknown)
    message: str = ""          # one line for a log or status bar; never PHI
    data: dict[str, Any] = field(default_factory=dict)  # e.g. {"loss": 0.3}
    milestone: bool = False    # said once and matters on its own (a warning, an up-front time estimate):
                               # the progress throttle never holds it back

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


Job = Generator[Progress, None, T]


class CancelToken:
    """Thread-safe flag a front end sets and a job polls."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self, partial=None) -> None:
        if self._event.is_set():
            raise JobCancelled(partial=partial)


NEVER_CANCELLED = CancelToken()


def run_job(job: Job[T], on_progress: Callable[[Progress], None] | None = None, *,
            cancel: CancelToken | None = None, interval_s: float = 0.0) -> T:
    """Drive a job generator to completion and return its result (the one driving loop).

    ``on_progress`` gets the job's events, at most one per ``interval_s``
    seconds (0: every event); an event held back by the throttle is delivered
    before the result, so the last state is never lost, and a
    :attr:`Progress.milestone` event (a warning, the up-front time estimate)
    always goes out. ``cancel`` is also
    checked between events (the job checks it itself inside long steps): a
    :class:`JobCancelled` is thrown into the job at its ``yield``, so a job
    may catch it and re-raise it with a partial result.
    """
    throttle = ProgressCallback(cancel, on_progress, interval_s=interval_s)
    pending: Progress | None = None
    while True:
        try:
            # a cancel is thrown into the job where it waits, so it can attach what it kept
            # (JobCancelled.partial) on its way out
            event = job.throw(JobCancelled()) if throttle.cancel.cancelled else next(job)
        except StopIteration as stop:
            if pending is not None:
                throttle.report(pending, force=True)
            return stop.value
        if on_progress is None:
            continue
        if event.milestone or throttle.due():
            pending = None
            throttle.report(event, force=True)
        else:
            pending = event


def relay(job: Job[T], *, transform: Callable[[Progress], Progress] | None = None,
          observe: Callable[[Progress], None] | None = None) -> Generator[Progress, None, T]:
    """Re-yield a sub-job's events (each optionally seen by ``observe`` and mapped by ``transform``)
    and return its result: ``result = yield from relay(inner, transform=...)`` inside an outer job."""
    while True:
        try:
            event = next(job)
        except StopIteration as stop:
            return stop.value
        if observe is not None:
            observe(event)
        yield transform(event) if transform is not None else event


class ProgressCallback:
    """Progress from code that reports by callback (an attack's inner loop), and the one progress throttle.

    Lower layers call :meth:`report` and :meth:`check` (cancellation); the
    events go to ``callback``, or are queued for the owning job to yield
    between batches (:meth:`drain`). :meth:`due` is the throttle every
    progress display uses: at most one event per ``interval_s`` seconds.
    """

    def __init__(self, cancel: CancelToken | None = None,
                 callback: Callable[[Progress], None] | None = None, *, interval_s: float = 0.0) -> None:
        self.cancel = cancel or CancelToken()
        self.callback = callback
        self.interval_s = float(interval_s)
        self.queue: list[Progress] = []
        self._last = -math.inf

    def due(self, *, interval_s: float | None = None, force: bool = False) -> bool:
        """True (and the clock restarted) when an event may go out now: ``force``, or at least
        ``interval_s`` (default: this callback's own) seconds after the last one that went out."""
        now = time.monotonic()
        interval = self.interval_s if interval_s is None else interval_s
        if not force and interval > 0 and now - self._last < interval:
            return False
        self._last = now
        return True

    def report(self, event: Progress, *, force: bool = False) -> None:
        """Send (or queue) ``event`` unless the throttle holds it back (``force``: always send)."""
        if not force and not self.due():
            return
        if self.callback is not None:
            self.callback(event)
        else:
            self.queue.append(event)

    def drain(self) -> list[Progress]:
        events, self.queue = self.queue, []
        return events

    def check(self) -> None:
        self.cancel.raise_if_cancelled()
