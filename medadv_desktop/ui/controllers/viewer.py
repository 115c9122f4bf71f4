"""The viewer follows the session: the current study and slice, and the latest attack of that study."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject

from medadv_desktop.errors import MedAdvError

from medadv_desktop.ui.session import AttackRun, Session
from medadv_desktop.ui.widgets.viewer import ViewerWidget


def adversarial_slices(outcome: Any) -> dict[int, Any]:
    """{slice index: adversarial slice (native units)} of a study attack's outcome."""
    result = outcome.result
    return {s: result.adv_native[i] for i, s in enumerate(result.slices)}


def input_gradients(outcome: Any) -> dict[int, Any] | None:
    """{slice index: d loss / d input at the original (native units)} of a study attack's outcome, or None."""
    gradient = getattr(outcome, "input_gradient", None)
    return None if gradient is None else {s: gradient[i] for i, s in enumerate(outcome.result.slices)}


class ViewerController(QObject):
    """Session -> viewer (study, slice, adversarial slices) and viewer -> session (the slice scrolled to)."""

    def __init__(self, session: Session, viewer: ViewerWidget) -> None:
        super().__init__(session)
        self.session, self.viewer = session, viewer
        session.current_study_changed.connect(self._on_study)
        session.slice_changed.connect(self._on_slice)
        session.result_added.connect(self._on_result)
        viewer.sig_slice_changed.connect(self._on_viewer_slice)
        viewer.sig_volume_requested.connect(self._on_volume)
        self._syncing = False

    def _on_viewer_slice(self, index: int) -> None:
        if not self._syncing:
            self.session.set_slice(index)

    def _on_volume(self, volume: int) -> None:
        try:
            self.session.show_volume(volume)
        except MedAdvError as exc:
            self.session.report_error(str(exc), title="Volume")

    def _on_study(self, index: int) -> None:
        study, wanted = self.session.study, self.session.current_slice
        self._syncing = True           # the viewer's own choice of slice must not overwrite the session's
        try:
            self.viewer.set_study(study)
            if study is not None:
                self.viewer.set_slice(wanted)
        finally:
            self._syncing = False
        outcome = self.session.study_results.get(index)
        if outcome is not None:
            self.viewer.set_adversarial(adversarial_slices(outcome), show=False, gradients=input_gradients(outcome))

    def _on_slice(self, index: int) -> None:
        if self.viewer.current != index:
            self.viewer.set_slice(index)

    def _on_result(self, entry: Any) -> None:
        if not isinstance(entry, AttackRun) or not entry.outcomes:
            return
        index, outcome = next(((i, o) for i, o in entry.outcomes if i == self.session.current_index),
                              entry.outcomes[0])
        if index != self.session.current_index:
            self.session.select_study(index, outcome.result.slices[0])
        elif self.viewer.current not in outcome.result.slices:
            self.session.set_slice(outcome.result.slices[0])
        self.viewer.set_adversarial(adversarial_slices(outcome), show=True, gradients=input_gradients(outcome))
