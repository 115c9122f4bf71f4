"""The modality guard's non-modal warning: one wrapped line per warning, hidden when all is clear.

Shown in the Attack dock (before a run: the guard over the study or studies
the scope will attack; during a run: the workflow's warning events) and in
the Results dock (the warnings kept with the shown result).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtWidgets import QLabel, QWidget

STYLE = ("QLabel#guard_banner { background: #4a3500; color: #ffd479; border: 1px solid #b98900; "
         "border-radius: 3px; padding: 4px; }")


def warning_text(warning: Any) -> str:
    """A warning object (``ModalityWarning``) or a plain string, as one line."""
    return str(getattr(warning, "message", warning))


class GuardBanner(QLabel):
    """A wrapped amber label listing modality-guard warnings; hidden when there are none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("guard_banner")
        self.setWordWrap(True)
        self.setStyleSheet(STYLE)
        self.messages: list[str] = []
        self.hide()

    def set_warnings(self, warnings: Iterable[Any], heading: str = "") -> None:
        """Show ``warnings`` (deduplicated, in order) under ``heading``; none: hide."""
        self.messages = list(dict.fromkeys(warning_text(w) for w in warnings))
        self._render(heading)

    def add_warning(self, warning: Any, heading: str = "") -> None:
        text = warning_text(warning)
        if text not in self.messages:
            self.messages.append(text)
        self._render(heading)

    def _render(self, heading: str) -> None:
        lines = [f"⚠ {m}" for m in self.messages]
        self.setText("\n".join(([heading] if heading and lines else []) + lines))
        self.setToolTip(self.text())
        self.setVisible(bool(lines))
