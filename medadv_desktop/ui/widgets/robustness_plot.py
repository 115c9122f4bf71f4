"""Robust accuracy against eps, one line per attack (worst case dashed).

Drawing is cheap on the UI thread when a result arrives: the series are
computed at once (``series``), but the plot items are only updated when the
plot is visible (a result arriving while another Results tab is shown costs
nothing until this tab is opened), and the line items and the legend are
reused from one result to the next (``setData`` on an existing curve instead
of removing and re-adding items to the scene, which took ~100 ms per result
on a loaded 2-core machine).
"""

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
        self.names: dict[str, str] = {}                  # attack -> legend name (cumulative mark)
        self._curves: list[pg.PlotDataItem] = []         # reused; the first len(series) are shown
        self._legend_key: list[tuple[str, str]] = []     # (legend name, colour) shown in the legend
        self._dirty = False

    def set_rows(self, rows: Sequence[Any], clean_accuracy: float | None = None) -> None:
        series: dict[str, list[tuple[float, float]]] = {}
        cumulative: set[str] = set()
        for r in rows:
            series.setdefault(r.attack, []).append((r.eps * 255, r.robust_accuracy))
            if is_cumulative(r):
                cumulative.add(r.attack)
        self.series, self.names = {}, {}
        for attack, points in series.items():
            points.sort()
            if clean_accuracy is not None:
                points = [(0.0, clean_accuracy)] + points
            self.series[attack] = ([p[0] for p in points], [p[1] for p in points])
            self.names[attack] = attack + (CUMULATIVE_MARK if attack in cumulative else "")
        self._dirty = True
        if self.isVisible():
            self._draw()

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self._dirty:
            self._draw()

    def _style(self, i: int, attack: str) -> tuple[Any, str]:
        worst = attack == "worst-case"
        colour = "#ffffff" if worst else self.PALETTE[i % len(self.PALETTE)]
        return pg.mkPen(colour, width=2, style=Qt.DashLine if worst else Qt.SolidLine), colour

    def _draw(self) -> None:
        """Bring the plot items in line with ``series`` (reusing the curves made for earlier results)."""
        self._dirty = False
        legend_key = []
        for i, (attack, (xs, ys)) in enumerate(self.series.items()):
            pen, colour = self._style(i, attack)
            if i == len(self._curves):
                self._curves.append(self.plot([], [], symbol="o", symbolSize=6))
            curve = self._curves[i]
            curve.setPen(pen)
            curve.setSymbolBrush(pg.mkBrush(colour))
            curve.setData(xs, ys)
            curve.opts["name"] = self.names[attack]
            curve.setVisible(True)
            legend_key.append((self.names[attack], colour + str(pen.style())))
        for curve in self._curves[len(self.series):]:
            curve.setVisible(False)
            curve.setData([], [])
        if legend_key != self._legend_key:            # the legend's entries are rebuilt only when they change
            self.legend.clear()
            for curve, (name, _style) in zip(self._curves, legend_key):
                self.legend.addItem(curve, name)
            self._legend_key = legend_key
        self.setYRange(0, 1.02)

    @property
    def shown_curves(self) -> list[pg.PlotDataItem]:
        """The plot's visible lines (after the plot was shown)."""
        return [c for c in self._curves if c.isVisible()]
