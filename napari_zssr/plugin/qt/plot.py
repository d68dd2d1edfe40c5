"""The widget's tiny loss plot: training loss and reconstruction error as log-scale sparklines."""
from __future__ import annotations

import math

import numpy as np
from qtpy.QtCore import QPointF
from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QWidget


class LossPlot(QWidget):
    """Sparklines of the training loss (grey) and the reconstruction error (blue), log scale.

    Each series is scaled to its own range (they differ in magnitude); drawn in the main thread.
    """

    def __init__(self, parent=None, max_points: int = 400):
        super().__init__(parent)
        self.values: list = []          # reconstruction error (the engine's test, every few iterations)
        self.losses: list = []          # training loss (every progress event)
        self.max_points = max_points
        self.setMinimumHeight(48)
        self.setMaximumHeight(64)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("training loss (grey) and reconstruction error of the downscaled input (blue), log scale")

    def clear(self) -> None:
        self.values, self.losses = [], []
        self.update()

    def _append(self, series: list, value) -> None:
        if value is None or not math.isfinite(value) or value <= 0:
            return
        series.append(float(value))
        if len(series) > self.max_points:
            del series[: len(series) - self.max_points]
        self.update()

    def add(self, rec_error: float) -> None:
        self._append(self.values, rec_error)

    def add_loss(self, loss: float) -> None:
        self._append(self.losses, loss)

    def _line(self, p: QPainter, series: list, w: int, h: int) -> None:
        if len(series) < 2:
            return
        logs = np.log10(np.asarray(series))
        lo, hi = float(logs.min()), float(logs.max())
        span = hi - lo if hi > lo else 1.0
        n = len(logs)
        p.drawPolyline(QPolygonF([QPointF(3 + (w - 6) * i / (n - 1), 16 + (h - 19) * (1 - (v - lo) / span))
                                  for i, v in enumerate(logs)]))

    def paintEvent(self, event):  # noqa: N802 - Qt name
        p = QPainter(self)
        try:
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            w, h = self.width(), self.height()
            p.setPen(QPen(QColor(128, 128, 128, 90)))
            p.drawRect(0, 0, w - 1, h - 1)
            p.setPen(QPen(QColor(150, 150, 150), 1.0))
            self._line(p, self.losses, w, h)
            p.setPen(QPen(QColor(90, 170, 255), 1.8))
            self._line(p, self.values, w, h)
            text = []
            if self.losses:
                text.append(f"loss {self.losses[-1]:.3g}")
            if self.values:
                text.append(f"rec. error {self.values[-1]:.3g}")
            p.setPen(QPen(QColor(160, 160, 160)))
            p.drawText(6, 13, " · ".join(text) if text else "training loss / reconstruction error")
        finally:
            p.end()
