"""Long jobs: cancellable generators of progress events.

A job is a generator function that yields :class:`Progress` events and
*returns* its result (``return result`` inside the generator). The CLI drives it
with :func:`run_job`; the GUI drives the same generator from a worker on a
QThread and forwards every event as a signal.

Cancellation is cooperative: the job checks ``cancel.raise_if_cancelled()``
between steps (at least once per attack step) and raises :class:`JobCancelled`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, TypeVar

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


def run_job(job: Job[T], on_progress: Callable[[Progress], None] | None = None) -> T:
    """Drive a job generator to completion and return its result."""
    while True:
        try:
            event = next(job)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(event)


class ProgressCallback:
    """Adapter for code that reports progress by callback inside a generator job.

    Lower layers (an attack's inner loop) call ``report(...)`` and check
    ``cancel``; the owning job yields the queued events between batches.
    """

    def __init__(self, cancel: CancelToken | None = None,
                 callback: Callable[[Progress], None] | None = None) -> None:
        self.cancel = cancel or CancelToken()
        self.callback = callback
        self.queue: list[Progress] = []
        self._last = 0.0

    def report(self, event: Progress, *, throttle_s: float = 0.0) -> None:
        now = time.monotonic()
        if throttle_s and now - self._last < throttle_s:
            return
        self._last = now
        if self.callback is not None:
            self.callback(event)
        else:
            self.queue.append(event)

    def drain(self) -> list[Progress]:
        events, self.queue = self.queue, []
        return events

    def check(self) -> None:
        self.cancel.raise_if_cancelled()
