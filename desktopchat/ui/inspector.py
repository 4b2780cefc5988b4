"""The prompt inspector: exactly what the model received for a reply (the rendered chat
template and its token count, and where the system prompt went when the template refuses a
system role), the settings and model used, and the generation stats."""

from __future__ import annotations

import html

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.chat import GenerationStats, Message, PromptRecord
from desktopchat.core.inference.prompt import SYSTEM_FOLDED


def describe(message: Message, record: PromptRecord | None) -> str:
    """The inspector's summary, as HTML."""
    stats = message.stats or GenerationStats()
    rows: list[tuple[str, str]] = [("Model", message.model or "unknown")]
    if record is not None:
        p = record.params
        rows += [
            ("Prompt", f"{record.n_tokens:,} tokens of a {stats.context_size:,}-token context"),
            (
                "Sampling",
                f"temperature {p.temperature:g}, top-k {p.top_k}, top-p {p.top_p:g}, "
                f"min-p {p.min_p:g}, repeat penalty {p.repeat_penalty:g}, "
                f"max new tokens {p.max_tokens:,}, seed "
                + (str(stats.seed) if stats.seed is not None else "random"),
            ),
            (
                "JSON output",
                ("schema" if p.json_schema.strip() else "any JSON") if p.json_mode else "off",
            ),
            ("History", _history(record)),
        ]
    else:
        rows.append(("Prompt", "not recorded (a reply from before this version, or imported)"))
    ttft = stats.time_to_first_token
    speed = stats.tokens_per_second
    rows.append(("Chat template", stats.template or "unknown"))
    if SYSTEM_FOLDED in stats.template:
        rows.append(
            (
                "System prompt",
                "sent at the start of the first user message: this model's chat template "
                "does not accept a system role",
            )
        )
    rows += [
        ("First token", f"{ttft * 1000:.0f} ms" if ttft is not None else "—"),
        ("Speed", f"{speed:.1f} tokens/s" if speed is not None else "—"),
        ("Reply", f"{stats.completion_tokens:,} tokens"),
        ("Stop reason", message.finish_reason or message.status.value),
    ]
    cells = "".join(
        f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>" for k, v in rows
    )
    return f"<table cellspacing='4'>{cells}</table>"


def _history(record: PromptRecord) -> str:
    parts = []
    if record.summarized_messages:
        parts.append(f"the {record.summarized_messages} oldest messages sent as a summary")
    if record.dropped_messages:
        parts.append(f"{record.dropped_messages} older messages left out")
    return "; ".join(parts) if parts else "all of it"


class PromptInspector(QDialog):
    def __init__(
        self, message: Message, record: PromptRecord | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("What the model received")
        self.resize(760, 620)
        self.summary = QLabel(describe(message, record))
        self.summary.setAccessibleName("Prompt details")
        self.summary.setWordWrap(True)
        self.prompt = QPlainTextEdit(record.text if record is not None else "")
        self.prompt.setReadOnly(True)
        self.prompt.setAccessibleName("The prompt text, as the model received it")
        self.prompt.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        copy = QPushButton("Copy prompt")
        copy.setAccessibleName("Copy the prompt text")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.prompt.toPlainText()))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(QLabel("Rendered chat template (special tokens as text):"))
        layout.addWidget(self.prompt, 1)
        layout.addWidget(buttons)
