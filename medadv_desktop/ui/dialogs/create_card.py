"""Model ▸ Create Card from Weights: a form that writes a model card for an existing weights file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton,
    QSpinBox, QWidget,
)


class CreateCardDialog(QDialog):
    """Form that writes a model card for an existing weights file."""

    def __init__(self, parent: QWidget | None = None, *, weights: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Create a model card from a weights file")
        self.setMinimumWidth(480)
        form = QFormLayout(self)
        row = QHBoxLayout()
        self.weights = QLineEdit(weights)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.weights, 1)
        row.addWidget(browse)
        form.addRow("Weights file:", row)
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. Chest CT nodule classifier v2")
        form.addRow("Name:", self.name)
        self.format = QComboBox()
        self.format.addItems(["timm", "torchscript"])
        form.addRow("Format:", self.format)
        self.architecture = QLineEdit("efficientnet_b0")
        form.addRow("timm architecture:", self.architecture)
        self.class_names = QLineEdit("no_finding, lesion")
        form.addRow("Class names (comma separated):", self.class_names)
        self.in_chans = QComboBox()
        self.in_chans.addItems(["1", "3"])
        form.addRow("Input channels:", self.in_chans)
        size_row = QHBoxLayout()
        self.height = QSpinBox()
        self.width = QSpinBox()
        for spin in (self.height, self.width):
            spin.setRange(8, 4096)
            spin.setValue(224)
            size_row.addWidget(spin)
        form.addRow("Input size (H, W px):", size_row)
        self.intensity = QComboBox()
        self.intensity.addItems(["window", "minmax", "percentile"])
        form.addRow("Intensity mapping:", self.intensity)
        win_row = QHBoxLayout()
        self.center = QLineEdit("40")
        self.window_width = QLineEdit("400")
        win_row.addWidget(QLabel("centre"))
        win_row.addWidget(self.center)
        win_row.addWidget(QLabel("width"))
        win_row.addWidget(self.window_width)
        form.addRow("Window (native units):", win_row)
        self.mean = QLineEdit("0.5")
        self.std = QLineEdit("0.5")
        form.addRow("Mean:", self.mean)
        form.addRow("Std:", self.std)
        self.intended_use = QLineEdit()
        form.addRow("Intended use:", self.intended_use)
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        form.addRow(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.format.currentTextChanged.connect(lambda f: self.architecture.setEnabled(f == "timm"))
        self.intensity.currentTextChanged.connect(self._intensity_changed)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Weights file", "",
                                              "Model weights (*.safetensors *.pt *.pth *.ts *.jit);;All files (*)")
        if path:
            self.weights.setText(path)

    def _intensity_changed(self, mode: str) -> None:
        self.center.setEnabled(mode == "window")
        self.window_width.setEnabled(mode == "window")

    def values(self) -> dict[str, Any]:
        """Keyword arguments for ``create_card_from_weights`` (raises ValueError on bad numbers)."""
        def numbers(text: str) -> list[float]:
            return [float(v) for v in text.replace(";", ",").split(",") if v.strip()]

        mode = self.intensity.currentText()
        intensity: dict[str, Any] = {"mode": mode}
        if mode == "window":
            intensity.update(center=float(self.center.text()), width=float(self.window_width.text()))
        fmt = self.format.currentText()
        return {
            "weights": self.weights.text().strip(),
            "name": self.name.text().strip() or Path(self.weights.text().strip()).stem or "Model",
            "format": fmt,
            "architecture": self.architecture.text().strip() if fmt == "timm" else "",
            "class_names": [c.strip() for c in self.class_names.text().split(",") if c.strip()],
            "in_chans": int(self.in_chans.currentText()),
            "input_size": [self.height.value(), self.width.value()],
            "intensity": intensity,
            "mean": numbers(self.mean.text()),
            "std": numbers(self.std.text()),
            "intended_use": self.intended_use.text().strip(),
        }
