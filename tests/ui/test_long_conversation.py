"""A long conversation opens with only its newest messages built; older ones are built as
the user scrolls up, in order, without moving what is on screen."""

from __future__ import annotations

import itertools

from pytestqt.qtbot import QtBot

from desktopchat.core.chat import Message, MessageStatus, Role
from desktopchat.ui.chat_view import FIRST_MESSAGES, ChatView


def messages(count: int) -> list[Message]:
    return [
        Message(
            i + 1,
            1,
            i or None,
            Role.USER if i % 2 == 0 else Role.ASSISTANT,
            f"Message number {i}. " + "words " * (i % 40),
            MessageStatus.COMPLETE,
            0.0,
        )
        for i in range(count)
    ]


def shown_view(qtbot: QtBot, height: int) -> ChatView:
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(700, height)
    view.show()
    return view


def test_only_the_newest_messages_are_built_until_scrolled(qtbot: QtBot) -> None:
    view = shown_view(qtbot, 500)
    history = messages(300)
    view.show_conversation(1, history)
    assert len(view.messages()) == FIRST_MESSAGES and view.unbuilt == 300 - FIRST_MESSAGES
    assert [w.message_id for w in view.messages()] == [m.id for m in history[-FIRST_MESSAGES:]]
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    assert bar.value() == bar.maximum()  # opened at the newest message
    for _ in range(2000):
        if not view.unbuilt and bar.value() == 0:
            break
        anchor = view.messages()[0]
        top = anchor.mapTo(view.viewport(), anchor.rect().topLeft()).y()
        bar.setValue(max(bar.value() - 200, 0))
        qtbot.wait(5)
        moved = anchor.mapTo(view.viewport(), anchor.rect().topLeft()).y()
        # a page built above may shift things by a spacing, never by its own height
        assert moved - top <= 200 + 24, "building older messages must not push the view down"
    assert view.unbuilt == 0
    assert [w.message_id for w in view.messages()] == [m.id for m in history]
    view.show_conversation(2, messages(3))  # the old pages are deleted a few at a time
    assert len(view.messages()) == 3
    qtbot.waitUntil(lambda: not view._trash)


def _overlaps(view: ChatView) -> list[tuple[int, int]]:
    """Pairs of consecutive messages that overlap on the view's container."""
    container = view.widget()
    assert container is not None
    spans = []
    for widget in view.messages():
        top = widget.mapTo(container, widget.rect().topLeft()).y()
        spans.append((widget.message_id, top, top + widget.height()))
    return [(a[0], b[0]) for a, b in itertools.pairwise(spans) if b[1] < a[2]]


def test_built_pages_follow_a_resize_and_a_changed_message(qtbot: QtBot) -> None:
    view = shown_view(qtbot, 500)
    history = messages(60)
    view.show_conversation(1, history)
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    for _ in range(500):
        if not view.unbuilt:
            break
        bar.setValue(0)
        qtbot.wait(5)
    assert view.unbuilt == 0
    qtbot.wait(20)
    assert _overlaps(view) == []
    wordy = view.message_widget(history[39].id)  # in a page, with 39 words
    assert wordy is not None
    before = wordy.height()
    view.resize(350, 500)  # narrower: long messages get taller
    qtbot.waitUntil(lambda: wordy.height() > before)
    qtbot.wait(20)
    assert _overlaps(view) == []
    assert all(w.width() == view.messages()[-1].width() for w in view.messages())
    # an old message (in a page) that gets longer pushes the ones after it down
    second = view.message_widget(history[1].id)
    assert second is not None
    short = second.height()
    view.update_message(history[1].id, "longer " * 300, MessageStatus.COMPLETE)
    qtbot.waitUntil(lambda: second.height() > short)
    qtbot.wait(20)
    assert _overlaps(view) == []


def test_building_waits_while_a_prompt_is_read_unless_the_user_is_at_the_top(
    qtbot: QtBot,
) -> None:
    view = shown_view(qtbot, 2000)  # taller than the first messages: it would fill itself
    view.hold_building(True)
    view.show_conversation(1, messages(300))
    qtbot.wait(100)
    assert view.unbuilt == 300 - FIRST_MESSAGES  # held: nothing built behind the engine
    view.hold_building(False)
    bar = view.verticalScrollBar()
    # released, it builds until there is a screenful above what is shown, then waits
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() >= view.viewport().height())
    qtbot.wait(100)
    built = view.unbuilt
    assert 0 < built < 300 - FIRST_MESSAGES
    view.hold_building(True)
    bar.setValue(0)  # the user reached the top: they get older messages even now
    qtbot.waitUntil(lambda: view.unbuilt < built)


def test_a_tall_view_of_short_messages_fills_itself(qtbot: QtBot) -> None:
    view = shown_view(qtbot, 2000)  # the first messages do not fill it: no scrollbar to drag
    view.show_conversation(1, messages(100))
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() >= view.viewport().height())
