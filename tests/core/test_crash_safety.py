"""SIGKILL the CLI at random moments of a reply, then check what the database kept.

The promise: a kill loses at most the last second of a streaming reply, never anything
older; the database stays consistent; the interrupted reply is kept as partial.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.processes import run_cli

pytestmark = pytest.mark.real_model

FLUSH_SLACK = 1.3  # the 1 s flush interval plus scheduling slack on a loaded 2-core machine


def start_chat(
    home: Path, args: list[str], stdout: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DESKTOPCHAT_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "desktopchat", "chat", *args],
        env=env,
        stdout=stdout,
        stderr=subprocess.DEVNULL,
    )


def kill_mid_reply(home: Path, after: float, seed: int) -> tuple[list[tuple[float, str]], float]:
    """Start a long reply, SIGKILL it ``after`` seconds after the first token."""
    process = start_chat(
        home,
        [
            "--max-tokens",
            "2000",
            "--temperature",
            "0.8",
            "--seed",
            str(seed),
            "Tell me a very long story about a dragon.",
        ],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    seen: list[tuple[float, str]] = []
    text = b""

    def read() -> None:
        nonlocal text
        assert process.stdout is not None
        while chunk := os.read(process.stdout.fileno(), 4096):
            text += chunk
            seen.append((time.monotonic(), text.decode("utf-8", "replace")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not seen and time.monotonic() < deadline:
        time.sleep(0.005)
    assert seen, "no reply started"
    time.sleep(after)
    killed_at = time.monotonic()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    reader.join(timeout=5)
    process.stdout.close()
    return seen, killed_at


def stored_messages(home: Path) -> list[tuple[int, int | None, str, str, str]]:
    conn = sqlite3.connect(home / "data" / "desktopchat.sqlite3")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return conn.execute(
            "SELECT id, parent_id, role, status, content FROM messages ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("seed", range(6))
def test_sigkill_mid_reply_loses_at_most_the_last_second(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    # The kill comes more than FLUSH_SLACK after the first token, so some printed text is
    # always old enough that it must have been stored: the check below never has nothing
    # to check. (Kills during start-up and the first second are the next test's.)
    after = FLUSH_SLACK + rng.uniform(0.1, 2.0)
    for attempt in range(4):
        home = tmp_path / f"attempt-{attempt}"
        seen, killed_at = kill_mid_reply(home, after, seed=seed * 10 + attempt)
        rows = stored_messages(home)
        if rows[-1][3] != "complete":
            break
        # The model ended its story before the kill: another story (another seed), with
        # the same kill time, so the promise below is still checked.
    else:
        pytest.fail("every reply ended before it could be killed")
    assert [r[2] for r in rows] == ["user", "assistant"]
    user, reply = rows
    assert user[4] == "Tell me a very long story about a dragon." and user[3] == "complete"
    assert reply[1] == user[0] and reply[3] == "partial"
    printed_at_kill = seen[-1][1]
    assert printed_at_kill.startswith(reply[4])  # nothing stored that was not produced
    safe = [text for stamp, text in seen if stamp <= killed_at - FLUSH_SLACK]
    assert safe, f"nothing was printed {FLUSH_SLACK} s before the kill ({after:.2f} s after)"
    assert len(reply[4]) >= len(safe[-1]), (after, len(reply[4]), len(safe[-1]))


KILL_POINTS = int(os.environ.get("DESKTOPCHAT_KILL_POINTS", "200"))


@pytest.mark.slow
def test_sigkill_at_many_random_points_keeps_the_database_consistent(tmp_path: Path) -> None:
    """Kill points spread over start-up, model load, the commit of the user's message and
    streaming, all against one database that accumulates the debris of every kill."""
    rng = random.Random(2026)
    for point in range(KILL_POINTS):
        process = start_chat(tmp_path, ["--max-tokens", "300", f"Story number {point}, please."])
        time.sleep(rng.uniform(0.2, 2.5))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    rows = stored_messages(tmp_path)  # integrity_check passes
    by_id = {r[0]: r for r in rows}
    for _id, parent_id, role, status, _content in rows:
        if role == "user":
            assert status == "complete" and parent_id is None
        else:
            assert parent_id is not None and by_id[parent_id][2] == "user"
            assert status in ("partial", "complete")
    conn = sqlite3.connect(tmp_path / "data" / "desktopchat.sqlite3")
    try:
        dangling = conn.execute(
            "SELECT COUNT(*) FROM conversations c WHERE c.active_leaf_id IS NOT NULL AND NOT"
            " EXISTS (SELECT 1 FROM messages m WHERE m.id = c.active_leaf_id)"
        ).fetchone()[0]
        fts = conn.execute("SELECT COUNT(*) FROM messages_fts").fetchone()[0]
    finally:
        conn.close()
    assert dangling == 0
    assert fts == len(rows)  # the search index never drifts from the messages
    # the app opens it normally afterwards
    result = run_cli(tmp_path, "conversations", "list", "--json", timeout=60)
    assert result.returncode == 0, result.stderr
