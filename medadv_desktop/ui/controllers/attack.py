"""Attack and evaluation: the Attack dock's requests run through the workflows; whether Run is possible, and why not.

Scopes: the current slice, the whole volume, every loaded study (the study
attack workflow per study) or a labelled data set folder (the evaluation
workflow over the eps grid). A cancelled evaluation keeps what finished:
the engine hands it over as the cancellation's ``partial`` and the session
records it marked partial.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from medadv_desktop.engine.jobs import CancelToken
from medadv_desktop.engine.reports.formatting import budget_text, pct
from medadv_desktop.ui.attack_info import SCOPE_ALL, SCOPE_DATASET, SCOPE_SLICE, SCOPE_VOLUME, AttackRequest
from medadv_desktop.ui.session import AttackRun, EvaluationEntry, Session
from medadv_desktop.ui.settings import KEY_ATTACK, KEY_DATASET, SettingsStore
from medadv_desktop.ui.widgets.attack_panel import AttackPanel
from medadv_desktop.ui.widgets.guard_banner import GuardBanner, warning_text
from medadv_desktop.ui.worker import JobFailure, JobRequest, report_progress

GUARD_BEFORE = "Modality guard (the attack will run, but read its numbers with care):"
GUARD_DURING = "Modality guard, reported by the running job:"


def evaluation_measures(result: Any) -> Any:
    """The engine's rates with intervals of an evaluation (``PerClassMeasures``), or None when its
    records do not fit together (then the tables show no interval rather than a wrong one)."""
    from medadv_desktop.engine.metrics.per_class import per_class_measures

    try:
        return per_class_measures(result)
    except ValueError:
        return None


class AttackController(QObject):
    """Runs the Attack dock's requests; keeps Run enabled only when it can run, with the reason when not."""

    run_state_changed = Signal(bool)

    def __init__(self, session: Session, panel: AttackPanel, settings: SettingsStore) -> None:
        super().__init__(session)
        self.session, self.panel, self.settings = session, panel, settings
        self.can_run = False
        self.reason = session.run_blocker(needs_study=False)
        self.guard = GuardBanner()
        panel.layout().insertWidget(1, self.guard)      # above the footer's error line and buttons
        panel.sig_run_requested.connect(self.run)
        panel.sig_cancel_requested.connect(session.cancel_jobs)
        panel.sig_changed.connect(self.update_run_state)
        panel.dataset_edit.setText(settings.text(KEY_DATASET))
        session.engine_ready.connect(self._on_engine)
        session.model_changed.connect(lambda _card: self._on_scale_changed())
        session.current_study_changed.connect(lambda _i: self._on_scale_changed())
        session.slice_changed.connect(lambda _i: self._on_slice())
        session.jobs_changed.connect(self.update_run_state)
        panel.scope.currentIndexChanged.connect(lambda _i: self.update_guard())
        session.model_changed.connect(lambda _card: self.update_guard())
        session.current_study_changed.connect(lambda _i: self.update_guard())
        self.update_run_state()

    # -- state ------------------------------------------------------------------
    def _on_engine(self, infos: list[Any]) -> None:
        self.panel.set_attacks(infos)
        if self.session.card is not None:
            self.panel.set_class_names(self.session.card.class_names)
        self.panel.set_native_scale(*self.session.native_scale())
        self.panel.restore_state(self.settings.json(KEY_ATTACK))
        self.update_run_state()

    def _on_scale_changed(self) -> None:
        if self.session.card is not None:
            self.panel.set_class_names(self.session.card.class_names)
        self.panel.set_native_scale(*self.session.native_scale())
        self.update_run_state()

    def _on_slice(self) -> None:
        card = self.session.card
        if card is not None and card.intensity.native_per_unit() is None:     # per-image mapping: per slice
            self.panel.set_native_scale(*self.session.native_scale())

    def guard_warnings(self) -> list[Any]:
        """The modality guard over what the current scope would attack (a data set folder: checked by the run)."""
        from medadv_desktop.engine.models.guard import dataset_modality_warnings, modality_warnings

        card, session = self.session.card, self.session
        if card is None or self.panel.scope_key() == SCOPE_DATASET:
            return []
        if self.panel.scope_key() == SCOPE_ALL:
            return dataset_modality_warnings(card, session.studies)
        return modality_warnings(card, session.study) if session.study is not None else []

    def update_guard(self) -> None:
        self.guard.set_warnings(self.guard_warnings(), GUARD_BEFORE)

    def _on_progress(self, event: Any) -> None:
        """A workflow's warning event (the guard, before any attack step): shown at once, also in the status bar;
        the evaluation's up-front "at most how long" goes to the status bar."""
        data = getattr(event, "data", None) or {}
        if data.get("kind") == "estimate":
            self.session.message.emit("Evaluation: " + event.message)
        elif data.get("kind") == "warning":
            warning = data.get("warning", event.message)
            if warning_text(warning) not in self.guard.messages:
                self.session.message.emit(warning_text(warning))
            self.guard.add_warning(warning, GUARD_DURING)

    def _show_kept(self, warnings: list[Any]) -> None:
        """After a run: the warnings the result kept (the event stream is throttled; the result is complete)."""
        self.guard.set_warnings(warnings, "Modality guard, kept with the result:")
        if warnings:
            self.session.message.emit(f"{len(warnings)} modality warning(s): {warning_text(warnings[0])}")

    def run_state(self) -> tuple[bool, str]:
        """(can Run, why not)."""
        reason = self.session.run_blocker(needs_study=self.panel.scope_key() != SCOPE_DATASET,
                                          problems=self.panel.problems())
        return not reason, reason

    def update_run_state(self) -> None:
        self.can_run, self.reason = self.run_state()
        self.panel.set_run_state(self.can_run, self.reason)
        self.panel.set_running(self.session.long_job_running)
        self.run_state_changed.emit(self.can_run)

    def save_settings(self) -> None:
        if self.panel.form_by_name:
            self.settings.set_json(KEY_ATTACK, self.panel.settings_state())
        self.settings.set_text(KEY_DATASET, self.panel.dataset_edit.text().strip())

    # -- run ----------------------------------------------------------------------
    def run_current(self) -> JobRequest | None:
        """Attack ▸ Run Attack: the panel's current settings."""
        self.panel.request_run()
        return self.last_request

    last_request: JobRequest | None = None

    def run(self, request: AttackRequest) -> JobRequest | None:
        self.last_request = None
        can_run, reason = self.run_state()
        if not can_run:
            self.panel.show_error(reason)
            return None
        self.panel.show_error("")
        self.guard.set_warnings([])
        if request.scope == SCOPE_DATASET:
            self.settings.set_text(KEY_DATASET, request.dataset)
            self.last_request = self._run_evaluation(request)
        else:
            self.last_request = self._run_attack(request)
        self.save_settings()
        return self.last_request

    def _run_attack(self, request: AttackRequest) -> JobRequest | None:
        session = self.session
        classifier = session.classifier
        if request.scope == SCOPE_SLICE:
            targets = [(session.current_index, session.study, [session.current_slice])]
        elif request.scope == SCOPE_VOLUME:
            targets = [(session.current_index, session.study, None)]
        else:
            targets = [(i, s, None) for i, s in enumerate(session.studies)]
        params = dict(request.params)
        label = next((i.label for i in session.attack_infos if i.name == request.attack), request.attack)

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.workflows.study_attack import study_attack_workflow

            def job():
                outcomes = []
                for index, study, slices in targets:
                    outcome = yield from study_attack_workflow(classifier, study, request.attack, params,
                                                               slices=slices, cancel=cancel, attribution=True,
                                                               on_attack_progress=report_progress)
                    outcomes.append((index, outcome))
                return outcomes
            return job()

        scope_text = {SCOPE_SLICE: f"slice {session.current_slice + 1}", SCOPE_VOLUME: "whole volume",
                      SCOPE_ALL: f"{len(targets)} studies"}[request.scope]
        title = f"{label} eps {budget_text(params.get('eps', 0))} on {scope_text}"

        def on_result(outcomes: list[tuple[int, Any]]) -> None:
            for _index, outcome in outcomes:
                result = outcome.result
                where = f"slice {result.slices[0] + 1}" if len(result.slices) == 1 else f"{len(result.slices)} slices"
                session.message.emit(f"{result.attack} on {result.study} {where}: robust accuracy "
                                     f"{pct(result.row.robust_accuracy)}, {result.elapsed_s:.2f} s")
            self._show_kept([w for _i, o in outcomes for w in getattr(o.result, "warnings", [])])
            session.add_result(AttackRun(outcomes, title))

        return session.submit(JobRequest(title, factory, on_result=on_result, on_error=self._failed(title),
                                         on_progress=self._on_progress))

    def _run_evaluation(self, request: AttackRequest) -> JobRequest:
        session = self.session
        classifier = session.classifier

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.workflows.evaluation import EvaluationRequest, evaluation_workflow

            def job():
                outcome = yield from evaluation_workflow(classifier, EvaluationRequest(
                    data=request.dataset, attacks=request.attacks, eps=request.eps_grid,
                    norm=request.params.get("norm", "linf"), seed=int(request.params.get("seed", 0)),
                    full_rows=request.full_rows, max_samples=request.max_samples, plan=request.plan,
                    suite=request.suite or None),
                    cancel=cancel)
                return outcome.result, evaluation_measures(outcome.result), outcome.verdict
            return job()

        names = ", ".join(n for n, _ in request.attacks)
        if request.suite:
            names = f"the {request.suite} suite ({names})"
        mode = ", per-attack rows" if request.full_rows else ""
        cap = f", at most {request.max_samples} samples" if request.max_samples else ""
        title = f"Evaluate {names} on a labelled data set ({len(request.eps_grid)} eps{mode}{cap})"

        def on_result(done: tuple[Any, Any, Any]) -> None:
            result, measures, verdict = done
            self._show_kept(list(getattr(result, "warnings", [])))
            if verdict is not None:
                session.message.emit(verdict.summary())
            session.add_result(EvaluationEntry(result, measures=measures, verdict=verdict))

        def on_cancelled(partial: Any) -> None:
            if partial is None:
                return
            rows = [r for r in partial.rows if r.attack != "worst-case"]
            # a cancelled run's finished rows: few records, so their intervals are quick to get here
            session.add_result(EvaluationEntry(partial, partial=True, measures=evaluation_measures(partial)))
            session.message.emit(f"Evaluation cancelled: the {len(rows)} finished attack row(s) are kept, "
                                 "marked partial")

        return session.submit(JobRequest(title, factory, on_result=on_result, on_cancelled=on_cancelled,
                                         on_error=self._failed(title), on_progress=self._on_progress))

    def _failed(self, title: str):
        def on_error(failure: JobFailure) -> None:
            self.panel.show_error(failure.message.splitlines()[0])
            self.session.report_error(failure.message, title=title)
        return on_error
