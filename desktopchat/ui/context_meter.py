"""The context meter: the tokens the system prompt (with examples and any summary), the
attached documents' passages, the history and the reply take of the context, as a bar and
in words."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktopchat.core.chat import GenerationStats

COLORS = ("#8250df", "#bf8700", "#0969da", "#1a7f37")  # system, documents, history, reply


class ContextMeter(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setAccessibleName("Context use")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.usage = (0, 0, 0, 0)  # system, history (documents included), reply, context size
        self.documents = 0  # of the history: the attached documents' passages
        self.show_stats(None)

    def sizeHint(self) -> QSize:
        return QSize(200, 8)

    def show_stats(self, stats: GenerationStats | None) -> None:
        """A reply's use of the context (None: nothing sent yet)."""
        if stats is None:
            self.set_usage(0, 0, 0, 0)
        else:
            self.set_usage(
                stats.system_tokens,
                stats.prompt_tokens,
                stats.completion_tokens,
                stats.context_size,
                documents=stats.documents_tokens,
            )

    def set_usage(
        self, system: int, prompt: int, reply: int, n_ctx: int, *, documents: int = 0
    ) -> None:
        """``system`` tokens of the ``prompt`` (and ``documents`` tokens of it), then the
        ``reply``, of ``n_ctx``."""
        self.usage = (system, prompt - system, reply, n_ctx)
        self.set_documents(documents)

    def set_documents(self, tokens: int) -> None:
        """The attached documents' share of the prompt (set when a reply starts)."""
        self.documents = max(0, min(tokens, self.usage[1]))
        text = self.text()
        self.setToolTip(text)
        self.setAccessibleDescription(text)
        self.update()

    def text(self) -> str:
        system, history, reply, n_ctx = self.usage
        if not n_ctx:
            return "Context: nothing sent yet"
        used = system + history + reply
        documents = f"documents {self.documents:,}, " if self.documents else ""
        return (
            f"Context {used:,} of {n_ctx:,} tokens ({100 * used / n_ctx:.0f}%): "
            f"system prompt {system:,}, {documents}history {history - self.documents:,}, "
            f"reply {reply:,}"
        )

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = QRectF(self.rect())
        painter.fillRect(rect, self.palette().alternateBase())
        system, history, reply, n_ctx = self.usage
        parts = (system, self.documents, history - self.documents, reply)
        x = 0.0
        for value, color in zip(parts, COLORS, strict=True):
            width = rect.width() * min(value / n_ctx, 1.0) if n_ctx else 0.0
            painter.fillRect(QRectF(x, 0, width, rect.height()), QColor(color))
            x += width
        painter.end()
