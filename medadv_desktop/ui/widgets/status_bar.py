"""The status bar: a message, the value under the cursor, job progress, the model and its badge."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QSizePolicy, QStatusBar, QWidget


class StatusBar(QStatusBar):
    """The model's name is elided to fit (full name in the tooltip); whether the model is the
    adversarially trained copy is a badge of its own, so it can never be cut off."""

    MODEL_WIDTH = 260

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("status_bar")
        self.message = QLabel("Ready")
        self.message.setObjectName("status_message")
        self.message.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.addWidget(self.message, 1)
        self.cursor = QLabel("")
        self.cursor.setObjectName("dim")
        self.addPermanentWidget(self.cursor)
        self.progress = QProgressBar()
        self.progress.setObjectName("status_progress")
        self.progress.setFixedWidth(140)
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.addPermanentWidget(self.progress)
        self.model = QLabel("No model")
        self.model.setObjectName("status_model")
        self.model.setMaximumWidth(self.MODEL_WIDTH)
        self.addPermanentWidget(self.model)
        self.trained = QLabel("ADVERSARIALLY TRAINED")
        self.trained.setObjectName("badge_trained")
        self.trained.setToolTip("The current model is the adversarially trained (hardened) copy")
        self.trained.hide()
        self.addPermanentWidget(self.trained)
        self._model_name = ""

    def set_message(self, text: str) -> None:
        self.message.setText(text.splitlines()[0] if text else "")
        self.message.setToolTip(text)

    def set_model(self, name: str | None, *, hardened: bool = False) -> None:
        self._model_name = name or ""
        full = f"Model: {name}" if name else "No model"
        elided = self.model.fontMetrics().elidedText(full, Qt.ElideMiddle, self.MODEL_WIDTH - 8)
        self.model.setText(elided)
        self.model.setToolTip(full + (" (adversarially trained)" if hardened else ""))
        self.trained.setVisible(hardened)

    def set_progress(self, fraction: float | None) -> None:
        """``None``: busy (size unknown)."""
        if fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
        self.progress.show()

    def hide_progress(self) -> None:
        self.progress.hide()
