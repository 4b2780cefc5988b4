"""The *Sources* list under a reply that used documents: each passage's number (as the
reply cites it, [1], [2]), file name, page, heading or lines and a short excerpt; whether
the whole documents were sent or passages retrieved, and whether indexing was still
running. Choosing a source asks for its preview (``source_chosen``).

Made from ``DocumentsUse`` (core/chat.py), stored with the reply's stats: what the
question got, numbered as the prompt numbered it. One rich-text label for the whole list,
so a long chat stays cheap.
"""

from __future__ import annotations

import html
import re

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QVBoxLayout

from desktopchat.core.chat import DocumentsUse, SourcePassage

SOURCE_SCHEME = "source:"  # link target of the n-th source (0-based)
EXCERPT_CHARS = 160
_SPACES = re.compile(r"\s+")


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The passage's start on one line, cut at a word near ``limit`` characters."""
    flat = _SPACES.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", 0, limit)
    return flat[: cut if cut > limit // 2 else limit].rstrip(" ,.;:") + "…"


def how_sent(use: DocumentsUse) -> str:
    """One line: what the model got from the documents."""
    count = len(use.sources)
    if use.whole:
        files = len({s.file_id for s in use.sources})
        what = f"the whole text of {files:,} file" + ("s" if files != 1 else "")
        told = f"Sources: {what} was sent ({use.used_tokens:,} tokens)"
    elif count:
        told = (
            f"Sources: {count:,} passage{'s' if count != 1 else ''} retrieved "
            f"({use.used_tokens:,} of {use.budget_tokens:,} tokens kept for documents)"
        )
    else:
        told = "Sources: nothing in the attached documents matched"
    if use.still_indexing:
        told += " · indexing was still running: answered from what was indexed then"
    return told


def where(source: SourcePassage) -> str:
    """ "report.pdf · page 3 · Setup › Linux" """
    return f"{source.name} · {source.anchor}" if source.anchor else source.name


class SourcesList(QFrame):
    source_chosen = Signal(object)  # SourcePassage

    def __init__(self, use: DocumentsUse) -> None:
        super().__init__()
        self.setObjectName("message-sources")
        self.setAccessibleName("Sources")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.label = QLabel()
        self.label.setObjectName("sources-list")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
            | Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.label.linkActivated.connect(self.on_link_activated)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.label)
        self.use = use
        self.set_use(use)

    def set_use(self, use: DocumentsUse) -> None:
        self.use = use
        rows = [f"<b>{html.escape(how_sent(use))}</b>"]
        for index, source in enumerate(use.sources):
            rows.append(
                f"[{source.number}] <a href='{SOURCE_SCHEME}{index}'>"
                f"{html.escape(where(source))}</a> — "
                f"<span>{html.escape(excerpt(source.text))}</span>"
            )
        self.label.setText("<br>".join(rows))
        self.label.setAccessibleDescription(self.plain_text())

    def plain_text(self) -> str:
        """The list as words (screen readers, copying, tests)."""
        lines = [how_sent(self.use)]
        lines += [f"[{s.number}] {where(s)} — {excerpt(s.text)}" for s in self.use.sources]
        return "\n".join(lines)

    def choose(self, index: int) -> None:
        """Open the ``index``-th source (0-based), as clicking it does."""
        if 0 <= index < len(self.use.sources):
            self.source_chosen.emit(self.use.sources[index])

    @Slot(str)
    def on_link_activated(self, link: str) -> None:
        if link.startswith(SOURCE_SCHEME):
            self.choose(int(link.removeprefix(SOURCE_SCHEME)))
