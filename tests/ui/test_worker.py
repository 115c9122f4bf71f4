"""The QThread job worker: each request's callbacks, progress, errors in words, cancellation, thread use."""

from __future__ import annotations

import threading
import time

import pytest

from medadv_desktop.engine.jobs import Progress
from medadv_desktop.errors import JobCancelled, StudyError
from medadv_desktop.ui.worker import CANCELLED, DONE, FAILED, JobRequest, JobWorker


@pytest.fixture
def worker(qtbot):
    w = JobWorker()
    yield w
    w.shutdown()


def test_generator_job_runs_on_worker_thread_and_calls_its_own_callbacks(qtbot, worker):
    threads, results, progress, finished = [], [], [], []

    def factory(cancel):
        threads.append(threading.current_thread())

        def job():
            for i in range(3):
                yield Progress("test", i + 1, 3, f"step {i + 1}")
            return "answer"
        return job()

    worker.submit(JobRequest("test job", factory, on_result=results.append, on_progress=progress.append,
                             on_finished=finished.append))
    qtbot.waitUntil(lambda: finished == [DONE], timeout=5000)
    assert results == ["answer"]
    assert threads and threads[0] is not threading.main_thread()
    assert progress and progress[-1].done == 3      # the last event always goes through
    assert not worker.busy


def test_error_is_reported_in_words_and_worker_survives(qtbot, worker):
    def bad(cancel):
        raise StudyError("scan.dcm", "the file is truncated", hint="Export it again from PACS.")

    errors, results, statuses = [], [], []
    worker.sig_finished.connect(lambda r, s: statuses.append(s))
    worker.submit(JobRequest("bad job", bad, on_error=errors.append, on_result=results.append))
    worker.submit(JobRequest("good job", lambda cancel: 42, on_result=results.append))
    qtbot.waitUntil(lambda: statuses == [FAILED, DONE], timeout=5000)
    assert "truncated" in errors[0].message and "Export it again" in errors[0].message
    assert results == [42]


def test_unexpected_exception_becomes_message(qtbot, worker):
    errors = []
    worker.submit(JobRequest("crash", lambda cancel: 1 / 0, on_error=errors.append))
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert "ZeroDivisionError" in errors[0].message and "keeps running" in errors[0].message


def test_a_raising_callback_is_reported_not_lost(qtbot, worker):
    failed = []
    worker.sig_callback_failed.connect(lambda r, m: failed.append(m))

    def broken(_value):
        raise KeyError("oops")

    worker.submit(JobRequest("job", lambda cancel: 1, on_result=broken))
    qtbot.waitUntil(lambda: bool(failed), timeout=5000)
    assert "KeyError" in failed[0] and "job" in failed[0]


def test_cancel_stops_job_between_steps_and_hands_over_the_partial_result(qtbot, worker):
    def factory(cancel):
        def job():
            done = []
            try:
                for i in range(10_000):
                    time.sleep(0.005)
                    done.append(i)
                    yield Progress("test", i, 10_000)
            except JobCancelled:
                raise JobCancelled(partial=list(done)) from None
            return "finished"
        return job()

    partial, statuses = [], []
    request = JobRequest("long", factory, on_cancelled=partial.append, on_finished=statuses.append)
    with qtbot.waitSignal(worker.sig_progress, timeout=5000):
        worker.submit(request)
    worker.cancel(request.job_id)
    qtbot.waitUntil(lambda: statuses == [CANCELLED], timeout=5000)
    assert partial and isinstance(partial[0], list) and len(partial[0]) >= 1


def test_queued_job_cancelled_before_start(qtbot, worker):
    gate = threading.Event()
    worker.submit(JobRequest("blocker", lambda cancel: gate.wait(5)))
    results, statuses = [], []
    second = worker.submit(JobRequest("second", lambda cancel: "never", on_result=results.append,
                                      on_finished=statuses.append))
    second.cancel.cancel()
    gate.set()
    qtbot.waitUntil(lambda: statuses == [CANCELLED], timeout=5000)
    assert results == []


def test_no_cyclic_garbage_collection_while_a_job_runs(qtbot, worker):
    """The collector is paused for the job's whole life (a collection on either thread while the other
    ran torch or Qt code crashed the process) and restored after it, also after a failing job."""
    import gc

    assert gc.isenabled()
    seen = []

    def job():
        seen.append(gc.isenabled())
        yield Progress("test", 1, 2, "half")
        seen.append(gc.isenabled())
        return "ok"

    finished = []
    worker.submit(JobRequest("paused", lambda cancel: job(), on_finished=finished.append))
    worker.submit(JobRequest("fails", lambda cancel: 1 / 0, on_finished=finished.append))
    qtbot.waitUntil(lambda: finished == [DONE, FAILED], timeout=5000)
    assert seen == [False, False]
    qtbot.waitUntil(gc.isenabled, timeout=5000)
