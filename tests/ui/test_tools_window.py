"""Tools in the real window, offscreen: a grammar-forced call to the tests' real stdio MCP
server goes through the approval dialog (server, tool, editable arguments), its result
appears as a collapsed tool block and the model answers; Deny and Stop run nothing; the
thinking of a template that opens <think> streams and collapses."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktopchat.core.chat import GenerationParams, MessageStatus, Role
from desktopchat.core.paths import AppPaths
from desktopchat.core.tools.servers import McpServerConfig, McpServers
from desktopchat.core.tools.types import ToolPermission
from desktopchat.ui.main_window import MainWindow
from desktopchat.ui.tool_approval import ApprovalDialog
from tests.ui.conftest import WindowFactory, settle

pytestmark = pytest.mark.real_model

MCP_SERVER = Path(__file__).resolve().parent.parent / "mcp_server.py"


def with_server(paths: AppPaths) -> None:
    McpServers.in_folder(paths.config).add(
        McpServerConfig(
            name="testserver", transport="stdio", command=sys.executable, args=(str(MCP_SERVER),)
        )
    )


def forced(window: MainWindow) -> None:
    params = GenerationParams(
        n_ctx=2048,
        n_threads=2,
        max_tokens=48,
        temperature=0.0,
        seed=5,
        tools=("testserver:add",),
        tool_choice="testserver:add",
        max_tool_steps=1,
    )
    window.settings_panel.set_params(params)
    window.settings_panel.on_timer_timeout()


def ask(qtbot: QtBot, window: MainWindow, text: str) -> ApprovalDialog:
    window.composer.setPlainText(text)
    window.replies.send()
    qtbot.waitUntil(lambda: window.replies.approval is not None, timeout=120_000)
    dialog = window.replies.approval
    assert dialog is not None and dialog.isVisible()
    return dialog


def test_a_tool_call_is_approved_in_the_dialog_and_shown_in_the_chat(
    qtbot: QtBot, paths: AppPaths, make_window: WindowFactory
) -> None:
    with_server(paths)
    window = make_window()
    forced(window)
    dialog = ask(qtbot, window, "Add 2 and 40.")
    assert "testserver" in dialog.intro.text() and "Add two numbers" in dialog.intro.text()
    assert '"a"' in dialog.arguments.toPlainText() and '"b"' in dialog.arguments.toPlainText()
    dialog.arguments.setPlainText('{"a": 20, "b": 22}')  # the user edits the arguments
    with qtbot.waitSignal(window.controller.reply_finished, timeout=120_000):
        dialog.allow_once.click()
    settle(qtbot, window)
    qtbot.waitUntil(lambda: len(window.chat_view.messages()) == 4, timeout=10_000)
    widgets = window.chat_view.messages()
    assert [w.role for w in widgets] == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT]
    call, result = widgets[1], widgets[2]
    assert 'testserver__add({"a": 20, "b": 22})' in call.calls.text()
    assert result.calls.text() == "42" and not result.calls.isVisible()  # collapsed
    assert "returned" in result.thinking_toggle.text()
    result.thinking_toggle.click()
    assert result.calls.isVisible()
    assert "1 tool call" in window.speed_label.text()


def test_deny_and_stop_run_nothing(
    qtbot: QtBot, paths: AppPaths, make_window: WindowFactory
) -> None:
    with_server(paths)
    window = make_window()
    forced(window)
    dialog = ask(qtbot, window, "Add 1 and 1.")
    with qtbot.waitSignal(window.controller.reply_finished, timeout=120_000):
        dialog.deny.click()
    settle(qtbot, window)
    qtbot.waitUntil(lambda: len(window.chat_view.messages()) == 4, timeout=10_000)
    tool = window.chat_view.messages()[2]
    assert tool.role is Role.TOOL and "denied" in tool.calls.text()
    # Stop while the dialog is open: the reply ends, the call does not run.
    dialog = ask(qtbot, window, "Add 3 and 4.")
    with qtbot.waitSignal(window.controller.reply_finished, timeout=60_000) as finished:
        window.replies.stop()
    result = finished.args[0]
    assert result.status is MessageStatus.STOPPED
    assert [r.decision for r in result.tool_runs] == ["stopped"]
    assert not dialog.isVisible() and window.replies.approval is None  # it asks no more


def test_the_inspector_shows_the_thinking_and_the_calls_apart() -> None:
    from desktopchat.core.chat import GenerationStats, Message, ToolCall
    from desktopchat.ui.inspector import describe

    message = Message(
        7,
        1,
        6,
        Role.ASSISTANT,
        "",
        MessageStatus.COMPLETE,
        0.0,
        stats=GenerationStats(completion_tokens=30, reasoning_tokens=12, reasoning_seconds=1.5),
        reasoning="Add them <b>now</b>.",
        tool_calls=(ToolCall("call_1", "calculator", {"expression": "2+2"}),),
    )
    summary = describe(message, None)
    assert "12 of the reply&#x27;s tokens, 1.5 s: Add them &lt;b&gt;now&lt;/b&gt;." in summary
    assert "calculator({&quot;expression&quot;: &quot;2+2&quot;})" in summary


THINKING_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)


def test_thinking_streams_in_its_block_and_collapses_when_the_answer_starts(
    qtbot: QtBot, make_window: WindowFactory, starter_model: Path, paths: AppPaths
) -> None:
    from desktopchat.ui.controllers import ModelState
    from tests.gguf_files import copy_gguf

    folder = paths.models / "local"
    folder.mkdir(parents=True, exist_ok=True)
    thinker = copy_gguf(
        starter_model, folder / "thinker-R1.gguf", {"tokenizer.chat_template": THINKING_TEMPLATE}
    )
    window = make_window()
    params = GenerationParams(
        n_ctx=1024, n_threads=2, max_tokens=40, temperature=0.0, seed=2, thinking_budget=4
    )
    qtbot.waitUntil(lambda: window.model_picker.findData(str(thinker)) >= 0, timeout=10_000)
    window.model_picker.setCurrentIndex(window.model_picker.findData(str(thinker)))
    window.model_controls.load_selected()
    qtbot.waitUntil(
        lambda: (
            window.controller.state is ModelState.READY
            and window.controller.loaded is not None
            and window.controller.loaded.config.path == thinker
        ),
        timeout=60_000,
    )
    settle(qtbot, window)
    window.settings_panel.set_params(params)  # after the load: it shows the model's defaults
    window.settings_panel.on_timer_timeout()
    seen: list[bool] = []
    window.controller.reply_thinking_changed.connect(lambda _c, _m, _t, live: seen.append(live))
    window.composer.setPlainText("Why is the sky blue?")
    with qtbot.waitSignal(window.controller.reply_finished, timeout=120_000) as finished:
        window.replies.send()
    settle(qtbot, window)
    result = finished.args[0]
    assert seen and seen[0] is True  # streamed live
    assert "I must answer now." in result.reasoning  # its budget ended the thinking
    answer = window.chat_view.messages()[-1]
    assert answer.thinking_toggle.isVisible() and not answer.thinking.isVisible()
    assert answer.thinking_toggle.text().startswith("▸ Thought for")
    assert answer.thinking.text() == result.reasoning.strip()
    assert "<think>" not in answer.text and answer.text == result.text
    answer.thinking_toggle.click()
    assert answer.thinking.isVisible()
    assert "thinking" in window.speed_label.text()
    # The first piece of an answer collapses the thinking at once (before the reply ends).
    collapsed: list[bool] = []
    window.controller.reply_thinking_changed.connect(
        lambda _c, _m, _t, live: collapsed.append(live)
    )
    window.controller.generating_conversation = result.conversation_id
    window.controller.on_worker_thinking_received("more thought")
    window.controller.on_worker_token_received("The answer")
    window.controller.generating_conversation = None
    assert collapsed == [True, False]


def test_servers_added_in_the_tools_dialog_are_chosen_for_a_chat_and_called(
    qtbot: QtBot, make_window: WindowFactory
) -> None:
    from desktopchat.ui.tools_dialog import ToolsDialog

    window = make_window()
    window.tools_action.trigger()
    dialog = window.findChild(ToolsDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.add_stdio("testserver", f"{sys.executable} {MCP_SERVER}") == ""
    dialog.close()
    # The chat's tools, from the picker (listed off the GUI thread).
    window.settings_panel.set_params(
        GenerationParams(n_ctx=2048, n_threads=2, max_tokens=48, temperature=0.0, seed=5)
    )
    window.settings_panel.choose_tools.click()
    qtbot.waitUntil(lambda: window.chat_settings.picker is not None, timeout=60_000)
    picker = window.chat_settings.picker
    assert picker is not None and "testserver:add" in picker.boxes
    assert "calculator" in picker.boxes
    picker.boxes["testserver:add"].setChecked(True)
    picker.accept()
    assert window.settings_panel.tools.text() == "testserver:add"
    index = window.settings_panel.tool_choice.findData("required")
    window.settings_panel.tool_choice.setCurrentIndex(index)
    window.settings_panel.max_tool_steps.setValue(1)
    window.settings_panel.on_timer_timeout()
    # The inference thread's toolbox saw tools.json change: the server is offered.
    dialog_shown = ask(qtbot, window, "Add 5 and 6.")
    assert dialog_shown.allow_always.isVisible()
    with qtbot.waitSignal(window.controller.reply_finished, timeout=120_000) as finished:
        dialog_shown.allow_always.click()
    [run] = finished.args[0].tool_runs
    assert run.server == "testserver" and not run.is_error
    stored = McpServers.in_folder(window.paths.config).get("testserver")
    assert stored is not None and stored.permission_of("add") is ToolPermission.ALLOW


def test_a_hostile_tool_output_is_plain_text_in_the_chat_and_runs_nothing(
    qtbot: QtBot, paths: AppPaths, make_window: WindowFactory
) -> None:
    from PySide6.QtCore import Qt

    with_server(paths)
    window = make_window()
    params = GenerationParams(
        n_ctx=2048,
        n_threads=2,
        max_tokens=32,
        temperature=0.0,
        seed=5,
        tools=("testserver:hostile", "testserver:add"),
        tool_choice="testserver:hostile",
        max_tool_steps=1,
    )
    window.settings_panel.set_params(params)
    window.settings_panel.on_timer_timeout()
    dialog = ask(qtbot, window, "Run the hostile tool.")
    with qtbot.waitSignal(window.controller.reply_finished, timeout=120_000) as finished:
        dialog.allow_once.click()
    settle(qtbot, window)
    assert window.replies.approval is None  # one call asked for: the fake one ran nothing
    [run] = finished.args[0].tool_runs
    qtbot.waitUntil(lambda: len(window.chat_view.messages()) == 4, timeout=10_000)
    block = window.chat_view.messages()[2]
    assert block.calls.textFormat() is Qt.TextFormat.PlainText
    assert block.calls.text() == run.result
    assert "<script>alert('x')</script>" in block.calls.text()  # shown as it is, not run
    assert "{{ 7*7 }}" in block.calls.text() and "\x1b" not in block.calls.text()
