"""Adversarial training: the Training dock's run as two jobs (train, then re-test), live curves, the table.

1. the training phase of the adversarial training workflow
   (``engine/workflows/training.py``) on a copy of the current model (the
   input model's files are never written);
2. its re-test phase: the original and the hardened model against the ticked
   attacks at the training eps and over the eps grid; the table is also
   written as ``before_after.json`` in the output folder. ``medadv train-adv``
   runs the same two phases.

Each job carries its own callbacks. Data: a labelled folder (class
sub-folders or ``labels.csv``); with ``train/`` and ``test/`` sub-folders the
model is trained on ``train/`` and re-tested on ``test/``, else on the
held-out validation split (the workflow's ``retest_set``, the one rule).

Live curves: the worker forwards progress events at most every 100 ms and
drops the ones in between, so every event is also recorded in a thread-safe
:class:`TrainingMonitor` that the controller reads on each forwarded event:
no batch loss and no epoch is ever missed. Until the first batch (reading the
data, measuring the model before training) the dock says so, with a busy bar.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from medadv_desktop.engine.jobs import CancelToken, Progress
from medadv_desktop.engine.reports import formatting
from medadv_desktop.engine.reports.formatting import budget_text as format_budget
from medadv_desktop.engine.reports.formatting import seconds as seconds_text
from medadv_desktop.errors import OutputWriteError
from medadv_desktop.ui.session import BeforeAfterEntry, Session
from medadv_desktop.ui.settings import KEY_TRAINING_DATA, SettingsStore
from medadv_desktop.ui.widgets.attack_panel import AttackPanel
from medadv_desktop.ui.widgets.training_panel import TrainingPanel
from medadv_desktop.ui.worker import JobFailure, JobRequest

#: what the dock says before the first batch, by the training job's event kind
EARLY_MESSAGES = {
    "read": "Reading the labelled data set…",
    "data": "Training data read. Loading the model and converting the images (the first batch follows)…",
    "baseline": "Measuring the model before training (validation clean and PGD robust accuracy, epoch 0)…",
    "resume": "Resuming from the last checkpoint…",
}


def pct(value: float | None) -> str:
    return formatting.pct(value, dash="—")


class TrainingMonitor:
    """Every training event, recorded on the worker thread, read on the UI thread.

    ``batches``: (x, loss) with x = epoch - 1 + batch / n_batches (fractional
    epochs, so a batch curve and the epoch means share one axis);
    ``epochs``: the epoch events' data (epoch 0 = before training).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.batches: list[tuple[float, float]] = []
        self.epochs: list[dict[str, Any]] = []
        self.resumed_from: int = 0

    def record(self, event: Progress) -> None:
        kind = event.data.get("kind")
        with self._lock:
            if kind == "batch":
                d = event.data
                x = d["epoch"] - 1 + d["batch"] / max(1, d["n_batches"])
                self.batches.append((float(x), float(d["loss"])))
            elif kind == "epoch":
                self.epochs.append(dict(event.data))
            elif kind == "resume":
                self.resumed_from = int(event.data.get("epoch", 0))

    def snapshot(self, n_batches_seen: int, n_epochs_seen: int) -> tuple[list, list]:
        """(new batch points, new epoch records) since the counts already seen."""
        with self._lock:
            return self.batches[n_batches_seen:], self.epochs[n_epochs_seen:]

    @property
    def last_checkpoint_epoch(self) -> int:
        with self._lock:
            done = [int(e["epoch"]) for e in self.epochs if e.get("checkpoint")]
        return max(done + [self.resumed_from])


def _training_title(config: Any) -> str:
    return (f"Adversarial training ({config.method}, eps {format_budget(config.eps)}, "
            f"{config.epochs} epoch{'s' if config.epochs != 1 else ''})")


class TrainingController(QObject):
    """Runs the Training dock's requests through the session and shows what comes back."""

    sig_training_finished = Signal(object)        # TrainingResult
    sig_before_after_ready = Signal(object)       # BeforeAfterResult
    sig_run_finished = Signal(str)                # "done", "cancelled", "failed"
    sig_unsaved = Signal(object, object)          # (BeforeAfterEntry, OutputWriteError): offer to save elsewhere

    def __init__(self, session: Session, panel: TrainingPanel, attack_panel: AttackPanel,
                 settings: SettingsStore) -> None:
        super().__init__(session)
        self.session, self.panel, self.attack_panel, self.settings = session, panel, attack_panel, settings
        self.monitor = TrainingMonitor()
        self.request: Any = None
        self.jobs: list[JobRequest] = []
        self.training_result: Any = None
        self.before_after: Any = None
        self._seen = (0, 0)
        self._original: Any = None
        self._eval_source = ""
        self._retest_bound = ""                       # "at most X" of the running re-test, from its first event
        self._started_batches = False
        self._train_job: JobRequest | None = None
        panel.attack_params = self.attack_params
        panel.data_edit.setText(settings.text(KEY_TRAINING_DATA))
        panel.sig_start_requested.connect(self.start)
        panel.sig_cancel_requested.connect(self.cancel)
        panel.sig_use_model_requested.connect(self.use_hardened_model)
        session.model_changed.connect(lambda _card: self.refresh_model())
        session.current_study_changed.connect(lambda _i: self.refresh_model())
        session.engine_ready.connect(panel.set_attacks)
        if session.attack_infos:
            panel.set_attacks(session.attack_infos)
        self.refresh_model()

    # -- state from the session ------------------------------------------------
    def refresh_model(self) -> None:
        card = self.session.card
        npu, units = self.session.native_scale()
        self.panel.set_model(card, npu if card is not None and card.intensity.native_per_unit() else None, units)

    def attack_params(self, name: str) -> dict[str, Any]:
        """The Attack panel's parameters of ``name`` without eps and norm (the re-test sets those)."""
        form = self.attack_panel.form_by_name.get(name)
        if form is None:
            return {}
        return {k: v for k, v in form.values().items() if k not in ("eps", "norm")}

    @property
    def running(self) -> bool:
        return bool(self.jobs)

    def save_settings(self) -> None:
        self.settings.set_text(KEY_TRAINING_DATA, self.panel.data_edit.text().strip())

    # -- run ------------------------------------------------------------------
    def start(self, request: Any) -> JobRequest | None:
        classifier = self.session.classifier
        if classifier is None:
            self.panel.show_error("Load a model first (Model ▸ Load Model Card).")
            return None
        if self.running:
            self.panel.show_error("A training run is already going; cancel it first.")
            return None
        self.request = request
        self._original = classifier          # the re-test compares the hardened model with this one
        self.monitor = TrainingMonitor()
        self._seen = (0, 0)
        self._started_batches = False
        self.training_result = None
        self.before_after = None
        self.save_settings()
        self.panel.begin_run()
        self.panel.set_status("Starting: waiting for the worker…")
        self.panel.set_progress(0.0, "Starting", indeterminate=True)
        monitor = self.monitor

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.workflows.training import training_phase

            return training_phase(classifier, request, cancel=cancel, observe=monitor.record)

        job = JobRequest(_training_title(request.config), factory, on_progress=self._on_train_progress,
                         on_result=self._handle_training, on_error=self._failed("Training"),
                         on_finished=lambda status: self._finished(job, status))
        self._train_job = job
        self.jobs.append(job)
        self.session.submit(job)
        return job

    def cancel(self) -> None:
        for job in self.jobs:
            job.cancel.cancel()
        if self.jobs:
            self.panel.set_status("Cancelling… (takes effect before the next batch)")

    def use_hardened_model(self, card_path: str) -> None:
        self.panel.set_status(f"Loading the hardened model '{Path(card_path).parent.name}' as the current model…")
        self.session.load_model_requested.emit(card_path)

    # -- job callbacks ----------------------------------------------------------------
    def _pull(self) -> None:
        pts, records = self.monitor.snapshot(*self._seen)
        self._seen = (self._seen[0] + len(pts), self._seen[1] + len(records))
        self.panel.curves.add_batches(pts)
        self.panel.curves.add_epochs(records)

    def _on_train_progress(self, event: Progress) -> None:
        self._pull()
        kind = event.data.get("kind")
        if kind == "batch":
            self._started_batches = True
        if not self._started_batches and (not event.total or not event.done):
            self.panel.set_progress(0.0, "Preparing", indeterminate=True)
            self.panel.set_status(EARLY_MESSAGES.get(kind, event.message or "Preparing…"))
            return
        self.panel.set_progress(event.fraction, "Training")
        if event.message:
            self.panel.set_status(event.message)

    def _on_retest_progress(self, event: Progress) -> None:
        self.panel.set_progress(event.fraction, "Re-testing")
        if event.data.get("kind") == "retest":          # before it starts: what runs and at most how long
            self._retest_bound = (f"at most {seconds_text(event.data['upper_bound_s'])}"
                                  if event.data.get("upper_bound_s") is not None else "")
            self.session.message.emit("Re-test: " + event.message)
            self.panel.set_status("Re-test, " + event.message)
            return
        if event.message:
            bound = self._retest_bound
            self.panel.set_status("Re-test, " + event.message + (f" (the whole re-test: {bound})" if bound else ""))

    def _handle_training(self, outcome: Any) -> None:
        self._pull()
        result = outcome.result
        self.training_result = result
        self._eval_source = outcome.retest.source
        self.panel.set_hardened_model(result.model_card_path)
        final = result.final
        folder = Path(result.out_dir)
        self.session.message.emit(
            f"Hardened model written (epoch {final.epoch}: validation clean {pct(final.val_clean_accuracy)}, "
            f"robust {pct(final.val_robust_accuracy)})")
        self.panel.set_status(f"Hardened model saved in '{folder.name}'. Re-testing the original and the hardened "
                              f"model on the {outcome.retest.source} ({len(outcome.retest.dataset)} samples)…")
        self.sig_training_finished.emit(result)
        original, request = self._original, self.request

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.reports.verdict_section import paired_rows
            from medadv_desktop.engine.workflows.training import retest_phase

            def job():
                retest = yield from retest_phase(original, outcome, request, cancel=cancel)
                return retest, paired_rows(retest.table)       # the paired tests on the worker (issue 15)
            return job()

        job = JobRequest(f"Before/after re-test ({', '.join(a if isinstance(a, str) else a[0] for a in request.attacks)})", factory,
                         on_progress=self._on_retest_progress, on_result=self._handle_before_after,
                         on_error=self._failed("The before/after re-test"),
                         on_finished=lambda status: self._finished(job, status))
        self.jobs.append(job)
        self.session.submit(job)

    def _handle_before_after(self, done: tuple[Any, Any]) -> None:
        outcome, paired = done
        table, saved = outcome.table, outcome.table_path is not None
        self.before_after = table
        eps = format_budget(table.train_eps)
        clean, row = table.clean, None
        for name in table.attacks:
            r = table.row(name, table.train_eps)
            if r is not None and r.change is not None and (row is None or r.change < row.change):
                row = r
        caption = (f"{table.n_samples} samples ({self._eval_source}) · ★ training eps {eps} · accuracy = fraction "
                   f"classified correctly · change in percentage points")
        self.panel.show_before_after(table, caption, paired)
        parts = []
        if clean is not None and clean.change is not None:
            parts.append(f"clean accuracy {pct(clean.accuracy_before)} → {pct(clean.accuracy_after)}")
        if row is not None:
            parts.append(f"{row.attack} at {eps}: {pct(row.accuracy_before)} → {pct(row.accuracy_after)}")
        where = "; table saved as before_after.json" if saved else ""
        self.panel.set_status("Done: " + ", ".join(parts) + where + ". 'Use the hardened model' loads it.")
        self.session.message.emit("Before/after: " + ", ".join(parts))
        self.panel.new_output_folder()
        self.session.add_result(BeforeAfterEntry(table, self.training_result, self._eval_source))
        self.sig_before_after_ready.emit(table)

    def _failed(self, what: str):
        def on_error(failure: JobFailure) -> None:
            exc = failure.exception
            if isinstance(exc, OutputWriteError) and getattr(exc, "unsaved", None) is not None:
                self._unsaved_table(exc)          # the re-test finished; only its table could not be written
                return
            if isinstance(exc, OutputWriteError):     # the engine's hint ("still in memory") is not true here
                failure = JobFailure(self._disk_message(exc), exc, failure.details)
            self.panel.show_error(f"{what} failed: {failure.message}")
            self.panel.set_status(f"{what} failed; see the message above. The application keeps working.")
            self.session.report_error(failure.message, title=what)
        return on_error

    def _disk_message(self, exc: OutputWriteError) -> str:
        """What a full or read-only output disk during training means for the run, in one message."""
        epoch = self.monitor.last_checkpoint_epoch
        folder = Path(self.request.out_dir).name if self.request is not None else "the output folder"
        kept = (f"The checkpoint of epoch {epoch} is complete and kept in '{folder}': free some space and start "
                "again with the same options and folder to resume from it, or choose another output folder."
                if epoch > 0 else
                "No checkpoint was complete; the original model is unchanged. Free some space or choose "
                "another output folder, then start again.")
        return f"Cannot write '{exc.path.name}': {exc.reason}; nothing partial was left. {kept}"

    def _unsaved_table(self, exc: OutputWriteError) -> None:
        """Show the finished before/after table (kept in memory) and hand it on for "Save Elsewhere…"."""
        from medadv_desktop.engine.reports.verdict_section import paired_rows
        from medadv_desktop.engine.workflows.training import RetestOutcome

        self._handle_before_after((RetestOutcome(exc.unsaved, None), paired_rows(exc.unsaved)))   # a rare path
        self.panel.set_status(f"The before/after table could not be saved in the output folder ({exc.reason}); "
                              "it is in memory: save it elsewhere, or later with File ▸ Export.")
        entry = self.session.latest(BeforeAfterEntry)
        self.sig_unsaved.emit(entry, exc)

    def _finished(self, job: JobRequest, status: str) -> None:
        training = job is self._train_job
        if job in self.jobs:
            self.jobs.remove(job)
        if training and status == "cancelled":
            self._pull()
            epoch = self.monitor.last_checkpoint_epoch
            folder = Path(self.request.out_dir).name if self.request else "the output folder"
            if epoch > 0:
                text = (f"Cancelled. The last complete checkpoint (epoch {epoch}) is kept in '{folder}'; start again "
                        "with the same options and output folder to resume from it.")
            else:
                text = (f"Cancelled before the first epoch ended; no checkpoint was written in '{folder}'. The "
                        "original model is unchanged.")
            self.panel.set_status(text)
        elif not training and status == "cancelled":
            self.panel.set_status("Re-test cancelled. The hardened model is saved; 'Use the hardened model' "
                                  "loads it.")
        if self.jobs:                    # the re-test follows the training job
            return
        self.panel.set_running(False)
        self.panel.set_progress(1.0 if status == "done" else max(0, self.panel.progress.value()) / 1000,
                                {"done": "Done", "cancelled": "Cancelled", "failed": "Failed"}.get(status, status))
        self.sig_run_finished.emit(status)
