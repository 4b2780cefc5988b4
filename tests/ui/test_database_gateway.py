"""The window's database gateway on a real SQLite file: answers arrive on the GUI thread
in the order asked, a lock held by another program never blocks the GUI thread, and
failures are reported."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from desktopchat.core.errors import StorageError
from desktopchat.core.paths import AppPaths
from desktopchat.core.session import Core, open_core
from desktopchat.ui.database import DatabaseGateway


@pytest.fixture
def gateway(qtbot: QtBot, paths: AppPaths) -> Iterator[DatabaseGateway]:
    failures: list[str] = []
    made = DatabaseGateway(
        lambda: open_core(paths, busy_timeout_ms=3000), on_failed=failures.append
    )
    yield made
    assert made.shutdown()


def test_answers_arrive_on_the_gui_thread_in_order(qtbot: QtBot, gateway: DatabaseGateway) -> None:
    gui = threading.current_thread()
    ran_on: list[threading.Thread] = []
    answers: list[tuple[int, threading.Thread]] = []

    def create(core: Core) -> int:
        ran_on.append(threading.current_thread())
        return core.conversations.create(title="First").id

    gateway.run(create, lambda cid: answers.append((cid, threading.current_thread())))

    def creator(n: int) -> Callable[[Core], int]:
        return lambda core: core.conversations.create(title=f"Chat {n}").id

    for n in range(20):
        gateway.run(creator(n), lambda cid: answers.append((cid, threading.current_thread())))
    titles: list[list[str]] = []
    gateway.run(
        lambda core: [s.title for s in core.conversations.summaries("", limit=100)],
        titles.append,
    )
    qtbot.waitUntil(lambda: gateway.idle and bool(titles), timeout=60_000)
    assert ran_on and ran_on[0] is not gui
    assert all(thread is gui for _, thread in answers)
    ids = [cid for cid, _ in answers]
    assert ids == sorted(ids) and len(ids) == 21  # created, and answered, in the order asked
    assert len(titles[0]) == 21 and "First" in titles[0]


def test_a_locked_database_never_blocks_the_gui_thread(
    qtbot: QtBot, gateway: DatabaseGateway, paths: AppPaths
) -> None:
    ready: list[int] = []
    gateway.run(lambda core: core.conversations.create(title="Before").id, ready.append)
    qtbot.waitUntil(lambda: bool(ready), timeout=60_000)
    ticks: list[int] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(1))
    holder = sqlite3.connect(paths.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    answered: list[object] = []
    try:
        timer.start()
        gateway.run(
            lambda core: core.conversations.rename(ready[0], "While locked"),
            answered.append,
            answered.append,
        )
        # The query waits on the lock on the database thread; the GUI's loop keeps running.
        qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=60_000)
        assert not answered  # still waiting for the lock
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    qtbot.waitUntil(lambda: bool(answered), timeout=60_000)
    timer.stop()
    titles: list[str] = []
    gateway.run(lambda core: core.conversations.get(ready[0]).title, titles.append)
    qtbot.waitUntil(lambda: bool(titles), timeout=60_000)
    assert titles == ["While locked"]  # the write waited for the lock, then went through


def test_a_lock_held_too_long_is_reported_through_failed(qtbot: QtBot, paths: AppPaths) -> None:
    gateway = DatabaseGateway(lambda: open_core(paths, busy_timeout_ms=200))
    ready: list[int] = []
    gateway.run(lambda core: core.conversations.create(title="Keep me").id, ready.append)
    qtbot.waitUntil(lambda: bool(ready), timeout=60_000)
    holder = sqlite3.connect(paths.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    failures: list[str] = []
    gateway.on_failed = failures.append  # no failed callback given: the default gets it
    try:
        gateway.run(lambda core: core.conversations.rename(ready[0], "Lost?"), lambda _: None)
        qtbot.waitUntil(lambda: bool(failures), timeout=60_000)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "locked by another program" in failures[0]
    titles: list[str] = []
    gateway.run(lambda core: core.conversations.get(ready[0]).title, titles.append)
    qtbot.waitUntil(lambda: bool(titles), timeout=60_000)
    assert titles == ["Keep me"]
    assert gateway.shutdown()


def test_errors_reach_failed_and_bugs_are_logged(
    qtbot: QtBot, gateway: DatabaseGateway, caplog: pytest.LogCaptureFixture
) -> None:
    failures: list[str] = []

    def refused(_core: Core) -> None:
        raise StorageError("The disk is full.")

    def bug(_core: Core) -> None:
        raise ZeroDivisionError("oops")

    gateway.run(refused, lambda _: None, failures.append)
    gateway.run(bug, lambda _: None, failures.append)
    after: list[str] = []
    gateway.run(lambda _core: "still serving", after.append)
    qtbot.waitUntil(lambda: bool(after), timeout=60_000)
    assert failures[0] == "The disk is full."
    assert "ZeroDivisionError" in failures[1]
    assert "ZeroDivisionError: oops" in caplog.text  # the traceback is in the log
    assert after == ["still serving"]


def test_shutdown_runs_queued_writes_closes_on_its_thread_and_drops_late_answers(
    qtbot: QtBot, paths: AppPaths
) -> None:
    closed_on: list[str] = []

    def opener() -> Core:
        core = open_core(paths)
        close = core.close

        def close_here() -> None:
            closed_on.append(threading.current_thread().name)
            close()

        core.close = close_here  # type: ignore[method-assign]
        return core

    gateway = DatabaseGateway(opener, name="db-test")
    answers: list[int] = []

    def creator(n: int) -> Callable[[Core], int]:
        return lambda core: core.conversations.create(title=f"Q{n}").id

    for n in range(5):
        gateway.run(creator(n), answers.append)
    assert gateway.shutdown()
    qtbot.wait(50)  # let any late answer reach the event loop
    assert answers == []  # the window is gone: nobody is left to show them
    assert closed_on == ["db-test"]
    gateway.run(lambda _core: 1, answers.append)  # after shutdown: dropped, no error
    core = open_core(paths)
    try:
        assert len(core.conversations.summaries("", limit=10)) == 5  # the writes ran
    finally:
        core.close()
