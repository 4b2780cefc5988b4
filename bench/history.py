"""A large chat history for the startup and search benchmarks, written straight into a
real DesktopChat database (created and migrated by the app's own code)."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

from desktopchat.core.chat import GenerationParams, Role
from desktopchat.core.paths import AppPaths
from desktopchat.core.session import Core, open_core
from desktopchat.core.storage.fulltext import index_text

# A vocabulary with a long tail, so searches hit thousands of messages or a handful.
_COMMON = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "it",
    "that",
    "for",
    "on",
    "with",
    "as",
    "this",
    "was",
    "be",
    "at",
    "by",
    "not",
    "or",
    "are",
    "from",
]
_WORDS = [
    f"{stem}{suffix}"
    for stem in [
        "river",
        "bridge",
        "bread",
        "clock",
        "owl",
        "glass",
        "tide",
        "map",
        "lamp",
        "stone",
        "cloud",
        "garden",
        "engine",
        "paper",
        "violin",
        "comet",
        "harbor",
        "forest",
        "kettle",
        "ladder",
        "mirror",
        "needle",
        "orchard",
        "pepper",
        "quartz",
        "saddle",
        "tunnel",
        "umbrella",
        "valley",
        "walnut",
        "yarn",
        "zephyr",
        "anchor",
        "basket",
        "candle",
    ]
    for suffix in ("", "s", "ing", "ed", "er", "ful", "less", "ness", "ish", "ward")
]
TOPICS = ["rivers", "bridges", "bread", "clocks", "owls", "glass", "tides", "maps"]
SEARCH_QUERIES = ("river", "kettle lamp", "orchardness", "zephyrward quartz", "the")


def _sentence(rng: random.Random) -> str:
    words = [
        rng.choice(_COMMON) if rng.random() < 0.45 else rng.choice(_WORDS)
        for _ in range(rng.randint(6, 16))
    ]
    return " ".join(words).capitalize() + "."


def make_history(home: Path, conversations: int, messages_each: int, seed: int = 7) -> AppPaths:
    """``conversations`` chats of ``messages_each`` alternating messages, in one
    transaction. Returns the app folders under ``home``."""
    paths = AppPaths.under(home)
    core = open_core(paths)  # creates and migrates the database the app will open
    core.close()
    rng = random.Random(seed)
    now = time.time()
    conn = sqlite3.connect(paths.database)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN")
        message_id = 0
        for c in range(1, conversations + 1):
            started = now - (conversations - c) * 600.0
            title = " ".join(rng.choice(_WORDS) for _ in range(3)).capitalize()
            conn.execute(
                "INSERT INTO conversations (id, title, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (c, title, started, started + messages_each * 20.0),
            )
            parent: int | None = None
            rows: list[tuple[object, ...]] = []
            for i in range(messages_each):
                message_id += 1
                role = "user" if i % 2 == 0 else "assistant"
                text = " ".join(_sentence(rng) for _ in range(rng.randint(1, 5)))
                stamp = started + i * 20.0
                rows.append((message_id, c, parent, role, text, "complete", stamp, stamp))
                parent = message_id
            conn.executemany(
                "INSERT INTO messages (id, conversation_id, parent_id, role, content, status,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.executemany(  # as the app's triggers index them (grams: unspaced scripts)
                "INSERT INTO messages_fts (rowid, content, grams) VALUES (?, ?, ?)",
                [(r[0], r[4], index_text(str(r[4]))) for r in rows],
            )
            conn.execute("UPDATE conversations SET active_leaf_id = ? WHERE id = ?", (parent, c))
        conn.execute("COMMIT")
        conn.execute("PRAGMA optimize")
        conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
    finally:
        conn.close()
    return paths


def add_history(core: Core, exchanges: int, params: GenerationParams, label: str) -> int:
    """A conversation with about 75 tokens of history per exchange (for first-token
    measurements). Conversations share their first message only if given the same label."""
    conv = core.conversations.create(title=f"History {label}", params=params)
    parent = None
    for i in range(exchanges):
        topic = TOPICS[i % len(TOPICS)]
        user = core.conversations.add_message(
            conv.id,
            Role.USER,
            f"Conversation {label}: tell me about {topic}, part {i}.",
            parent_id=parent,
        )
        reply = core.conversations.add_message(
            conv.id,
            Role.ASSISTANT,
            f"Here is a note on {topic}, number {i}. People have studied {topic} for a long "
            f"time, and each generation finds new details about {topic} worth writing down. "
            "The short version is that it is more interesting than it first looks.",
            parent_id=user.id,
        )
        parent = reply.id
    return conv.id
