"""A conversation with reasoning, tool calls and tool results comes out of every export
(Markdown, HTML, our JSON) and back in through our JSON: roles, calls and results kept."""

from __future__ import annotations

import json

from desktopchat.core import exchange
from desktopchat.core.chat import MessageStatus, Role, ToolCall
from desktopchat.core.exchange.pages import to_html, to_markdown
from desktopchat.core.session import Core

HOSTILE = "```\n<script>alert(1)</script> {{ 7*7 }}"


def tool_conversation(core: Core) -> int:
    repo = core.conversations
    conversation = repo.create(title="Tools")
    user = repo.add_message(conversation.id, Role.USER, "What is 6*7?", parent_id=None)
    asked = repo.add_message(conversation.id, Role.ASSISTANT, "", parent_id=user.id)
    call = ToolCall("call_1", "calculator", {"expression": "6*7"})
    repo.update_message(
        asked.id, "", MessageStatus.COMPLETE, reasoning="Use the tool.", tool_calls=(call,)
    )
    result = repo.add_message(
        conversation.id,
        Role.TOOL,
        HOSTILE,
        parent_id=asked.id,
        tool_call_id="call_1",
        tool_name="calculator",
    )
    repo.add_message(conversation.id, Role.ASSISTANT, "It is 42.", parent_id=result.id)
    return conversation.id


def exported(core: Core, conversation_id: int) -> list[exchange.Exported]:
    conversation = core.conversations.get(conversation_id)
    return [(conversation, core.conversations.all_messages(conversation_id))]


def test_markdown_and_html_show_the_thinking_the_calls_and_the_results(core: Core) -> None:
    items = exported(core, tool_conversation(core))
    markdown = to_markdown(items)
    assert "## Tool result: calculator" in markdown
    assert '`calculator({"expression": "6*7"})`' in markdown
    assert "**Thinking:**" in markdown and "> Use the tool." in markdown
    assert f"````text\n{HOSTILE}\n````" in markdown  # a fence its backticks cannot close
    page = to_html(items)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert '<details class="reasoning"><summary>Thinking</summary>' in page
    assert "Tool result: calculator" in page


def test_our_json_round_trips_roles_calls_and_results(core: Core) -> None:
    items = exported(core, tool_conversation(core))
    text = exchange.to_json(items)
    raw = json.loads(text)
    messages = raw["conversations"][0]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1]["tool_calls"] == [
        {"id": "call_1", "name": "calculator", "arguments": {"expression": "6*7"}}
    ]
    assert messages[1]["reasoning"] == "Use the tool."
    assert messages[2]["tool_call_id"] == "call_1" and messages[2]["tool_name"] == "calculator"
    [(_conversation, back)] = exchange.parse(text)
    assert [m.role for m in back] == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT]
    assert back[1].tool_calls == (ToolCall("call_1", "calculator", {"expression": "6*7"}),)
    assert back[2].content == HOSTILE and back[2].tool_name == "calculator"
