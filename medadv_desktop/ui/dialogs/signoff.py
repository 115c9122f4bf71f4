"""The report sign-off dialog: who asked for the report, who approves it, and what it is for.

Asked at File ▸ Export of a report (an evaluation or a before/after result)
when the evaluation carries a test plan's verdict (the committee report), or
at every report export when "Ask at every report export" is ticked; File ▸
Report Sign-off… opens it at any time. The values go into the report like the
CLI's ``--requester`` / ``--approver`` (the PDF's traceability table and
sign-off block, the JSON's ``report`` block, the CSVs' report id). They are
checked by the engine (:meth:`~medadv_desktop.engine.reports.ReportMeta.create`):
one line and at most 120 characters per name, at most 2000 for the purpose;
an invalid value is named under the fields and the dialog stays open.

Names are of staff, not patients; the purpose is free text and goes through
the report's de-identification pass like every other text.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QCheckBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QPlainTextEdit, QVBoxLayout, QWidget,
)

from medadv_desktop.errors import MedAdvError

INTRO = ("Printed in the report's sign-off block and traceability table (and its JSON). Leave a field empty to "
         "leave it out; the signature lines stay for a handwritten signature.")


@dataclass(frozen=True)
class SignOff:
    """What the dialog gave: names and purpose, already checked by the engine."""

    requester: str = ""
    approver: str = ""
    purpose: str = ""

    def meta(self, verdict=None):
        """A new engine ReportMeta (a fresh report id) with these names and ``verdict``."""
        from medadv_desktop.engine.reports import ReportMeta

        return ReportMeta.create(requester=self.requester, approver=self.approver, purpose=self.purpose,
                                 verdict=verdict)


class SignOffDialog(QDialog):
    """Requester, approver, purpose; OK checks them with the engine before closing."""

    def __init__(self, parent: QWidget | None = None, *, values: SignOff | None = None, ask_always: bool = False,
                 verdict_line: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("signoff_dialog")
        self.setWindowTitle("Report sign-off")
        self.setMinimumWidth(520)
        values = values or SignOff()
        layout = QVBoxLayout(self)
        intro = QLabel(INTRO + (f"\n\n{verdict_line}" if verdict_line else ""))
        intro.setWordWrap(True)
        intro.setObjectName("dim")
        layout.addWidget(intro)
        form = QFormLayout()
        self.requester = QLineEdit(values.requester)
        self.requester.setObjectName("signoff_requester")
        self.requester.setPlaceholderText("e.g. Dr A. Smith (radiology AI lead)")
        form.addRow("Requested by:", self.requester)
        self.approver = QLineEdit(values.approver)
        self.approver.setObjectName("signoff_approver")
        self.approver.setPlaceholderText("who signs the report off")
        form.addRow("Approver:", self.approver)
        self.purpose = QPlainTextEdit(values.purpose)
        self.purpose.setObjectName("signoff_purpose")
        self.purpose.setPlaceholderText("What the report is for, e.g. 'Acceptance of the nodule classifier v2 "
                                        "before the PACS pilot'")
        self.purpose.setFixedHeight(90)
        form.addRow("Purpose:", self.purpose)
        layout.addLayout(form)
        self.ask_always = QCheckBox("Ask at every report export")
        self.ask_always.setObjectName("signoff_ask_always")
        self.ask_always.setChecked(ask_always)
        self.ask_always.setToolTip("Off: asked only when the evaluation has a test plan verdict; the values "
                                   "given here are used for the session's other reports.")
        layout.addWidget(self.ask_always)
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Use for the report")
        buttons.button(QDialogButtonBox.Ok).setObjectName("signoff_ok")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.result_values: SignOff | None = None

    def values(self) -> SignOff:
        """The fields as the engine cleans them (raises ReportError naming the field at fault)."""
        meta = SignOff(self.requester.text(), self.approver.text(), self.purpose.toPlainText()).meta()
        return SignOff(meta.requester, meta.approver, meta.purpose)

    def accept(self) -> None:
        try:
            self.result_values = self.values()
        except MedAdvError as exc:
            self.error.setText(exc.user_message())
            self.error.show()
            return
        super().accept()
