"""Original and adversarial of one sample at the model card's clinical window, and the signed difference.

The third image is adversarial − original in a diverging map centred at 0
over a symmetric range, as the viewer's Difference panel (issue 13): an L∞
perturbation's |Δ| is the same almost everywhere and drew a uniform block.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from medadv_desktop.ui import theme
from medadv_desktop.engine.perturbation import signed_delta, symmetric_range
from medadv_desktop.ui.widgets.image_panel import difference_colormap

NO_SAMPLE = "Select a sample to preview it."


class SamplePreview(QWidget):
    """Three small images and a caption; "Open in viewer" shows the sample in the main viewer."""

    sig_open_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.caption = QLabel(NO_SAMPLE)
        self.caption.setObjectName("sample_caption")
        self.caption.setWordWrap(True)
        top.addWidget(self.caption, 1)
        self.open_button = QPushButton("Open in viewer")
        self.open_button.setObjectName("open_sample")
        self.open_button.setToolTip("Show this sample in the main viewer (original, adversarial, difference)")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(lambda _checked=False: self.sig_open_requested.emit())
        top.addWidget(self.open_button)
        layout.addLayout(top)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(theme.VIEWER_BACKGROUND)
        layout.addWidget(self.graphics, 1)
        self.items: list[pg.ImageItem] = []
        for col, title in enumerate(("original", "adversarial", "Δ (adv − orig)")):
            self.graphics.addLabel(title, row=0, col=col, color=theme.TEXT_DIM, size="8pt")
            vb = self.graphics.addViewBox(row=1, col=col, lockAspect=True, invertY=True, enableMouse=False)
            item = pg.ImageItem(axisOrder="row-major")
            vb.addItem(item)
            self.items.append(item)
            self.graphics.ci.layout.setColumnStretchFactor(col, 1)      # three equal images whatever the titles
            self.graphics.ci.layout.setColumnPreferredWidth(col, 100)
        self.items[2].setLookupTable(difference_colormap().getLookupTable(nPts=256, alpha=False))
        self.graphics.setToolTip("Δ: adversarial − original, blue lower, white unchanged, red higher "
                                 "(symmetric range about 0)")
        self.levels: tuple[float, float] | None = None

    def show_sample(self, original: np.ndarray, adversarial: np.ndarray, caption: str,
                    levels: tuple[float, float] | None = None, *, openable: bool = False) -> None:
        """``levels``: the display window of both images (default: the original's range)."""
        original = np.asarray(original, dtype=np.float32)
        adversarial = np.asarray(adversarial, dtype=np.float32)
        if levels is None:
            levels = (float(original.min()), float(original.max()) or 1.0)
        self.levels = levels
        delta = signed_delta(original, adversarial)
        vmax = symmetric_range(delta)
        self.items[0].setImage(original, levels=levels)
        self.items[1].setImage(adversarial, levels=levels)
        self.items[2].setImage(delta, levels=(-vmax, vmax))
        for item in self.items:
            item.getViewBox().autoRange(padding=0.02)
            item.getViewBox().enableAutoRange()          # and again once the layout has given it its size
        self.caption.setText(caption)
        self.open_button.setEnabled(openable)

    def clear(self, caption: str = NO_SAMPLE, *, openable: bool = False) -> None:
        """No images: empty panels and ``caption`` (never the previous sample's)."""
        for item in self.items:
            item.clear()
        self.levels = None
        self.caption.setText(caption)
        self.open_button.setEnabled(openable)

    @property
    def is_empty(self) -> bool:
        return all(item.image is None for item in self.items)
