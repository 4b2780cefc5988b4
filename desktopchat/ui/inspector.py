"""The prompt inspector: exactly what the model received for a reply (the rendered chat
template and its token count, and where the system prompt went when the template refuses a
system role), the settings and model used, the generation stats, and the passages the
attached documents gave it with their ranks and scores."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.chat import (
    DocumentsMode,
    DocumentsUse,
    GenerationStats,
    Message,
    PromptRecord,
    SourcePassage,
)
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
        if record.documents is not None:
            rows.append(("Documents", documents_summary(record.documents)))
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
    if stats.reasoning_tokens or message.reasoning:
        took = stats.reasoning_seconds
        rows.append(
            (
                "Thinking",
                f"{stats.reasoning_tokens:,} of the reply's tokens"
                + (f", {took:.1f} s" if took is not None else "")
                + f": {message.reasoning[:2000]}",
            )
        )
    if message.tool_calls:
        calls = "; ".join(c.describe() for c in message.tool_calls)
        rows.append(("Tool calls", calls))
    cells = "".join(
        f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>" for k, v in rows
    )
    return f"<table cellspacing='4'>{cells}</table>"


def documents_summary(use: DocumentsUse) -> str:
    """How the attached documents went in: whole or passages, tokens, the search's time."""
    count = len(use.sources)
    if use.mode == DocumentsMode.WHOLE.value:
        how = f"the whole text sent ({count:,} parts)"
    elif use.mode == DocumentsMode.PASSAGES.value:
        how = f"{count:,} passages retrieved"
    else:
        how = "nothing found"
    told = (
        f"{how}; {use.used_tokens:,} of {use.budget_tokens:,} tokens kept for documents; "
        f"retrieval {use.retrieval_seconds * 1000:.0f} ms"
    )
    if use.still_indexing:
        told += "; indexing was still running"
    return told


PASSAGE_COLUMNS = ("#", "Score", "Keyword rank", "Vector rank", "Cosine", "Tokens", "File", "Where")


def passage_cells(source: SourcePassage) -> tuple[str, ...]:
    """A passage's row in the inspector's table."""

    def rank(value: int | None) -> str:
        return str(value) if value is not None else "—"

    cosine = f"{source.vector_score:.3f}" if source.vector_score is not None else "—"
    return (
        str(source.number),
        f"{source.score:.4f}",
        rank(source.keyword_rank),
        rank(source.vector_rank),
        cosine,
        f"{source.tokens:,}",
        source.name,
        source.anchor,
    )


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
        use = record.documents if record is not None else None
        self.passages = self._passages_table(use.sources if use is not None else ())
        prompt_part = QWidget()
        prompt_layout = QVBoxLayout(prompt_part)
        prompt_layout.setContentsMargins(0, 0, 0, 0)
        prompt_layout.addWidget(QLabel("Rendered chat template (special tokens as text):"))
        prompt_layout.addWidget(self.prompt, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        if use is not None and use.sources:
            passages_part = QWidget()
            passages_layout = QVBoxLayout(passages_part)
            passages_layout.setContentsMargins(0, 0, 0, 0)
            passages_layout.addWidget(
                QLabel("Passages from the attached documents, as ranked (fused score):")
            )
            passages_layout.addWidget(self.passages, 1)
            split = QSplitter(Qt.Orientation.Vertical)
            split.addWidget(passages_part)
            split.addWidget(prompt_part)
            layout.addWidget(split, 1)
        else:
            self.passages.setVisible(False)
            layout.addWidget(prompt_part, 1)
        layout.addWidget(buttons)

    @staticmethod
    def _passages_table(sources: tuple[SourcePassage, ...]) -> QTableWidget:
        table = QTableWidget(len(sources), len(PASSAGE_COLUMNS))
        table.setAccessibleName("Retrieved passages with their ranks and scores")
        table.setHorizontalHeaderLabels(list(PASSAGE_COLUMNS))
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setStretchLastSection(True)
        for row, source in enumerate(sources):
            for column, text in enumerate(passage_cells(source)):
                item = QTableWidgetItem(text)
                item.setToolTip(source.text)
                table.setItem(row, column, item)
        table.resizeColumnsToContents()
        return table
