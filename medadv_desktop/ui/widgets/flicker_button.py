"""The flicker toggle: original and adversarial alternate in one panel, as radiologists compare priors."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QToolButton, QWidget

#: Milliseconds each image stays up while flickering.
FLICKER_MS = 600


class FlickerButton(QToolButton):
    """Checkable; while checked emits ``sig_phase(True)`` (adversarial) and ``sig_phase(False)`` (original)
    in turn every :data:`FLICKER_MS`, and ``sig_stopped`` when unchecked. :meth:`step` flips by hand."""

    sig_phase = Signal(bool)
    sig_stopped = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("flicker_button")
        self.setText("Flicker")
        self.setCheckable(True)
        self.setToolTip("Alternate original and adversarial in one panel at the same window (Space)")
        self.setEnabled(False)
        self.phase = False               # True: adversarial showing
        self.timer = QTimer(self)
        self.timer.setInterval(FLICKER_MS)
        self.timer.timeout.connect(self.step)
        self.toggled.connect(self._on_toggled)

    def _on_toggled(self, on: bool) -> None:
        if on:
            self.phase = False
            self.step()
            self.timer.start()
        else:
            self.timer.stop()
            self.phase = False
            self.sig_stopped.emit()

    def step(self) -> None:
        """Show the other image now."""
        if not self.isChecked():
            return
        self.phase = not self.phase
        self.sig_phase.emit(self.phase)
