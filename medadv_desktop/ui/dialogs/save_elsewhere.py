"""The offer shown when a finished result could not be written (disk full, read-only, no permission).

One clear message (what could not be saved, the reason in words, that
nothing partial was left behind and the result is still in memory) and two
buttons: "Save Elsewhere…" (the caller then asks for another folder and
writes there) and "Not Now" (the result stays in memory; File ▸ Export
writes it later). Non-modal: the application keeps working while it is
shown. No path appears in the text (folder names can carry patient names).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget


class SaveElsewhereDialog(QMessageBox):
    """Asks whether to save an unsaved result in another folder; ``sig_save_elsewhere`` when yes."""

    sig_save_elsewhere = Signal()

    def __init__(self, what: str, reason: str, parent: QWidget | None = None) -> None:
        super().__init__(QMessageBox.Warning, "MedAdv Desktop: Not saved",
                         self.message(what, reason), QMessageBox.NoButton, parent)
        self.setObjectName("save_elsewhere_dialog")
        self.setInformativeText("Choose another folder (another disk, with free space and write permission), "
                                "or keep the result and use File ▸ Export later.")
        self.save_button: QPushButton = self.addButton("Save Elsewhere…", QMessageBox.AcceptRole)
        self.save_button.setObjectName("save_elsewhere")
        self.later_button: QPushButton = self.addButton("Not Now", QMessageBox.RejectRole)
        self.later_button.setObjectName("not_now")
        self.setDefaultButton(self.save_button)
        self.setModal(False)
        self.setAttribute(Qt.WA_DeleteOnClose)
        self.buttonClicked.connect(self._on_clicked)

    @staticmethod
    def message(what: str, reason: str) -> str:
        return (f"The {what} could not be saved: {reason}. Nothing partial was left behind; "
                "the finished result is still in memory.")

    def _on_clicked(self, button) -> None:
        if button is self.save_button:
            self.sig_save_elsewhere.emit()
