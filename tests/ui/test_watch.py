"""The window's watch: commits by other programs refresh the list (and the open
conversation when it is the one that changed); this process's own commits refresh
nothing."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from desktopchat.core.chat import Role
from desktopchat.core.session import Core
from desktopchat.ui.window.conversations import EXTERNAL_CHANGES_MS
from tests.ui.conftest import WindowFactory, settle

QUIET_MS = 3 * EXTERNAL_CHANGES_MS  # long enough for the watch to look twice


def test_outside_commits_refresh_what_changed_and_own_commits_nothing(
    qtbot: QtBot, make_window: WindowFactory, core: Core
) -> None:
    window = make_window(wait_for_model=False)
    first = core.conversations.create(title="First")
    second = core.conversations.create(title="Second")
    core.conversations.add_message(first.id, Role.USER, "hello", parent_id=None)
    qtbot.waitUntil(lambda: len(window.sidebar.ids()) == 2, timeout=60_000)  # seen by the watch
    window.open_conversation(first.id)
    settle(qtbot, window)
    conversations = window.conversations

    # This process's own commits, on another connection sharing its WriteLog (as the
    # inference thread's flushes of a streaming reply do), are not outside changes: the
    # watch refreshes nothing.
    refreshes, opens = conversations._refreshes, conversations._opens
    own = window.services.open_core(window.paths)
    try:
        own.conversations.rename(second.id, "Renamed here")
        own.conversations.add_message(second.id, Role.USER, "own message", parent_id=None)
    finally:
        own.close()
    qtbot.wait(QUIET_MS)
    assert conversations._refreshes == refreshes and conversations._opens == opens
    assert "Renamed here" not in [window.sidebar.title(i) for i in range(2)]

    # Another program changes no conversation (it adds a model record): nothing to refresh.
    core.model_records.add("/elsewhere/model.gguf", "imported")
    qtbot.wait(QUIET_MS)
    assert conversations._refreshes == refreshes and conversations._opens == opens

    # Another program changes a conversation that is not open: the list is read again,
    # the open conversation is not.
    core.conversations.rename(second.id, "Renamed elsewhere")
    qtbot.waitUntil(
        lambda: "Renamed elsewhere" in [window.sidebar.title(i) for i in range(2)],
        timeout=60_000,
    )
    assert conversations._opens == opens

    # ... and the open one: it is shown again with what was added.
    user = core.conversations.active_path(first.id)[-1]
    core.conversations.add_message(first.id, Role.USER, "and again", parent_id=user.id)
    qtbot.waitUntil(lambda: len(window.chat_view.messages()) == 2, timeout=60_000)
    assert [w.text for w in window.chat_view.messages()] == ["hello", "and again"]
