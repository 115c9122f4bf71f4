"""Model: load a model card (or write one), show it, and predict the current slice.

Predictions run as quiet jobs, one at a time and coalesced (scrolling through
a volume asks for the slice the user stops on), cached per (study, slice) in
the session. After an attack the Model dock shows the slice's probabilities
before and after it, from the attack's own result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QFileDialog, QWidget

from medadv_desktop.engine.jobs import CancelToken
from medadv_desktop.engine.reports.formatting import eps_255
from medadv_desktop.errors import MedAdvError
from medadv_desktop.ui.dialogs.create_card import CreateCardDialog
from medadv_desktop.ui.session import Session, is_hardened, is_synthetic
from medadv_desktop.ui.settings import KEY_LAST_MODEL, SettingsStore
from medadv_desktop.ui.widgets.model_panel import ModelPanel
from medadv_desktop.ui.widgets.status_bar import StatusBar
from medadv_desktop.ui.worker import JobRequest


def slice_probabilities(outcome: Any, slice_index: int) -> tuple[list[float], list[float]] | None:
    """(before, after) probabilities of ``slice_index`` in a study attack's outcome, or None."""
    result = outcome.result
    if slice_index not in result.slices or result.clean_probs is None:
        return None
    i = result.slices.index(slice_index)
    i = i if i < len(result.clean_probs) else 0          # a 3-D model has one row per volume
    return [float(v) for v in result.clean_probs[i]], [float(v) for v in result.adv_probs[i]]


class ModelController(QObject):
    """Loads models into the session; keeps the Model dock and the status bar's model label current."""

    def __init__(self, session: Session, panel: ModelPanel, status: StatusBar, settings: SettingsStore,
                 dialog_parent: QWidget) -> None:
        super().__init__(session)
        self.session, self.panel, self.status, self.settings = session, panel, status, settings
        self.parent = dialog_parent
        self._pending = False
        self._dirty = False
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(120)
        self.timer.timeout.connect(self.request_prediction)
        panel.sig_load_requested.connect(self.load_model_dialog)
        panel.sig_create_requested.connect(self.create_card_dialog)
        session.model_changed.connect(self._on_model)
        session.load_model_requested.connect(self.load_model)
        session.current_study_changed.connect(lambda _i: self._on_view_changed())
        session.slice_changed.connect(lambda _i: self._on_view_changed())
        session.prediction_changed.connect(lambda _s, _i: self.show_prediction())
        session.result_added.connect(lambda _e: self.show_prediction())

    # -- loading ---------------------------------------------------------------
    def load_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.parent, "Load model card", self.settings.last_dir(),
                                              "Model cards (*.json);;All files (*)")
        if path:
            self.load_model(path)

    def load_demo_model(self) -> JobRequest | None:
        from medadv_desktop.paths import demo_model_card

        card = demo_model_card()
        if not card.exists():
            self.session.report_error("The demo model card is missing; reinstall MedAdv Desktop.", title="Demo")
            return None
        return self.load_model(card)

    def load_model(self, card_path: str | Path) -> JobRequest:
        card_path = Path(card_path)

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.models import load_classifier

            return load_classifier(card_path)

        title = f"Load model {card_path.name}"
        return self.session.submit(JobRequest(
            title, factory, on_result=lambda classifier: self._loaded(classifier, card_path),
            on_error=self.session.job_failed(title)))

    def _loaded(self, classifier: Any, card_path: Path) -> None:
        self.session.set_model(classifier, str(card_path))
        self.settings.set_text(KEY_LAST_MODEL, str(card_path.resolve()))
        card = self.session.card
        self.session.message.emit(f"Model loaded: {card.architecture or card.format}, classes "
                                  f"{', '.join(card.class_names)}, device {self.session.device}")

    def create_card_dialog(self) -> None:
        from medadv_desktop.engine.models import create_card_from_weights, save_card

        dialog = CreateCardDialog(self.parent)
        while dialog.exec():
            try:
                values = dialog.values()
                create_card_from_weights(**values)
                target, _ = QFileDialog.getSaveFileName(self.parent, "Save model card",
                                                        str(Path(values["weights"]).with_suffix(".json")),
                                                        "Model cards (*.json)")
                if not target:
                    return
                saved = save_card(create_card_from_weights(**values, card_path=target), target)
            except (MedAdvError, ValueError) as exc:
                dialog.error.setText(exc.user_message() if isinstance(exc, MedAdvError) else f"Invalid number: {exc}")
                continue
            self.load_model(saved)
            return

    # -- display -----------------------------------------------------------------
    def _on_model(self, card: Any) -> None:
        hardened = is_hardened(card)
        self.panel.set_card(card, self.session.device, synthetic=is_synthetic(card), hardened=hardened)
        self.status.set_model(card.name if card is not None else None, hardened=hardened)
        self._on_view_changed()

    def _on_view_changed(self) -> None:
        self.show_prediction()
        self.timer.start()

    def show_prediction(self) -> None:
        """The current slice's probabilities (and after an attack on it, the adversarial ones)."""
        session = self.session
        if session.card is None or session.study is None:
            self.panel.set_prediction(None, None, "Load a model and a study to see the prediction.")
            return
        key = (session.current_index, session.current_slice)
        before, after, note = session.predictions.get(key), None, ""
        outcome = session.study_results.get(session.current_index)
        pair = slice_probabilities(outcome, session.current_slice) if outcome is not None else None
        if pair is not None:
            before, after = pair
            result = outcome.result
            note = f"after {result.attack} at eps {eps_255(result.eps)}"
            if result.eps_native is not None:
                note += f" ({result.eps_native:.3g} {result.units})"
        if before is None:
            self.panel.set_prediction(None, None, "Computing…")
            return
        self.panel.set_prediction(before, after, note)

    def request_prediction(self) -> None:
        """Predict the current slice on the worker (coalesced: one pending at a time)."""
        session = self.session
        study, classifier = session.study, session.classifier
        if study is None or classifier is None:
            return
        key = (session.current_index, session.current_slice)
        if key in session.predictions:
            self.show_prediction()
            return
        if self._pending:
            self._dirty = True
            return
        self._pending = True
        index = session.current_slice

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.models import study_to_unit

            unit, _bounds = study_to_unit(study, classifier.card, [index])
            return classifier.predict_proba(unit)[0].tolist()

        def on_result(probs: list[float]) -> None:
            if classifier is session.classifier and 0 <= key[0] < len(session.studies):
                session.set_prediction(key[0], key[1], probs)

        def on_error(failure: Any) -> None:
            self.panel.set_prediction(None, None, failure.message)

        session.submit(JobRequest("Predict current slice", factory, on_result=on_result, on_error=on_error,
                                  on_finished=self._prediction_finished, quiet=True))

    def _prediction_finished(self, _status: str) -> None:
        self._pending = False
        if self._dirty:
            self._dirty = False
            self.timer.start()

    @property
    def idle(self) -> bool:
        """No prediction pending or about to be asked for."""
        return not self._pending and not self.timer.isActive()
