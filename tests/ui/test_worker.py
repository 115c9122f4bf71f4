"""The QThread job worker: results, progress, errors in words, cancellation, thread use."""

from __future__ import annotations

import threading
import time

import pytest

from medadv_desktop.engine.jobs import Progress
from medadv_desktop.errors import StudyError
from medadv_desktop.ui.worker import CANCELLED, DONE, FAILED, JobRequest, JobWorker


@pytest.fixture
def worker(qtbot):
    w = JobWorker()
    yield w
    w.shutdown()


def test_generator_job_runs_on_worker_thread(qtbot, worker):
    threads = []

    def factory(cancel):
        threads.append(threading.current_thread())

        def job():
            for i in range(3):
                yield Progress("test", i + 1, 3, f"step {i + 1}")
            return "answer"
        return job()

    progress = []
    worker.sig_progress.connect(lambda r, e: progress.append(e))
    with qtbot.waitSignal(worker.sig_result, timeout=5000) as result:
        worker.submit(JobRequest("test job", factory))
    assert result.args[1] == "answer"
    assert threads and threads[0] is not threading.main_thread()
    assert progress and progress[-1].done == 3      # the last event always goes through
    qtbot.waitUntil(lambda: not worker.busy, timeout=2000)


def test_error_is_reported_in_words_and_worker_survives(qtbot, worker):
    def bad(cancel):
        raise StudyError("scan.dcm", "the file is truncated", hint="Export it again from PACS.")

    statuses = []
    worker.sig_finished.connect(lambda r, s: statuses.append(s))
    with qtbot.waitSignal(worker.sig_error, timeout=5000) as err:
        worker.submit(JobRequest("bad job", bad))
    failure = err.args[1]
    assert "truncated" in failure.message and "Export it again" in failure.message
    with qtbot.waitSignal(worker.sig_result, timeout=5000) as ok:
        worker.submit(JobRequest("good job", lambda cancel: 42))
    assert ok.args[1] == 42
    qtbot.waitUntil(lambda: statuses == [FAILED, DONE], timeout=2000)


def test_unexpected_exception_becomes_message(qtbot, worker):
    with qtbot.waitSignal(worker.sig_error, timeout=5000) as err:
        worker.submit(JobRequest("crash", lambda cancel: 1 / 0))
    assert "ZeroDivisionError" in err.args[1].message
    assert "keeps running" in err.args[1].message


def test_cancel_stops_job_between_steps(qtbot, worker):
    def factory(cancel):
        def job():
            for i in range(10_000):
                cancel.raise_if_cancelled()
                time.sleep(0.005)
                yield Progress("test", i, 10_000)
            return "finished"
        return job()

    request = JobRequest("long", factory)
    with qtbot.waitSignal(worker.sig_progress, timeout=5000):
        worker.submit(request)
    t0 = time.monotonic()
    with qtbot.waitSignal(worker.sig_finished, timeout=3000) as fin:
        worker.cancel(request.job_id)
    assert fin.args[1] == CANCELLED
    assert time.monotonic() - t0 < 1.0


def test_queued_job_cancelled_before_start(qtbot, worker):
    gate = threading.Event()
    worker.submit(JobRequest("blocker", lambda cancel: gate.wait(5)))
    second = worker.submit(JobRequest("second", lambda cancel: "never"))
    second.cancel.cancel()
    results = []
    worker.sig_result.connect(lambda r, v: results.append(r.title))
    with qtbot.waitSignal(worker.sig_finished, timeout=5000,
                          check_params_cb=lambda r, s: r is second) as fin:
        gate.set()
    assert fin.args[1] == CANCELLED
    assert "second" not in results
