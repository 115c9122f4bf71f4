"""The one progress display of the command line (on stderr).

On a terminal: one updating line (bar, percent, message, ETA when the job
gives one), redrawn at most every 0.1 s. Otherwise (a pipe, a log file, CI):
a plain line whenever the job passes another tenth of its work. Lines that
must stay (a training epoch) are printed with :meth:`ProgressPrinter.line`,
which first clears the updating line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO

from medadv_desktop.engine.jobs import Progress, ProgressCallback

REDRAW_S = 0.1
WIDTH = 78


class ProgressPrinter:
    """Call it with each :class:`Progress` event; :meth:`close` at the end (also on errors)."""

    def __init__(self, stream: IO[str] | None = None, *, accept: Callable[[Progress], bool] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.accept = accept
        self._throttle = ProgressCallback(interval_s=REDRAW_S)
        self._tenth = -1
        self._open = False

    def __call__(self, event: Progress) -> None:
        if self.accept is not None and not self.accept(event):
            return
        frac = event.fraction
        eta = event.data.get("eta_s")
        eta_text = f" ETA {int(eta // 60)}:{int(eta % 60):02d}" if eta is not None and frac < 1 else ""
        if self.tty:
            if not self._throttle.due(force=frac >= 1):
                return
            filled = int(round(frac * 20))
            text = f"[{'#' * filled}{'-' * (20 - filled)}] {frac:4.0%} {event.message}"
            text = text[:WIDTH - len(eta_text)] + eta_text
            print(f"\r{text:{WIDTH}s}", end="", file=self.stream, flush=True)
            self._open = True
        elif int(frac * 10) != self._tenth:
            self._tenth = int(frac * 10)
            print(f"[{frac:4.0%}] {event.message}{eta_text}", file=self.stream, flush=True)

    def line(self, text: str, stream: IO[str] | None = None) -> None:
        """Print a line that stays (on stdout by default), clearing the updating line first."""
        self.clear()
        print(text, file=stream or sys.stdout, flush=True)

    def clear(self) -> None:
        if self.tty and self._open:
            print("\r" + " " * WIDTH + "\r", end="", file=self.stream, flush=True)
            self._open = False

    def restart(self) -> None:
        """A new job follows: count its tenths from zero."""
        self._tenth = -1

    def close(self) -> None:
        self.clear()

    def __enter__(self) -> ProgressPrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
