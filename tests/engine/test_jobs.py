"""engine/jobs.py: the one driving loop, the relay of sub-jobs, the one progress throttle."""

from __future__ import annotations

import pytest

from medadv_desktop.engine.jobs import CancelToken, Progress, ProgressCallback, relay, run_job
from medadv_desktop.errors import JobCancelled


def _job(n: int, cancel: CancelToken | None = None):
    for i in range(n):
        if cancel is not None and i == 2:
            cancel.cancel()
        yield Progress("count", i + 1, n, f"step {i + 1}")
    return "done"


def test_run_job_returns_the_result_and_delivers_every_event_unthrottled():
    seen: list[Progress] = []
    assert run_job(_job(5), seen.append) == "done"
    assert [e.done for e in seen] == [1, 2, 3, 4, 5] and all(e.stage == "count" and e.total == 5 for e in seen)


def test_run_job_throttles_but_never_loses_the_last_event():
    seen: list[Progress] = []
    assert run_job(_job(50), seen.append, interval_s=3600) == "done"
    assert [e.done for e in seen] == [1, 50]            # the first passes, the last is flushed before the result


def test_run_job_always_delivers_warnings_and_the_time_estimate():
    """The throttle holds back ordinary progress, never an event said once that matters on its own."""
    def job():
        for i in range(20):
            kind = {5: "warning", 9: "estimate", 12: "batch"}.get(i)
            yield Progress("count", i + 1, 20, f"step {i + 1}", {"kind": kind} if kind else {},
                           milestone=kind in ("warning", "estimate"))
        return "done"

    seen: list[Progress] = []
    assert run_job(job(), seen.append, interval_s=3600) == "done"
    assert [e.done for e in seen] == [1, 6, 10, 20]          # first, warning, estimate, last; not "batch"
    assert [e.milestone for e in seen] == [False, True, True, False]


def test_run_job_checks_the_cancel_token_between_events():
    token = CancelToken()
    with pytest.raises(JobCancelled):
        run_job(_job(10, token), cancel=token)


def test_relay_maps_and_observes_a_sub_job():
    observed: list[Progress] = []

    def outer():
        result = yield from relay(_job(3), transform=lambda e: Progress("outer", e.done / 3, 1.0, e.message),
                                  observe=observed.append)
        return result.upper()

    seen: list[Progress] = []
    assert run_job(outer(), seen.append) == "DONE"
    assert [e.stage for e in seen] == ["outer"] * 3 and seen[-1].fraction == 1.0
    assert [e.stage for e in observed] == ["count"] * 3


def test_progress_callback_throttle_and_queue():
    sent: list[Progress] = []
    cb = ProgressCallback(callback=sent.append, interval_s=3600)
    for i in range(5):
        cb.report(Progress("x", i, 5))
    cb.report(Progress("x", 5, 5), force=True)
    assert [e.done for e in sent] == [0, 5]
    assert cb.due(interval_s=0.0) and not cb.due()
    queued = ProgressCallback()
    queued.report(Progress("x", 1, 2))
    assert [e.done for e in queued.drain()] == [1] and queued.drain() == []
