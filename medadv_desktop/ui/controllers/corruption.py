"""Corruptions: the Corruptions dock's requests run through the corruption workflows on the worker.

* Current study: :func:`~medadv_desktop.engine.workflows.corruption.corrupt_study_workflow`
  corrupts every slice in native units (3-D physics such as motion on the
  volume as one); the model then scores the clean and the corrupted slices
  (2-D models). The viewer shows the corrupted slices in the same linked
  views as an attack (side by side at the clinical window, the signed
  difference with its colour bar), titled "Corrupted"; the dock shows the
  prediction change of the current slice. File ▸ Export writes the corrupted
  study like ``medadv corrupt`` (de-identified, marked simulated).
* Labelled data set folder: :func:`~medadv_desktop.engine.workflows.corruption.corruption_evaluation_workflow`
  (the corruptions that fit the data set, as ``--corruptions default``, or
  those checked) with its progress in the dock's bar and Cancel; the table and the severity
  curve open in the Results dock's "Corruptions" tab. File ▸ Export writes
  the JSON and CSVs like ``medadv evaluate-corruptions``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QTabWidget

from medadv_desktop.engine.jobs import CancelToken, Progress
from medadv_desktop.engine.reports.formatting import pct
from medadv_desktop.ui.session import CorruptedStudyEntry, CorruptionEntry, Session
from medadv_desktop.ui.widgets.corruption_panel import SCOPE_DATASET, CorruptionChoice, CorruptionPanel, CorruptionRequest
from medadv_desktop.ui.widgets.corruption_results import CorruptionResultsView
from medadv_desktop.ui.widgets.viewer import ViewerWidget
from medadv_desktop.ui.worker import JobFailure, JobRequest

CORRUPTED = "Corrupted"
TAB_TITLE = "Corruptions"
PREDICT_BATCH = 32


def registry_choices() -> list[CorruptionChoice]:
    """Every registered corruption, as the panel lists it (registration order)."""
    from medadv_desktop.engine.corruptions import ImageContext, available, create_corruption, get_corruption

    def describer(name: str):
        def describe(severity: int, modality: str) -> str:
            return create_corruption(name, severity=severity).describe(ImageContext(modality=modality or "OT"))
        return describe

    return [CorruptionChoice(name, get_corruption(name).label or name, get_corruption(name).description,
                             describer(name)) for name in available()]


def fitting_corruptions(study: Any) -> list[str]:
    """The corruptions whose physics fits ``study`` (its modality, volume or not, HU or not)."""
    from medadv_desktop.engine.corruptions import ImageContext, create_corruption, default_corruptions
    from medadv_desktop.engine.corruptions.base import CorruptionConfigError

    volume = getattr(study, "n_slices", 1) > 1
    out = []
    for name in default_corruptions(str(getattr(study, "modality", "") or "OT"), volume=volume):
        try:
            create_corruption(name).check(study.pixels, ImageContext.from_study(study))     # reads the shape only
        except CorruptionConfigError:
            continue
        out.append(name)
    return out


def slice_predictions(classifier: Any, study: Any, cancel: CancelToken) -> np.ndarray | None:
    """Class probabilities (S, K) of every slice of ``study`` (None for a 3-D model)."""
    from medadv_desktop.engine.models import study_to_unit

    if getattr(classifier.card, "spatial_dims", 2) == 3:
        return None
    parts = []
    for start in range(0, study.n_slices, PREDICT_BATCH):
        cancel.raise_if_cancelled()
        unit, _bounds = study_to_unit(study, classifier.card, range(start, min(study.n_slices, start + PREDICT_BATCH)))
        parts.append(np.asarray(classifier.predict_proba(unit), dtype=np.float32))
    return np.concatenate(parts)


def change_text(class_names: list[str], before: list[float], after: list[float]) -> str:
    """"lesion 82 % → normal 61 % (prediction changed)" for the current slice."""
    def top(p: list[float]) -> tuple[str, float]:
        i = int(np.argmax(p))
        return (class_names[i] if i < len(class_names) else str(i)), float(p[i])

    (a, pa), (b, pb) = top(before), top(after)
    verdict = "prediction changed" if a != b else "same prediction"
    return f"Clean {a} {pct(pa)} → corrupted {b} {pct(pb)} ({verdict})"


class CorruptionController(QObject):
    """Runs the Corruptions dock's requests; keeps Run enabled only when it can run, with the reason when not."""

    run_state_changed = Signal(bool)

    def __init__(self, session: Session, panel: CorruptionPanel, viewer: ViewerWidget,
                 results_tabs: QTabWidget) -> None:
        super().__init__(session)
        self.session, self.panel, self.viewer = session, panel, viewer
        self.view = CorruptionResultsView()
        self.results_tabs = results_tabs
        results_tabs.addTab(self.view, TAB_TITLE)
        self.shown: CorruptedStudyEntry | None = None      # the corrupted study the viewer shows
        self.last_request: JobRequest | None = None
        self.can_run, self.reason = False, session.run_blocker(needs_study=False)
        panel.sig_run_requested.connect(self.run)
        panel.sig_cancel_requested.connect(session.cancel_jobs)
        panel.sig_changed.connect(self.update_run_state)
        session.engine_ready.connect(lambda _infos: self._on_engine())
        session.current_study_changed.connect(lambda _i: self._on_study())
        session.slice_changed.connect(lambda _i: self.show_change())
        session.model_changed.connect(lambda _card: self._on_model())
        session.jobs_changed.connect(self.update_run_state)
        session.result_added.connect(self._on_result)
        self.update_run_state()

    # -- state ------------------------------------------------------------------------
    def _on_engine(self) -> None:
        self.panel.set_corruptions(registry_choices())
        self._on_study()

    def _on_study(self) -> None:
        """A study switch (or a volume of a 4-D study) drops the corrupted view: it belonged to the study shown."""
        self.shown = None
        study = self.session.study
        if self.session.engine_started and study is not None:
            self.panel.set_modality(str(study.modality or ""), fitting_corruptions(study))
        self.show_change()
        self.update_run_state()

    def _on_model(self) -> None:
        """The corrupted pixels stay on screen, but their probabilities were the previous model's."""
        if self.shown is not None:
            self.shown = None
            names = list(self.session.card.class_names) if self.session.card is not None else []
            self.panel.show_change("Another model is loaded: run the corruption again for its prediction change.",
                                   names)
        self.update_run_state()

    def _on_result(self, entry: Any) -> None:
        """Another result took over the viewer (an attack): the dock no longer describes what is shown."""
        if not isinstance(entry, (CorruptedStudyEntry, CorruptionEntry)):
            self.shown = None
            self.show_change()

    def run_state(self) -> tuple[bool, str]:
        reason = self.session.run_blocker(needs_study=self.panel.scope_key() != SCOPE_DATASET,
                                          problems=self.panel.problems())
        return not reason, reason

    def update_run_state(self) -> None:
        self.can_run, self.reason = self.run_state()
        self.panel.set_run_state(self.can_run, self.reason)
        self.panel.set_running(self.session.long_job_running)
        self.run_state_changed.emit(self.can_run)

    def show_change(self) -> None:
        """The prediction change of the current slice under the corruption shown (or why there is none)."""
        entry, session = self.shown, self.session
        names = list(session.card.class_names) if session.card is not None else []
        if entry is None or entry.study_index != session.current_index:
            self.panel.show_change("", names)
            return
        if entry.clean_probs is None:
            self.panel.show_change("A 3-D model scores the volume; no per-slice prediction.", names)
            return
        s = session.current_slice
        before, after = entry.clean_probs[s].tolist(), entry.corrupted_probs[s].tolist()
        self.panel.show_change(f"Slice {s + 1}: " + change_text(names, before, after), names, before, after)

    # -- run ----------------------------------------------------------------------------
    def run(self, request: CorruptionRequest) -> JobRequest | None:
        self.last_request = None
        can_run, reason = self.run_state()
        if not can_run:
            self.panel.show_error(reason)
            return None
        self.panel.show_error("")
        self.panel.set_progress(0.0, "")
        if request.scope == SCOPE_DATASET:
            self.last_request = self._run_evaluation(request)
        else:
            self.last_request = self._run_study(request)
        return self.last_request

    def _run_study(self, request: CorruptionRequest) -> JobRequest:
        session = self.session
        classifier, index, study = session.classifier, session.current_index, session.study
        name, severity, seed = request.corruption, request.severity, request.seed
        assert index is not None

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.workflows.corruption import corrupt_study_workflow

            def job():
                outcome = yield from corrupt_study_workflow(study, name, severity, seed=seed, cancel=cancel)
                yield Progress("corrupt", 0, 0, "Scoring the clean and the corrupted slices")
                clean = slice_predictions(classifier, study, cancel)
                corrupted = slice_predictions(classifier, outcome.study, cancel)
                return CorruptedStudyEntry(index, outcome, seed, clean, corrupted, source=study)
            return job()

        label = self.panel.choices[name].label if name in self.panel.choices else name
        title = f"Corrupt the study: {label}, severity {severity}"

        def on_result(entry: CorruptedStudyEntry) -> None:
            self.panel.set_progress(1.0, "Done")
            if entry.study_index != session.current_index or study is not session.study:
                session.message.emit("The corrupted study is no longer shown (another study is open); "
                                     "it is kept in the results for export.")
                session.add_result(entry)
                return
            session.add_result(entry)
            self.shown = entry
            pixels = entry.outcome.study.pixels
            self.viewer.set_adversarial({s: pixels[s] for s in range(study.n_slices)}, show=True, label=CORRUPTED)
            self.show_change()
            record = entry.outcome.record
            measured = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                 for k, v in record.measured.items())
            session.message.emit(f"{entry.label}" + (f": {measured}" if measured else ""))

        return session.submit(JobRequest(title, factory, on_result=on_result, on_error=self._failed(title),
                                         on_progress=self._on_progress, on_cancelled=self._cancelled))

    def _run_evaluation(self, request: CorruptionRequest) -> JobRequest:
        session = self.session
        classifier = session.classifier

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.workflows.corruption import (
                CorruptionEvaluationRequest, corruption_evaluation_workflow,
            )

            def job():
                outcome = yield from corruption_evaluation_workflow(classifier, CorruptionEvaluationRequest(
                    data=request.dataset, corruptions=request.corruptions, severities=request.severities,
                    seed=request.seed, max_samples=request.max_samples), cancel=cancel)
                return outcome
            return job()

        cap = f", at most {request.max_samples} samples" if request.max_samples else ""
        which = "the data set's default corruptions" if isinstance(request.corruptions, str) else \
            f"{len(request.corruptions)} corruption(s)"
        title = f"Evaluate {which}, severities {request.severities}{cap}"

        def on_result(outcome: Any) -> None:
            self.panel.set_progress(1.0, "Done")
            if outcome.skipped:
                session.message.emit("Left out: " + "; ".join(f"{n} ({why})" for n, why in outcome.skipped))
            self.view.set_result(outcome.result)
            self.results_tabs.setCurrentWidget(self.view)
            session.add_result(CorruptionEntry(outcome.result))

        return session.submit(JobRequest(title, factory, on_result=on_result, on_error=self._failed(title),
                                         on_progress=self._on_progress, on_cancelled=self._cancelled))

    def _on_progress(self, event: Progress) -> None:
        self.panel.set_progress(event.fraction if event.total else None, event.message[:80])

    def _cancelled(self, _partial: Any) -> None:
        self.panel.set_progress(0.0, "Cancelled")
        self.session.message.emit("Corruption job cancelled; nothing was kept.")

    def _failed(self, title: str):
        def on_error(failure: JobFailure) -> None:
            self.panel.set_progress(0.0, "Failed")
            self.panel.show_error(failure.message.splitlines()[0])
            self.session.report_error(failure.message, title=title)
        return on_error
