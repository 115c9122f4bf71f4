"""Training loss (per batch and per epoch) and validation accuracy (clean, robust) per epoch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QWidget

from medadv_desktop.ui import theme


class TrainingCurves(QWidget):
    """Training loss (per batch and per epoch) and validation accuracy (clean, robust) per epoch."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 2, 4, 0)
        layout.setSpacing(4)
        self.setMinimumHeight(150)
        self.loss_plot = pg.PlotWidget()
        self.loss_plot.setObjectName("training_loss_plot")
        self.accuracy_plot = pg.PlotWidget()
        self.accuracy_plot.setObjectName("training_accuracy_plot")
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.setMenuEnabled(False)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("bottom", "epoch")
            plot.getAxis("left").setWidth(42)
            plot.getAxis("left").enableAutoSIPrefix(False)
            layout.addWidget(plot, 1)
        self.loss_plot.setTitle("Training loss", color=theme.TEXT, size="9pt")
        self.loss_plot.setLabel("left", "loss")
        self.accuracy_plot.setTitle("Validation accuracy", color=theme.TEXT, size="9pt")
        self.accuracy_plot.setToolTip("Clean and robust accuracy on the validation split after every epoch "
                                      "(epoch 0: before training). Robust: L-inf PGD at the training eps.")
        self.accuracy_plot.setLabel("left", "accuracy (%)")
        self.accuracy_plot.setYRange(0, 122, padding=0)      # headroom above 100 % for the legend
        self.accuracy_plot.getAxis("left").setTicks([[(v, str(v)) for v in (0, 25, 50, 75, 100)]])
        loss_legend = self.loss_plot.addLegend(offset=(-6, 4), colCount=2)
        acc_legend = self.accuracy_plot.addLegend(offset=(-6, 4), colCount=2)
        for legend in (loss_legend, acc_legend):
            legend.setBrush(pg.mkBrush(theme.PANEL + "d0"))
        self.batch_item = self.loss_plot.plot([], [], pen=pg.mkPen(theme.TEXT_DIM, width=1), name="batch")
        self.epoch_loss_item = self.loss_plot.plot([], [], pen=pg.mkPen(theme.AFTER_COLOR, width=2), symbol="o",
                                                   symbolSize=7, symbolBrush=theme.AFTER_COLOR, name="epoch mean")
        self.clean_item = self.accuracy_plot.plot([], [], pen=pg.mkPen(theme.BEFORE_COLOR, width=2), symbol="o",
                                                  symbolSize=7, symbolBrush=theme.BEFORE_COLOR, name="clean")
        self.robust_item = self.accuracy_plot.plot([], [], pen=pg.mkPen(theme.AFTER_COLOR, width=2), symbol="s",
                                                   symbolSize=7, symbolBrush=theme.AFTER_COLOR, name="robust (PGD)")
        self.clear()

    def clear(self) -> None:
        self.batch_x: list[float] = []
        self.batch_loss: list[float] = []
        self.epoch_x: list[float] = []
        self.epoch_loss: list[float] = []
        self.acc_x: list[float] = []
        self.clean_accuracy: list[float] = []
        self.robust_accuracy: list[float] = []
        self._redraw()

    def add_batches(self, pts: Sequence[tuple[float, float]]) -> None:
        for x, loss in pts:
            self.batch_x.append(x)
            self.batch_loss.append(loss)
        if pts:
            self.batch_item.setData(self.batch_x, self.batch_loss)

    def add_epochs(self, records: Sequence[dict[str, Any]]) -> None:
        for r in records:
            epoch = float(r["epoch"])
            if r.get("loss") is not None:
                self.epoch_x.append(epoch)
                self.epoch_loss.append(float(r["loss"]))
            if r.get("val_clean_accuracy") is not None:
                self.acc_x.append(epoch)
                self.clean_accuracy.append(100 * float(r["val_clean_accuracy"]))
                self.robust_accuracy.append(100 * float(r.get("val_robust_accuracy") or 0.0))
        if records:
            self._redraw()

    def _redraw(self) -> None:
        self.batch_item.setData(self.batch_x, self.batch_loss)
        self.epoch_loss_item.setData(self.epoch_x, self.epoch_loss)
        self.clean_item.setData(self.acc_x, self.clean_accuracy)
        self.robust_item.setData(self.acc_x, self.robust_accuracy)
        last = max([1.0] + self.acc_x + self.epoch_x + self.batch_x)
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.setXRange(0, last, padding=0.04)
            plot.getAxis("bottom").setTicks([[(float(e), str(e)) for e in range(int(last) + 1)]]
                                            if last <= 20 else None)
