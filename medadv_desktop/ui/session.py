"""The GUI session: what is open, what has run, and the one door to the worker (napari's ViewerModel role).

The session holds state and emits signals; it has no widgets. Controllers
(``ui/controllers/``) change it and listen to it; widgets never see it.

State: the opened studies and the current study and slice; the loaded model
(classifier, card, card path, device); the attacks the engine offers; the
results (each run as a typed entry: :class:`AttackRun`, :class:`EvaluationEntry`,
:class:`BeforeAfterEntry`, :class:`CorruptionEntry`, :class:`CorruptedStudyEntry`), the latest
attack of every study, the current result (what File ▸ Export writes); cached slice predictions.

Jobs: :meth:`submit` queues a :class:`~medadv_desktop.ui.worker.JobRequest`
(its own callbacks say what to do with the outcome); :meth:`cancel_jobs`
cancels the running and queued user jobs. Until the engine has started
(:meth:`start_engine`: the worker-side stack imported on the UI thread) jobs
are held back and submitted in order afterwards.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication

from medadv_desktop.ui.worker import JobFailure, JobRequest, JobWorker

log = logging.getLogger(__name__)

APP_TITLE = "MedAdv Desktop"
DEMO_TITLE = "synthetic demo task, not for clinical use"
TRAINED_MARK = "adversarially trained"


# --------------------------------------------------------------------------- result entries
@dataclass(eq=False)
class AttackRun:
    """One run of the Attack panel on opened studies: ``(study index, StudyAttackOutcome)`` per study."""

    outcomes: list[tuple[int, Any]]
    title: str = ""

    @property
    def label(self) -> str:
        return self.title or "attack"


@dataclass(eq=False)
class EvaluationEntry:
    """A data-set evaluation (``EvaluationResult``); ``partial``: cancelled, holds what finished.
    ``measures``: the engine's rates with intervals (``PerClassMeasures``, computed on the worker);
    ``verdict``: the test plan's ``PlanVerdict`` when a plan was applied."""

    result: Any
    partial: bool = False
    measures: Any = None
    verdict: Any = None

    @property
    def label(self) -> str:
        return "evaluation" + (" (partial)" if self.partial else "")


@dataclass(eq=False)
class BeforeAfterEntry:
    """The before/after table of an adversarial training run (``BeforeAfterResult``)."""

    table: Any
    training: Any = None                 # TrainingResult
    source: str = ""                     # where the re-test samples came from

    @property
    def label(self) -> str:
        return "before/after adversarial training"


@dataclass(eq=False)
class CorruptionEntry:
    """A corruption evaluation of a labelled data set (``CorruptionEvaluationResult``)."""

    result: Any

    @property
    def label(self) -> str:
        return "corruption evaluation"


@dataclass(eq=False)
class CorruptedStudyEntry:
    """A study corrupted by the Corruptions dock (``CorruptStudyOutcome``), with the clean and corrupted
    class probabilities per slice ((S, K) arrays; None for a 3-D model)."""

    study_index: int
    outcome: Any = field(repr=False)     # repr=False: the studies' headers may hold PHI; never in a log line
    seed: int = 0
    clean_probs: Any = field(default=None, repr=False)
    corrupted_probs: Any = field(default=None, repr=False)
    source: Any = field(default=None, repr=False)   # the study corrupted (File ▸ Export corrupts it again, same seed)

    @property
    def label(self) -> str:
        record = self.outcome.record
        return f"corrupted study ({record.label}, severity {record.severity})"


ResultEntry = AttackRun | EvaluationEntry | BeforeAfterEntry | CorruptionEntry | CorruptedStudyEntry


def freeze_long_lived() -> None:
    """Move every object alive now (the imported stack, the loaded model) out of the cyclic garbage
    collector's reach (:func:`gc.freeze`).

    Why: with torch, timm and the engine imported the process holds ~400 000 tracked objects, and a
    full collection walks all of them: 1.6-2.4 s on a loaded 2-core machine, holding the GIL, so the
    UI thread froze for over a second during evaluations and training (issue 12 item 8). Frozen
    objects are still freed by reference counting; only cycles among them are never collected,
    which for modules and a model kept for the session costs nothing.
    """
    gc.freeze()


def is_hardened(card: Any) -> bool:
    """True for a model written by MedAdv's adversarial training (its card records the parent model)."""
    if card is None:
        return False
    provenance = getattr(card, "provenance", None) or {}
    return bool(provenance.get("parent_sha256")) or TRAINED_MARK in str(getattr(card, "name", ""))


def is_synthetic(card: Any) -> bool:
    return card is not None and bool(getattr(card, "synthetic", False))     # the card's own flag, no text heuristic


class Session(QObject):
    """State of one GUI session and its jobs. See the module doc."""

    studies_changed = Signal()                 # studies were added
    current_study_changed = Signal(int)        # index, -1 for none
    slice_changed = Signal(int)                # the current slice of the current study
    model_changed = Signal(object)             # ModelCard (None: no model)
    engine_ready = Signal(list)                # [AttackInfo]
    engine_progress = Signal(str)              # what the start-up is importing
    result_added = Signal(object)              # a result entry
    current_result_changed = Signal(object)    # the entry File ▸ Export writes
    prediction_changed = Signal(int, int)      # study index, slice
    load_model_requested = Signal(str)         # a model card path to load (e.g. the hardened model)
    error_raised = Signal(str, str)            # message, title
    message = Signal(str)                      # one line for the status bar
    jobs_changed = Signal()                    # a job was queued, started or finished
    idle = Signal()                            # nothing queued or running

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = JobWorker(self)
        self.studies: list[Any] = []
        self.current_index: int | None = None
        self.current_slice = 0
        self.classifier: Any = None
        self.card: Any = None
        self.card_path: str | None = None
        self.device = ""
        self.attack_infos: list[Any] = []
        self.engine_started = False
        self._engine_starting = False
        self._held: list[JobRequest] = []
        self.results: list[ResultEntry] = []
        self.study_results: dict[int, Any] = {}          # study index -> latest StudyAttackOutcome
        self.current_result: ResultEntry | None = None
        self.predictions: dict[tuple[int, int], list[float]] = {}
        self.demo = False
        self.last_error = ""
        self.internal_errors: list[str] = []             # UI callbacks that raised (tests assert none)
        self.worker.sig_submitted.connect(lambda _r: self.jobs_changed.emit())
        self.worker.sig_started.connect(lambda _r: self.jobs_changed.emit())
        self.worker.sig_finished.connect(self._on_finished)
        self.worker.sig_callback_failed.connect(self._on_callback_failed)

    # ------------------------------------------------------------------ engine
    def start_engine(self) -> None:
        """Import the worker-side stack on this (the UI) thread, one module per event-loop turn,
        then offer the attacks and release the held jobs. Safe to call more than once."""
        if self.engine_started or self._engine_starting:
            return
        from medadv_desktop.ui.engine_start import import_guard, warm_up_steps

        import_guard()
        self._engine_starting = True
        steps = warm_up_steps()
        self.message.emit("Starting the engine (torch, timm)…")

        def step() -> None:
            # a batch of cheap imports per turn; each big one (torch, timm) is a turn of its own
            for _ in range(8):
                if not steps:
                    self._engine_imported()
                    return
                name, run = steps.pop(0)
                self.engine_progress.emit(name)
                run()
            QTimer.singleShot(0, step)

        QTimer.singleShot(0, step)

    def start_engine_now(self) -> None:
        """:meth:`start_engine` without returning to the event loop (scripts, benchmarks)."""
        self.start_engine()
        while not self.engine_started:
            QApplication.processEvents()

    def _engine_imported(self) -> None:
        from medadv_desktop.ui.attack_info import gather_attack_infos

        self.attack_infos = gather_attack_infos()
        freeze_long_lived()
        self.engine_started = True
        self._engine_starting = False
        held, self._held = self._held, []
        for request in held:
            self.worker.submit(request, announce=False)
        self.engine_ready.emit(self.attack_infos)
        self.message.emit("Ready")
        self.jobs_changed.emit()
        if not self.busy:
            self.idle.emit()

    # ------------------------------------------------------------------ jobs
    def submit(self, request: JobRequest) -> JobRequest:
        """Queue ``request`` (held until the engine has started)."""
        if self.engine_started:
            self.worker.submit(request)
        else:
            self._held.append(request)
            self.worker.sig_submitted.emit(request)
            self.start_engine()
        return request

    def pending(self) -> list[JobRequest]:
        return [*self._held, *self.worker.pending()]

    @property
    def busy(self) -> bool:
        return bool(self._held) or self.worker.busy

    @property
    def long_job_running(self) -> bool:
        """A user job (attack, evaluation, training, export, loading) is queued or running."""
        return any(not r.quiet for r in self.pending())

    def cancel_jobs(self) -> list[JobRequest]:
        """Cancel the running and queued user jobs (quiet slice predictions are left alone)."""
        targets = [r for r in self.pending() if not r.quiet]
        for request in targets:
            request.cancel.cancel()
        if targets:
            self.message.emit("Cancelling…")
        return targets

    def _on_finished(self, request: JobRequest, status: str) -> None:
        self.jobs_changed.emit()
        if not self.busy:
            self.idle.emit()

    def _on_callback_failed(self, request: JobRequest, message: str) -> None:
        self.internal_errors.append(message)
        self.report_error(message, title=request.title)

    def report_error(self, message: str, *, title: str = "Error") -> None:
        """A user-facing error (the window shows it without blocking); the application keeps working."""
        self.last_error = message
        self.error_raised.emit(message, title)

    def job_failed(self, title: str):
        """An ``on_error`` callback that reports the failure under ``title``."""
        def on_error(failure: JobFailure) -> None:
            self.report_error(failure.message, title=title)
        return on_error

    # ------------------------------------------------------------------ studies
    @property
    def study(self) -> Any:
        if self.current_index is None or not 0 <= self.current_index < len(self.studies):
            return None
        return self.studies[self.current_index]

    def add_studies(self, studies: Sequence[Any], *, select: bool = True) -> int:
        """Append ``studies``; returns the index of the first; selects it."""
        first = len(self.studies)
        self.studies.extend(studies)
        self.studies_changed.emit()
        if select and studies:
            self.select_study(first)
        return first

    def select_study(self, index: int, slice_index: int | None = None) -> None:
        if not 0 <= index < len(self.studies):
            return
        study = self.studies[index]
        default = getattr(study, "default_slice", None)          # a labelled finding, else the middle
        wanted = (study.n_slices // 2 if default is None else default) if slice_index is None else slice_index
        wanted = max(0, min(int(wanted), study.n_slices - 1))
        if index == self.current_index:
            self.set_slice(wanted if slice_index is not None else self.current_slice)
            return
        self.current_index = index
        self.current_slice = wanted
        self.current_study_changed.emit(index)
        self.slice_changed.emit(self.current_slice)

    def show_volume(self, volume: int) -> None:
        """Show volume ``volume`` of the current 4-D study in its place (same slice); the adversarial slices of
        the volume shown before no longer belong to it and are dropped from the view (results stay listed)."""
        study, index = self.study, self.current_index
        if study is None or index is None or volume == getattr(study, "volume_index", 0):
            return
        self.studies[index] = study.volume(volume)
        self.study_results.pop(index, None)
        self.current_study_changed.emit(index)

    def set_slice(self, index: int) -> None:
        study = self.study
        if study is None:
            return
        index = max(0, min(int(index), study.n_slices - 1))
        if index != self.current_slice:
            self.current_slice = index
            self.slice_changed.emit(index)

    def run_blocker(self, *, needs_study: bool, problems: Sequence[str] = ()) -> str:
        """Why a Run button (attack or corruption) cannot run now, or "" when it can: the engine,
        the model, a study (``needs_study``), the form's own ``problems``, a running job, in that order."""
        if not self.engine_started:
            return "Starting the engine…"
        if self.classifier is None:
            return "Load a model first (Model ▸ Load Model Card)."
        if needs_study and self.study is None:
            return "Open a study first (File ▸ Open), or choose the labelled data set scope."
        if problems:
            return problems[0]
        if self.long_job_running:
            return "A job is running: wait for it, or cancel it."
        return ""

    # ------------------------------------------------------------------ model
    def set_model(self, classifier: Any, card_path: str | None = None) -> None:
        self.classifier = classifier
        self.card = getattr(classifier, "card", None)
        self.card_path = card_path
        self.device = str(getattr(classifier, "device", "cpu"))
        self.predictions.clear()
        freeze_long_lived()
        self.model_changed.emit(self.card)

    def native_scale(self) -> tuple[float | None, str]:
        """(native units per [0, 1] unit, units) for budgets of the current study and model."""
        study = self.study
        units = (study.units if study is not None else "") or "a.u."
        if self.card is None:
            return None, units
        npu = self.card.intensity.native_per_unit()         # a window: fixed
        if npu is None and study is not None:               # per-image mappings: this slice's range
            npu = self.card.intensity.native_per_unit(study.slice_chw(self.current_slice))
        return npu, units

    # ------------------------------------------------------------------ results
    def add_result(self, entry: ResultEntry) -> None:
        self.results.append(entry)
        if isinstance(entry, AttackRun):
            for index, outcome in entry.outcomes:
                self.study_results[index] = outcome
        self.result_added.emit(entry)
        self.set_current_result(entry)

    def set_study_result(self, index: int, outcome: Any) -> None:
        """Attach ``outcome`` (what the viewer shows as adversarial) to study ``index`` without a new result."""
        self.study_results[index] = outcome
        if index == self.current_index:
            self.current_study_changed.emit(index)

    def set_current_result(self, entry: ResultEntry | None) -> None:
        if entry is not self.current_result:
            self.current_result = entry
            self.current_result_changed.emit(entry)

    def latest(self, kind: type) -> Any:
        return next((e for e in reversed(self.results) if isinstance(e, kind)), None)

    def set_prediction(self, study_index: int, slice_index: int, probabilities: list[float]) -> None:
        self.predictions[(study_index, slice_index)] = probabilities
        self.prediction_changed.emit(study_index, slice_index)

    # ------------------------------------------------------------------ title
    def window_title(self) -> str:
        title = APP_TITLE
        study = self.study
        if study is not None:
            title += f" — {study.pseudonym or 'study'} ({study.modality})"
        if is_hardened(self.card):
            title += f" — model {TRAINED_MARK}"
        if self.demo or (study is not None and study.synthetic) or is_synthetic(self.card):
            title += f" — {DEMO_TITLE}"
        return title

    def shutdown(self) -> None:
        for request in self._held:
            request.cancel.cancel()
        self._held = []
        self.worker.shutdown()
