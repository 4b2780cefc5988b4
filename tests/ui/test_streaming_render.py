"""A streaming reply renders only its unfinished block again; the result is the same."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from desktopchat.core.chat import Message, MessageStatus, Role
from desktopchat.ui.chat_view import ChatView
from desktopchat.ui.markdown import stable_prefix

REPLY = (
    "First paragraph.\n\n"
    "```python\nprint(1)\n\nprint(2)\n```\n\n"
    "Second paragraph with `code`.\n\n"
    "```sh\necho hi\n```\n"
    "Last words"
)


def test_stable_prefix_never_splits_a_code_fence() -> None:
    assert stable_prefix("one\n\ntwo") == len("one\n\n")
    assert stable_prefix("```\na\n\nb") == 0  # the blank line is inside an open fence
    fenced = "```\na\n\nb\n```\n\nafter"
    assert stable_prefix(fenced) == len("```\na\n\nb\n```\n\n")
    assert stable_prefix(fenced, len("```\na\n\nb\n```\n\n")) == len("```\na\n\nb\n```\n\n")
    assert stable_prefix("no blank line yet") == 0


def test_streamed_and_final_render_agree(qtbot: QtBot) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(700, 500)
    view.show()
    message = Message(1, 1, None, Role.ASSISTANT, "", MessageStatus.PARTIAL, 0.0)
    widget = view.append_message(message, live=True)
    bodies = set()
    for end in range(1, len(REPLY) + 1, 7):
        view.update_message(1, REPLY[:end], MessageStatus.PARTIAL, live=True)
        bodies.add(widget.body.text())
    view.update_message(1, REPLY, MessageStatus.PARTIAL, live=True)
    assert widget.code_blocks == ("print(1)\n\nprint(2)\n", "echo hi\n")
    assert 'href="copy:1"' in widget.tail.text() or 'href="copy:1"' in widget.body.text()
    assert len(bodies) < 12, "the finished part is rendered once per block, not per update"
    view.update_message(1, REPLY, MessageStatus.COMPLETE)
    assert widget.tail.isHidden() and widget.code_blocks == (
        "print(1)\n\nprint(2)\n",
        "echo hi\n",
    )
    assert "Last words" in widget.body.text() and "copy:1" in widget.body.text()


def test_a_label_remeasures_after_its_text_changes(qtbot: QtBot) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    message = Message(1, 1, None, Role.ASSISTANT, "short", MessageStatus.COMPLETE, 0.0)
    widget = view.append_message(message)
    short = widget.body.heightForWidth(300)
    view.update_message(1, "long words " * 200, MessageStatus.COMPLETE)
    assert widget.body.heightForWidth(300) > short * 5
