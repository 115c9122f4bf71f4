"""Robust accuracy against eps, one line per attack (worst case dashed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from medadv_desktop.ui.widgets.summary_table import CUMULATIVE_MARK, is_cumulative


class RobustnessPlot(pg.PlotWidget):
    """Robust accuracy against eps, one line per attack (worst case dashed)."""

    PALETTE = ["#5fa8e8", "#e8875f", "#7fcf8f", "#c99ae8", "#e8d35f", "#5fe0d0", "#e85f8f"]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("robustness_plot")
        self.setMenuEnabled(False)
        self.showGrid(x=True, y=True, alpha=0.2)
        self.setLabel("left", "robust accuracy", units="")
        self.setLabel("bottom", "eps (×1/255 of the [0, 1] range)")
        self.setYRange(0, 1.02)
        self.legend = self.addLegend(offset=(-10, 10))
        self.series: dict[str, tuple[list[float], list[float]]] = {}

    def set_rows(self, rows: Sequence[Any], clean_accuracy: float | None = None) -> None:
        self.clear()
        self.legend.clear()
        series: dict[str, list[tuple[float, float]]] = {}
        cumulative: set[str] = set()
        for r in rows:
            series.setdefault(r.attack, []).append((r.eps * 255, r.robust_accuracy))
            if is_cumulative(r):
                cumulative.add(r.attack)
        self.series = {}
        for i, (attack, points) in enumerate(series.items()):
            points.sort()
            if clean_accuracy is not None:
                points = [(0.0, clean_accuracy)] + points
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            self.series[attack] = (xs, ys)
            worst = attack == "worst-case"
            pen = pg.mkPen("#ffffff" if worst else self.PALETTE[i % len(self.PALETTE)], width=2,
                           style=Qt.DashLine if worst else Qt.SolidLine)
            self.plot(xs, ys, pen=pen, symbol="o", symbolSize=6,
                      symbolBrush=pen.color(), name=attack + (CUMULATIVE_MARK if attack in cumulative else ""))
        self.setYRange(0, 1.02)
