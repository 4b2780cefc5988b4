"""What the model received for each reply (the prompt inspector's records, text
zlib-compressed) and the summaries of a conversation's oldest turns (the "summarize"
overflow policy). One part of ConversationRepository."""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import asdict, dataclass

from desktopchat.core.chat import (
    DocumentsUse,
    GenerationParams,
    Message,
    PromptRecord,
    clean_text,
)
from desktopchat.core.storage.database import Database


@dataclass(frozen=True)
class Summary:
    """A summary of a conversation's path up to ``last_message_id`` (``covered`` messages)."""

    id: int
    last_message_id: int
    covered: int
    content: str


class PromptsPart:
    """The prompts and summaries tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def save_prompt(self, record: PromptRecord) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO prompts (message_id, text_z, n_tokens, model,"
                " params_json, dropped, summarized, summary, documents_z)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.message_id,
                    zlib.compress(record.text.encode("utf-8", "surrogatepass"), 6),
                    record.n_tokens,
                    record.model,
                    json.dumps(asdict(record.params), sort_keys=True),
                    record.dropped_messages,
                    record.summarized_messages,
                    record.summary,
                    _documents_blob(record.documents),
                ),
            )

    def prompt_for(self, message_id: int) -> PromptRecord | None:
        rows = self._db.query("SELECT * FROM prompts WHERE message_id = ?", (message_id,))
        if not rows:
            return None
        r = rows[0]
        return PromptRecord(
            message_id=message_id,
            text=zlib.decompress(r["text_z"]).decode("utf-8", "replace"),
            n_tokens=r["n_tokens"],
            model=r["model"],
            params=GenerationParams.from_json(r["params_json"]),
            dropped_messages=r["dropped"],
            summarized_messages=r["summarized"],
            summary=r["summary"],
            documents=_documents_from(r["documents_z"]),
        )

    def save_summary(
        self, conversation_id: int, last_message_id: int, covered: int, content: str
    ) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO summaries (conversation_id, last_message_id, covered, content,"
                " created_at) VALUES (?, ?, ?, ?, ?)",
                (conversation_id, last_message_id, covered, clean_text(content), time.time()),
            )

    def summary_on(self, conversation_id: int, path: list[Message]) -> Summary | None:
        """The summary covering the longest part of ``path``, if any."""
        on_path = {m.id for m in path}
        best: Summary | None = None
        for r in self._db.query(
            "SELECT id, last_message_id, covered, content FROM summaries"
            " WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        ):
            if r[1] in on_path and (best is None or r[2] >= best.covered):
                best = Summary(r[0], r[1], r[2], r[3])
        return best


def _documents_blob(documents: DocumentsUse | None) -> bytes | None:
    if documents is None:
        return None
    text = json.dumps(documents.to_dict(), ensure_ascii=False, sort_keys=True)
    return zlib.compress(clean_text(text).encode("utf-8"), 6)


def _documents_from(blob: bytes | None) -> DocumentsUse | None:
    """The stored documents of a reply; None when there are none or they cannot be read
    (the record stays readable without them)."""
    if blob is None:
        return None
    try:
        return DocumentsUse.from_dict(json.loads(zlib.decompress(blob).decode("utf-8", "replace")))
    except (zlib.error, ValueError):
        return None
