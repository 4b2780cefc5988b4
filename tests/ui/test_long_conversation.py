"""A long conversation opens with only its newest messages built; older ones are built as
the user scrolls up, in order, without moving what is on screen."""

from __future__ import annotations

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


def test_only_the_newest_messages_are_built_until_scrolled(qtbot: QtBot) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(700, 500)
    view.show()
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
