"""Property-based storage tests: any Unicode survives, and the repository behaves like a
plain in-memory model through any sequence of operations, reopenings included."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from desktopchat.core.chat import GenerationParams, MessageStatus, Role, clean_text
from desktopchat.core.storage.database import Database
from desktopchat.core.storage.repositories import (
    DEFAULT_TITLE,
    ConversationRepository,
    clean_title,
    title_from,
)

# Everything a paste can hold: any code point, lone surrogates, NUL, bidi controls, ZWJ
# emoji sequences, byte order marks.
awkward_chars = st.one_of(
    st.characters(exclude_categories=()),
    st.integers(0xD800, 0xDFFF).map(chr),
    st.sampled_from(["\0", "\u202e", "\u200f", "👩‍👩‍👧", "שלום", "مرحبا", "\ufeff", "\r\n"]),
)
awkward_text = st.lists(awkward_chars, max_size=40).map("".join)


def fresh_db() -> tuple[Database, Path]:
    folder = Path(tempfile.mkdtemp(prefix="desktopchat-prop-"))
    return Database.open(folder / "chat.sqlite3"), folder


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=awkward_text, content=awkward_text, system=awkward_text)
@example(title="", content="", system="\ud800")  # a lone surrogate once survived in params
@example(title="   ", content="a\0b", system="")  # a blank title once stayed blank
def test_any_unicode_round_trips_through_a_reopened_database(
    title: str, content: str, system: str
) -> None:
    db, folder = fresh_db()
    try:
        repo = ConversationRepository(db)
        conv = repo.create(title=title, params=GenerationParams(system_prompt=system))
        assert repo.get(conv.id).title == clean_title(title)
        msg = repo.add_message(conv.id, Role.ASSISTANT, content, parent_id=None)
        db.close()
        db = Database.open(folder / "chat.sqlite3")
        repo = ConversationRepository(db)
        stored = repo.get_message(msg.id)
        assert stored.content == clean_text(content)
        assert "\ufffd" not in stored.content or "\ufffd" in clean_text(content)
        stored.content.encode("utf-8")  # always valid UTF-8 for the tokenizer
        assert repo.get(conv.id).params.system_prompt == clean_text(system)
        db.quick_check()
    finally:
        db.close()
        shutil.rmtree(folder)


@dataclass
class ModelConversation:
    title: str
    leaf: int | None = None
    messages: dict[int, tuple[int | None, str, MessageStatus]] = field(default_factory=dict)


class StorageMachine(RuleBasedStateMachine):
    """The repository on a real SQLite file against a dictionary of what should be there."""

    conversations = Bundle("conversations")

    def __init__(self) -> None:
        super().__init__()
        self.db, self.folder = fresh_db()
        self.repo = ConversationRepository(self.db)
        self.model: dict[int, ModelConversation] = {}

    def teardown(self) -> None:
        self.db.close()
        shutil.rmtree(self.folder)

    @rule(target=conversations, title=awkward_text)
    def create(self, title: str) -> int:
        conv = self.repo.create(title=title)
        self.model[conv.id] = ModelConversation(clean_title(title))
        return conv.id

    @rule(conv=conversations, title=awkward_text)
    def rename(self, conv: int, title: str) -> None:
        if conv in self.model:
            self.repo.rename(conv, title)
            self.model[conv].title = clean_title(title)

    @rule(conv=conversations, content=awkward_text, assistant=st.booleans())
    def add_message(self, conv: int, content: str, assistant: bool) -> None:
        if conv not in self.model:
            return
        expected = self.model[conv]
        role = Role.ASSISTANT if assistant else Role.USER
        status = MessageStatus.PARTIAL if assistant else MessageStatus.COMPLETE
        msg = self.repo.add_message(conv, role, content, parent_id=expected.leaf, status=status)
        expected.messages[msg.id] = (expected.leaf, clean_text(content), status)
        if role is Role.USER and expected.title == DEFAULT_TITLE:
            expected.title = title_from(clean_text(content))  # the first words name the chat
        expected.leaf = msg.id

    @rule(conv=conversations, content=awkward_text, stopped=st.booleans())
    def finish_last_message(self, conv: int, content: str, stopped: bool) -> None:
        expected = self.model.get(conv)
        if expected is None or expected.leaf is None:
            return
        status = MessageStatus.STOPPED if stopped else MessageStatus.COMPLETE
        self.repo.update_message(expected.leaf, content, status)
        parent, _, _ = expected.messages[expected.leaf]
        expected.messages[expected.leaf] = (parent, clean_text(content), status)

    @rule(conv=consumes(conversations))
    def delete(self, conv: int) -> None:
        if conv in self.model:
            self.repo.delete(conv)
            del self.model[conv]

    @precondition(lambda self: bool(self.model))
    @rule()
    def reopen(self) -> None:
        self.db.close()
        self.db = Database.open(self.folder / "chat.sqlite3")
        self.repo = ConversationRepository(self.db)

    @invariant()
    def matches_the_model(self) -> None:
        assert {s.id for s in self.repo.summaries()} == set(self.model)
        for conv_id, expected in self.model.items():
            conv = self.repo.get(conv_id)
            assert conv.title == expected.title
            assert conv.active_leaf_id == expected.leaf
            stored = {
                m.id: (m.parent_id, m.content, m.status) for m in self.repo.all_messages(conv_id)
            }
            assert stored == expected.messages
            path = [m.id for m in self.repo.active_path(conv_id)]
            chain: list[int] = []
            node = expected.leaf
            while node is not None:
                chain.append(node)
                node = expected.messages[node][0]
            assert path == chain[::-1]

    @invariant()
    def search_index_matches_the_messages(self) -> None:
        indexed = {
            row[0]: row[1] for row in self.db.query("SELECT rowid, content FROM messages_fts")
        }
        stored = {row[0]: row[1] for row in self.db.query("SELECT id, content FROM messages")}
        assert indexed == stored


StorageMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestStorageMachine = StorageMachine.TestCase
