"""Class probabilities before and after an attack, as grouped bars (Results ▸ Prediction change).

The chart shows one study attack's result for the current slice, or nothing:
:meth:`PredictionChart.show_message` empties it (no bars, no class ticks)
and says why, so another study's or slice's bars never stay on screen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from medadv_desktop.engine.reports import formatting
from medadv_desktop.ui import theme


class PredictionChart(pg.PlotWidget):
    """Class probabilities before and after the attack, as grouped bars."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("prediction_chart")
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.showGrid(y=True, alpha=0.2)
        self.setYRange(0, 1.05, padding=0)
        self.setLabel("left", "probability")
        self.before: list[float] = []
        self.after: list[float] = []
        self.class_names: list[str] = []
        self.message = ""
        self.show_message("No attack result yet")

    def show_message(self, text: str) -> None:
        """No bars: ``text`` in the middle of an empty plot (no class ticks, no probability ticks)."""
        self.clear()
        self.before, self.after, self.class_names = [], [], []
        self.message = text
        self.setTitle("")
        self.setLabel("left", "")
        self.getAxis("bottom").setTicks([[]])
        self.getAxis("left").setTicks([[]])
        self.setXRange(0, 1, padding=0)
        self.setYRange(0, 1, padding=0)
        label = pg.TextItem(text, color=theme.TEXT_DIM, anchor=(0.5, 0.5))
        label.setPos(0.5, 0.5)
        self.addItem(label)

    @property
    def has_bars(self) -> bool:
        return bool(self.before)

    def set_probabilities(self, class_names: Sequence[str], before: Sequence[float],
                          after: Sequence[float] | None, title: str = "") -> None:
        self.clear()
        self.message = ""
        self.setLabel("left", "probability")
        self.class_names, self.before = list(class_names), [float(v) for v in before]
        self.after = [float(v) for v in after] if after is not None else []
        x = np.arange(len(class_names), dtype=float)
        width = 0.38 if after is not None else 0.6
        bars = pg.BarGraphItem(x=x - (width / 2 if after is not None else 0), height=self.before, width=width,
                               brush=theme.BEFORE_COLOR, pen=None)
        self.addItem(bars)
        if after is not None:
            bars_after = pg.BarGraphItem(x=x + width / 2, height=self.after, width=width,
                                         brush=theme.AFTER_COLOR, pen=None)
            self.addItem(bars_after)
        for i in range(len(class_names)):
            for value, dx in ((self.before[i], -width / 2 if after is not None else 0.0),
                              *(((self.after[i], width / 2),) if after is not None else ())):
                label = pg.TextItem(formatting.pct_compact(value), color=theme.TEXT, anchor=(0.5, 1.0))
                label.setPos(i + dx, value)
                self.addItem(label)
        self.getAxis("bottom").setTicks([[(i, n) for i, n in enumerate(class_names)]])
        self.setXRange(-0.6, len(class_names) - 0.4, padding=0)
        self.setYRange(0, 1.25, padding=0)    # headroom above 100 % for the value labels
        self.getAxis("left").setTicks([[(v, f"{v:g}") for v in (0, 0.25, 0.5, 0.75, 1.0)]])
        # the key sits in the title line, outside the plot, so it never covers a bar or its label (a legend
        # inside the plot did at 1280x800)
        key = f'<span style="color:{theme.BEFORE_COLOR}">&#9632;</span> before (original)'
        if after is not None:
            key += f' &nbsp; <span style="color:{theme.AFTER_COLOR}">&#9632;</span> after (adversarial)'
        self.setTitle(f"{title} &nbsp; {key}" if title else key, color=theme.TEXT, size="9pt")
