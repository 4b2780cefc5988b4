"""The context meter: the tokens the system prompt (with examples and any summary), the
history and the reply take of the context, as a bar and in words."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

COLORS = ("#8250df", "#0969da", "#1a7f37")  # system, history, reply


class ContextMeter(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setAccessibleName("Context use")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.usage = (0, 0, 0, 0)  # system, history, reply, context size
        self.set_usage(0, 0, 0, 0)

    def sizeHint(self) -> QSize:
        return QSize(200, 8)

    def set_usage(self, system: int, history: int, reply: int, n_ctx: int) -> None:
        self.usage = (system, history, reply, n_ctx)
        text = self.text()
        self.setToolTip(text)
        self.setAccessibleDescription(text)
        self.update()

    def text(self) -> str:
        system, history, reply, n_ctx = self.usage
        if not n_ctx:
            return "Context: nothing sent yet"
        used = system + history + reply
        return (
            f"Context {used:,} of {n_ctx:,} tokens ({100 * used / n_ctx:.0f}%): "
            f"system prompt {system:,}, history {history:,}, reply {reply:,}"
        )

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = QRectF(self.rect())
        painter.fillRect(rect, self.palette().alternateBase())
        *parts, n_ctx = self.usage
        x = 0.0
        for value, color in zip(parts, COLORS, strict=True):
            width = rect.width() * min(value / n_ctx, 1.0) if n_ctx else 0.0
            painter.fillRect(QRectF(x, 0, width, rect.height()), QColor(color))
            x += width
        painter.end()
