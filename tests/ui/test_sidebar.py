"""The sidebar fetches a long history a page at a time and keeps the user's place; its
pages and its filter are read on the window's database thread."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from desktopchat.core.session import Core
from desktopchat.ui.conversation_list import PAGE
from tests.ui.conftest import WindowFactory, settle


def test_a_long_history_is_fetched_a_page_at_a_time(
    qtbot: QtBot, make_window: WindowFactory, core: Core
) -> None:
    window = make_window(wait_for_model=False)
    sidebar = window.sidebar
    newest_first = [core.conversations.create(title=f"Chat {i}").id for i in range(450)]
    newest_first.reverse()
    window.refresh_conversations()
    settle(qtbot, window)
    assert sidebar.ids() == newest_first[:PAGE]
    sidebar.list.scrollToBottom()  # the view asks for the next page
    qtbot.waitUntil(lambda: len(sidebar.ids()) == 2 * PAGE)
    assert sidebar.ids() == newest_first[: 2 * PAGE]
    sidebar.select_row(PAGE + 10)
    settle(qtbot, window)
    chosen = newest_first[PAGE + 10]
    assert window.current_conversation == chosen
    window.refresh_conversations()  # as after a reply: the depth and the selection stay
    settle(qtbot, window)
    assert sidebar.ids() == newest_first[: 2 * PAGE]
    assert sidebar.current_id() == chosen
    sidebar.list.scrollToBottom()
    qtbot.waitUntil(lambda: len(sidebar.ids()) == 450)
    sidebar.filter.setText("Chat 44")  # 44 and 440-449, once typing pauses
    expected = sorted([*newest_first[:10], newest_first[-45]])
    qtbot.waitUntil(lambda: sorted(sidebar.ids()) == expected, timeout=60_000)


def test_a_newer_filter_replaces_an_older_ones_answer(
    qtbot: QtBot, make_window: WindowFactory, core: Core
) -> None:
    window = make_window(wait_for_model=False)
    for title in ("apple pie", "apple tart", "banana bread"):
        core.conversations.create(title=title)
    window.refresh_conversations()
    settle(qtbot, window)
    # Two refreshes asked back to back: only the newer one's rows are shown, whatever
    # order the answers would arrive in.
    window.sidebar.filter.blockSignals(True)
    window.sidebar.filter.setText("apple")
    window.refresh_conversations()
    window.sidebar.filter.setText("banana")
    window.sidebar.filter.blockSignals(False)
    window.refresh_conversations()
    settle(qtbot, window)
    assert [window.sidebar.title(i) for i in range(len(window.sidebar.ids()))] == ["banana bread"]
