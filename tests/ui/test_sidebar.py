"""The sidebar fetches a long history a page at a time and keeps the user's place."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from desktopchat.ui.conversation_list import PAGE
from tests.ui.conftest import WindowFactory


def test_a_long_history_is_fetched_a_page_at_a_time(
    qtbot: QtBot, make_window: WindowFactory
) -> None:
    window = make_window(wait_for_model=False)
    sidebar = window.sidebar
    newest_first = [window.core.conversations.create(title=f"Chat {i}").id for i in range(450)]
    newest_first.reverse()
    window.refresh_conversations()
    assert sidebar.ids() == newest_first[:PAGE]
    sidebar.list.scrollToBottom()  # the view asks for the next page
    qtbot.waitUntil(lambda: len(sidebar.ids()) == 2 * PAGE)
    assert sidebar.ids() == newest_first[: 2 * PAGE]
    sidebar.select_row(PAGE + 10)
    chosen = newest_first[PAGE + 10]
    assert window.current_conversation == chosen
    window.refresh_conversations()  # as after a reply: the depth and the selection stay
    assert sidebar.ids() == newest_first[: 2 * PAGE]
    assert sidebar.current_id() == chosen
    sidebar.list.scrollToBottom()
    qtbot.waitUntil(lambda: len(sidebar.ids()) == 450)
    sidebar.filter.setText("Chat 44")  # 44 and 440-449
    assert sorted(sidebar.ids()) == sorted([*newest_first[:10], newest_first[-45]])
