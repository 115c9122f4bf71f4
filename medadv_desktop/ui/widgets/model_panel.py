"""The Model dock: the loaded model card and the prediction for the current slice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from medadv_desktop.ui.widgets.prediction_bars import PredictionBars

if TYPE_CHECKING:  # pragma: no cover
    from medadv_desktop.engine.models.card import ModelCard


class ModelPanel(QWidget):
    """The prediction for the current slice first (it must stay visible in a short dock at 1280x800),
    then the loaded model card, with badges: synthetic demo, adversarially trained."""

    sig_load_requested = Signal()
    sig_create_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        buttons = QHBoxLayout()
        self.load_button = QPushButton("Load card…")
        self.load_button.clicked.connect(self.sig_load_requested)
        self.create_button = QPushButton("From weights…")
        self.create_button.setToolTip("Create a model card for a weights file")
        self.create_button.clicked.connect(self.sig_create_requested)
        for button in (self.load_button, self.create_button):
            button.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
            button.setMinimumWidth(80)
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.banner = QLabel("")
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.hide()
        layout.addWidget(self.banner)
        self.trained_badge = QLabel("Adversarially trained (hardened) model")
        self.trained_badge.setObjectName("badge_trained")
        self.trained_badge.setWordWrap(True)
        self.trained_badge.hide()
        layout.addWidget(self.trained_badge)
        heading = QLabel("Prediction, current slice")
        heading.setObjectName("heading")
        layout.addWidget(heading)
        self.bars = PredictionBars()
        layout.addWidget(self.bars)
        self.prediction_note = QLabel("Load a model and a study to see the prediction.")
        self.prediction_note.setObjectName("dim")
        self.prediction_note.setWordWrap(True)
        layout.addWidget(self.prediction_note)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignRight)
        form.setContentsMargins(0, 4, 0, 4)
        form.setVerticalSpacing(3)
        self.fields: dict[str, QLabel] = {}
        for key, label in (("name", "Name"), ("architecture", "Architecture"), ("classes", "Classes"),
                           ("input", "Input"), ("intensity", "Intensity"), ("device", "Device")):
            value = QLabel("—")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextSelectableByMouse)
            self.fields[key] = value
            form.addRow(label + ":", value)
        layout.addLayout(form)
        layout.addStretch(1)

    def set_card(self, card: ModelCard | None, device: str = "", *, synthetic: bool = False,
                 hardened: bool = False) -> None:
        if card is None:
            for value in self.fields.values():
                value.setText("—")
            self.banner.hide()
            self.trained_badge.hide()
            self.bars.set_classes([])
            return
        self.fields["name"].setText(card.name)
        self.fields["architecture"].setText(f"{card.architecture or '—'} ({card.format})")
        self.fields["classes"].setText(", ".join(card.class_names))
        size = "×".join(str(v) for v in card.input_size)
        self.fields["input"].setText(f"{size} px, {card.in_chans} channel(s)")
        self.fields["intensity"].setText(card.intensity.describe())
        self.fields["device"].setText(device or "—")
        self.banner.setText("Synthetic demo task, not for clinical use")
        self.banner.setVisible(synthetic)
        self.trained_badge.setVisible(hardened)
        self.bars.set_classes(card.class_names)

    def set_prediction(self, before: Sequence[float] | None, after: Sequence[float] | None = None,
                       note: str = "") -> None:
        """Probabilities of the current slice (``after``: of its adversarial version); None: none yet."""
        if before is None:
            self.bars.clear()
        else:
            self.bars.set_values(before, after)
        self.prediction_note.setText(note)
        self.prediction_note.setVisible(bool(note))

    def prediction_texts(self) -> list[list[str]]:
        """[[class, before %, (after %)], ...]: what the panel shows, for tests and copy."""
        return self.bars.texts()
