"""The test-plan picker of the evaluation form: a plan file (TOML/JSON), read and checked as it is chosen.

The plan is parsed by the engine (:func:`medadv_desktop.engine.plans.load_plan`)
when the path changes; the line under the field names the plan and its criteria,
or the engine's error (one line naming the field at fault), and :meth:`problem`
gives that error to the Attack panel, which keeps Run disabled until the plan
reads or the field is cleared. The evaluation workflow applies the plan (it is
checked against the model and the eps grid before the model runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QVBoxLayout, QWidget

from medadv_desktop.errors import MedAdvError
from medadv_desktop.ui.widgets.common import browse_button, dim_label

PLACEHOLDER = "optional: acceptance criteria (.toml / .json)"
NO_PLAN = "No test plan: the evaluation reports its numbers without a verdict."


def plan_text(plan: Any) -> str:
    """'Plan 'Demo acceptance' 1.0 (owner X): 4 criteria, 95 % clopper-pearson intervals'."""
    version = f" {plan.version}" if plan.version else ""
    owner = f" (owner: {plan.owner})" if plan.owner else ""
    n = len(plan.criteria)
    return (f"Plan '{plan.title}'{version}{owner}: {n} criteri{'on' if n == 1 else 'a'}, "
            f"{100 * plan.confidence:g} % {plan.interval} intervals. The verdict opens Results and the report.")


class PlanPicker(QWidget):
    """A plan file path with Browse (and the field's clear button), and a line saying what the plan holds or what is wrong."""

    sig_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("plan_picker")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setObjectName("plan_edit")
        self.edit.setPlaceholderText(PLACEHOLDER)
        self.edit.setClearButtonEnabled(True)
        self.edit.textChanged.connect(self._read)
        row.addWidget(self.edit, 1)
        self.browse = browse_button(self._browse, "Choose a test plan file (TOML or JSON)")
        row.addWidget(self.browse)
        layout.addLayout(row)
        self.status = dim_label(NO_PLAN, object_name="plan_status")
        layout.addWidget(self.status)
        self.plan: Any = None               # the engine's TestPlan, or None
        self.error = ""

    def path(self) -> str:
        return self.edit.text().strip()

    def set_path(self, path: str | Path) -> None:
        self.edit.setText(str(path))

    def problem(self) -> str:
        """Why the chosen plan cannot be used ('' when it reads, or when there is none)."""
        return self.error

    def _browse(self) -> None:
        start = str(Path(self.path()).parent) if self.path() else ""
        chosen, _ = QFileDialog.getOpenFileName(self, "Test plan (acceptance criteria)", start,
                                                "Test plans (*.toml *.json)")
        if chosen:
            self.edit.setText(chosen)

    def _read(self, *_args) -> None:
        path = self.path()
        self.plan, self.error = None, ""
        if path:
            from medadv_desktop.engine.plans import load_plan

            try:
                self.plan = load_plan(path)
            except MedAdvError as exc:
                self.error = "Test plan: " + exc.user_message().splitlines()[0]
        self.status.setText(self.error or (plan_text(self.plan) if self.plan is not None else NO_PLAN))
        self.status.setObjectName("error" if self.error else "dim")
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
        self.edit.setToolTip(self.error or path)
        self.sig_changed.emit()
