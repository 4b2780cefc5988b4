"""Thinking and tools in the chat database: reasoning apart from the answer, tool calls on
an assistant message, tool results as messages of the tree, and the migration that adds
them to a database written by the previous version without losing anything."""

from __future__ import annotations

import sqlite3
import zlib
from pathlib import Path

from desktopchat.core.chat import MessageStatus, Role, ToolCall
from desktopchat.core.storage.database import MIGRATIONS, SCHEMA_VERSION, Database
from desktopchat.core.storage.repositories import ConversationRepository


def _version_7_file(path: Path) -> None:
    """A database as the previous version left it: a reply with its prompt and a summary."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.create_function("desktopchat_index_text", 1, lambda t: t or "")
    for number, script in enumerate(MIGRATIONS[:7], start=1):
        conn.executescript(f"BEGIN;{script}\nPRAGMA user_version={number};COMMIT;")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(
        "INSERT INTO conversations (id, title, created_at, updated_at) VALUES (1, 't', 1, 1)"
    )
    for mid, parent, role, text in ((1, None, "user", "hello walrus"), (2, 1, "assistant", "hi")):
        conn.execute(
            "INSERT INTO messages (id, conversation_id, parent_id, role, content, status,"
            " created_at, updated_at) VALUES (?, 1, ?, ?, ?, 'complete', 1, 1)",
            (mid, parent, role, text),
        )
        conn.execute(
            "INSERT INTO messages_fts(rowid, content, grams) VALUES (?, ?, ?)", (mid, text, text)
        )
    conn.execute("UPDATE conversations SET active_leaf_id = 2 WHERE id = 1")
    conn.execute(
        "INSERT INTO prompts (message_id, text_z, n_tokens, model, params_json)"
        " VALUES (2, ?, 5, 'm', '{}')",
        (zlib.compress(b"<prompt>"),),
    )
    conn.execute(
        "INSERT INTO summaries (conversation_id, last_message_id, covered, content, created_at)"
        " VALUES (1, 2, 2, 'they said hello', 1)"
    )
    conn.close()


def test_the_migration_keeps_every_message_prompt_and_summary(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _version_7_file(path)
    db = Database.open(path, backup_dir=tmp_path / "backups")
    assert db.user_version() == SCHEMA_VERSION
    repo = ConversationRepository(db)
    path_now = repo.active_path(1)
    assert [(m.id, m.role, m.content) for m in path_now] == [
        (1, Role.USER, "hello walrus"),
        (2, Role.ASSISTANT, "hi"),
    ]
    assert path_now[1].reasoning == "" and path_now[1].tool_calls == ()
    # Dropping the old table did not cascade: the prompt and the summary are still there.
    record = repo.prompt_for(2)
    assert record is not None and record.text == "<prompt>"
    assert db.query("SELECT content FROM summaries")[0][0] == "they said hello"
    assert db.query("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'walrus'")
    assert db.pragmas()["foreign_keys"] == 1
    assert db.query("PRAGMA foreign_key_check") == []
    # The counting triggers were made again for the rebuilt table.
    triggers = {r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type='trigger'")}
    assert {"messages_insert_counted", "messages_update_counted"} <= triggers
    before = db.query("SELECT seq FROM conversation_changes WHERE conversation_id = 0")[0][0]
    repo.add_message(1, Role.USER, "again", parent_id=2)
    after = db.query("SELECT seq FROM conversation_changes WHERE conversation_id = 0")[0][0]
    assert after > before
    # Deleting a conversation still cascades to its messages and their prompts.
    repo.delete(1)
    assert db.query("SELECT COUNT(*) FROM messages")[0][0] == 0
    assert db.query("SELECT COUNT(*) FROM prompts")[0][0] == 0


def test_reasoning_tool_calls_and_tool_results_round_trip(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "chat.sqlite3")
    repo = ConversationRepository(db)
    chat = repo.create()
    user = repo.add_message(chat.id, Role.USER, "What is 2+3?", parent_id=None)
    reply = repo.add_message(
        chat.id, Role.ASSISTANT, "", parent_id=user.id, status=MessageStatus.PARTIAL
    )
    call = ToolCall("call_1", "calculator", {"expression": "2+3"})
    repo.update_message(
        reply.id,
        "",
        MessageStatus.COMPLETE,
        reasoning="The user wants a sum: use the calculator.",
        tool_calls=(call,),
    )
    result = repo.add_message(
        chat.id, Role.TOOL, "5", parent_id=reply.id, tool_call_id="call_1", tool_name="calculator"
    )
    answer = repo.add_message(chat.id, Role.ASSISTANT, "2+3 is 5.", parent_id=result.id)
    stored = repo.active_path(chat.id)
    assert [m.role for m in stored] == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT]
    assert stored[1].tool_calls == (call,)
    assert stored[1].reasoning == "The user wants a sum: use the calculator."
    assert (stored[2].tool_call_id, stored[2].tool_name, stored[2].content) == (
        "call_1",
        "calculator",
        "5",
    )
    assert stored[3].id == answer.id
    # A later save of the answer alone keeps the reasoning and the calls.
    repo.update_message(reply.id, "", MessageStatus.COMPLETE)
    again = repo.get_message(reply.id)
    assert again.reasoning and again.tool_calls == (call,)
    # The reasoning is found by search, beside the answer.
    assert db.query("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'calculator'")
