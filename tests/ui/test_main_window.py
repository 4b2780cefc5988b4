"""The real main window, offscreen, driving real llama.cpp and a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from desktopchat.core.chat import GenerationParams, Message, MessageStatus, Role
from desktopchat.core.paths import AppPaths
from desktopchat.core.session import Core
from desktopchat.ui.controllers import ModelState
from desktopchat.ui.main_window import MainWindow
from tests.processes import run_cli
from tests.ui.conftest import WindowFactory, settle

pytestmark = pytest.mark.real_model


PROMPT = "Write a poem of eight lines about the sea."


def small_params(window: MainWindow, **changes: object) -> None:
    params = GenerationParams(n_ctx=2048, n_threads=2, max_tokens=48, temperature=0.0, seed=5)
    window.settings_panel.set_params(params.with_changes(**changes))


def send(qtbot: QtBot, window: MainWindow, text: str) -> None:
    window.composer.setFocus()
    qtbot.keyClicks(window.composer, text)
    with qtbot.waitSignal(window.controller.reply_finished, timeout=120_000):
        qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    settle(qtbot, window)


def stored_path(core: Core, window: MainWindow) -> list[Message]:
    """The open conversation's active branch, as stored (read through the test's own
    connection)."""
    if window.current_conversation is None:
        return []
    return core.conversations.active_path(window.current_conversation)


def test_send_streams_and_survives_a_restart(
    qtbot: QtBot, make_window: WindowFactory, core: Core
) -> None:
    window = make_window()
    assert window.composer.isEnabled()
    assert "SmolLM2-135M-Instruct" in window.model_picker.currentText()
    assert "Q4_1" in window.model_picker.currentText()
    # A reply long enough to span several repaint ticks on a fast machine: a short one
    # ("1. Red 2. Blue 3. Green") can finish within one tick and arrive in one update.
    small_params(window, max_tokens=96)
    updates: list[str] = []
    window.controller.reply_text_changed.connect(lambda _c, _m, text: updates.append(text))
    send(qtbot, window, PROMPT)
    widgets = window.chat_view.messages()
    assert [w.role for w in widgets] == [Role.USER, Role.ASSISTANT]
    reply = widgets[1].text
    assert reply.strip() and widgets[1].status is MessageStatus.COMPLETE
    assert len(updates) >= 2  # streamed in several repaints, not at once
    assert all(reply.startswith(u) for u in updates)  # each repaint extends the last
    assert "tokens/s" in window.speed_label.text()
    assert window.ttft_label.text().startswith("First token")
    assert window.context_label.text().startswith("Context ")
    assert window.composer.toPlainText() == ""
    conversation = window.current_conversation
    assert conversation is not None
    assert window.sidebar.ids() == [conversation]
    window.close()

    reopened = make_window()
    assert reopened.sidebar.ids() == [conversation]
    reopened.sidebar.select_row(0)
    settle(qtbot, reopened)
    shown = reopened.chat_view.messages()
    assert [(w.role, w.text) for w in shown] == [
        (Role.USER, PROMPT),
        (Role.ASSISTANT, reply),
    ]
    small_params(reopened)
    send(qtbot, reopened, "Which one is your favourite?")
    stored = stored_path(core, reopened)
    assert [m.role for m in stored] == [Role.USER, Role.ASSISTANT] * 2
    stats = stored[-1].stats
    assert stats is not None and stats.prompt_tokens > 20  # the history was in the prompt


def test_stop_keeps_the_partial_answer(
    qtbot: QtBot, make_window: WindowFactory, core: Core
) -> None:
    window = make_window()
    small_params(window, max_tokens=500, temperature=0.7)
    qtbot.keyClicks(window.composer, "Write a very long story about a lighthouse keeper.")
    with qtbot.waitSignal(window.controller.reply_text_changed, timeout=60_000):
        qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    assert window.stop_button.isVisible() and not window.send_button.isVisible()
    assert not window.composer.isEnabled()
    with qtbot.waitSignal(window.controller.reply_finished, timeout=30_000) as finished:
        qtbot.mouseClick(window.stop_button, Qt.MouseButton.LeftButton)
    result = finished.args[0]
    assert result.status is MessageStatus.STOPPED
    assert result.stats.completion_tokens < 500
    widget = window.chat_view.messages()[-1]
    assert "stopped" in widget.header.text() and widget.text == result.text != ""
    stored = stored_path(core, window)[-1]
    assert stored.status is MessageStatus.STOPPED and stored.content == result.text
    assert window.composer.isEnabled() and window.send_button.isVisible()


def test_composer_keys_and_bad_input(qtbot: QtBot, make_window: WindowFactory, core: Core) -> None:
    window = make_window()
    small_params(window)
    qtbot.keyClicks(window.composer, "line one")
    qtbot.keyClick(window.composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(window.composer, "line two")
    assert window.composer.toPlainText() == "line one\nline two"
    window.composer.clear()
    qtbot.keyClicks(window.composer, "   ")
    qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    assert "empty" in window.notice.text()
    assert window.current_conversation is None
    # a prompt longer than the context: a clear message, and the text stays in the composer
    window.composer.clear()
    small_params(window, n_ctx=512)
    long_text = "word " * 2000
    window.composer.setPlainText(long_text)
    with qtbot.waitSignal(window.controller.reply_failed, timeout=60_000):
        window.on_composer_submitted()
    assert "too long for the context" in window.notice.text()
    assert window.composer.toPlainText() == long_text
    settle(qtbot, window)
    assert stored_path(core, window) == []
    assert window.composer.isEnabled()


def test_conversations_switch_rename_delete_filter(
    qtbot: QtBot, make_window: WindowFactory, monkeypatch: pytest.MonkeyPatch, core: Core
) -> None:
    window = make_window()
    small_params(window, system_prompt="You are a pirate.", max_tokens=8)
    send(qtbot, window, "First chat")
    first = window.current_conversation
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.current_conversation is None and window.chat_view.messages() == []
    small_params(window, system_prompt="You are a poet.", max_tokens=8)
    send(qtbot, window, "Second chat")
    second = window.current_conversation
    assert window.sidebar.ids() == [second, first]  # newest first

    window.sidebar.select_row(1)
    settle(qtbot, window)
    assert window.current_conversation == first
    assert window.chat_view.messages()[0].text == "First chat"
    assert window.settings_panel.system_prompt.toPlainText() == "You are a pirate."
    window.sidebar.select_row(0)
    settle(qtbot, window)
    assert window.settings_panel.system_prompt.toPlainText() == "You are a poet."

    # settings edits are stored with the conversation
    window.settings_panel.temperature.setValue(1.25)
    window.settings_panel.flush()
    settle(qtbot, window)
    assert second is not None
    assert core.conversations.get(second).params.temperature == 1.25

    monkeypatch.setattr(window, "ask_text", lambda *_: "Renamed chat")
    window.sidebar.on_rename_triggered()
    settle(qtbot, window)
    assert window.sidebar.title(0) == "Renamed chat"

    qtbot.keyClicks(window.sidebar.filter, "renamed")  # filtered once typing pauses
    qtbot.waitUntil(lambda: window.sidebar.ids() == [second], timeout=60_000)
    window.sidebar.filter.clear()
    qtbot.waitUntil(lambda: len(window.sidebar.ids()) == 2, timeout=60_000)

    # Delete moves to the trash at once, with Undo; the trash asks before deleting for good.
    window.sidebar.select_row(0)
    settle(qtbot, window)
    window.sidebar.on_delete_triggered()
    settle(qtbot, window)
    assert window.sidebar.ids() == [first]
    assert window.current_conversation is None
    assert window.action_bar.isVisible() and "trash" in window.action_label.text()
    window.action_buttons[0].click()  # Undo
    settle(qtbot, window)
    assert sorted(window.sidebar.ids()) == sorted([first, second])
    assert window.current_conversation == second
    window.sidebar.on_delete_triggered()
    settle(qtbot, window)
    window.sidebar.trash_button.click()
    settle(qtbot, window)
    assert window.sidebar.ids() == [second] and not window.composer.isEnabled()
    window.sidebar.select_row(0)
    settle(qtbot, window)
    monkeypatch.setattr(window, "confirm", lambda *_: False)
    window.sidebar.on_delete_triggered()
    settle(qtbot, window)
    assert window.sidebar.ids() == [second]  # declined: nothing deleted
    monkeypatch.setattr(window, "confirm", lambda *_: True)
    window.sidebar.on_delete_triggered()
    settle(qtbot, window)
    assert window.sidebar.ids() == []
    window.sidebar.trash_button.click()
    settle(qtbot, window)
    assert window.sidebar.ids() == [first]


def test_markdown_code_copy_and_autoscroll(
    qtbot: QtBot, make_window: WindowFactory, core: Core
) -> None:
    window = make_window()
    conv = core.conversations.create()
    parent = None
    for i in range(30):
        message = core.conversations.add_message(
            conv.id,
            Role.USER if i % 2 == 0 else Role.ASSISTANT,
            f"## Heading {i}\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint({i})\n```\n"
            "<b>raw html</b>",
            parent_id=parent,
        )
        parent = message.id
    window.refresh_conversations()
    settle(qtbot, window)
    window.open_conversation(conv.id)
    settle(qtbot, window)
    widget = window.chat_view.messages()[-1]
    assert "<h2>" in widget.body.text() and "<table" in widget.body.text()
    assert "&lt;b&gt;raw html&lt;/b&gt;" in widget.body.text()  # never rendered as HTML
    widget.on_body_link_activated("copy:0")
    assert QGuiApplication.clipboard().text() == "print(29)\n"

    view = window.chat_view
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum())
    bar.setValue(0)  # the user scrolls up: auto-scroll stops
    assert not view.stick_to_bottom
    # At the top, the older messages are built above without moving what is shown.
    while view.unbuilt:
        bar.setValue(0)
        qtbot.wait(20)
    qtbot.wait(50)
    where = bar.value()
    assert where < bar.maximum() - 1000
    message = core.conversations.add_message(conv.id, Role.USER, "more\n" * 50, parent_id=parent)
    view.append_message(message)
    qtbot.wait(50)
    assert bar.value() == where
    bar.setValue(bar.maximum())  # back at the bottom: it follows again
    assert view.stick_to_bottom


def test_import_gemma_and_template_fallback_notice(
    qtbot: QtBot, make_window: WindowFactory, gemma_model: Path, tmp_path: Path
) -> None:
    window = make_window()
    junk = tmp_path / "junk.gguf"
    junk.write_text("not a model")
    window.import_model(junk)
    qtbot.waitUntil(lambda: "not a GGUF model" in window.notice.text(), timeout=10_000)
    window.import_model(gemma_model)
    qtbot.waitUntil(lambda: window.model_picker.count() == 2, timeout=10_000)
    assert "gemma3" in window.model_picker.currentText()
    with qtbot.waitSignal(window.controller.model_state_changed, timeout=10_000):
        qtbot.mouseClick(window.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: (
            window.controller.state is ModelState.READY
            and window.controller.loaded is not None
            and window.controller.loaded.architecture == "gemma3"
        ),
        timeout=60_000,
    )
    assert "no chat template" in window.model_state.text()
    assert "no chat template" in window.notice.text()
    small_params(window, max_tokens=12)
    send(qtbot, window, "The capital of France is")
    assert window.chat_view.messages()[-1].text.strip()


def test_a_crash_during_load_prevents_the_next_autoload(
    qtbot: QtBot, paths: AppPaths, make_window: WindowFactory
) -> None:
    window = make_window()
    window.close()
    paths.loading_marker.write_text("/models/crashy.gguf")
    reopened = make_window(wait_for_model=False)
    qtbot.waitUntil(lambda: "crashy.gguf" in reopened.notice.text(), timeout=10_000)
    assert reopened.controller.state is ModelState.NONE
    assert not reopened.composer.isEnabled()
    assert not paths.loading_marker.exists()


def test_unload_frees_the_model_and_disables_the_composer(
    qtbot: QtBot, make_window: WindowFactory
) -> None:
    window = make_window()
    with qtbot.waitSignal(window.controller.model_state_changed, timeout=10_000):
        qtbot.mouseClick(window.unload_button, Qt.MouseButton.LeftButton)
    assert window.controller.state is ModelState.NONE and window.controller.loaded is None
    assert not window.composer.isEnabled() and window.model_state.text() == "No model loaded"
    with qtbot.waitSignal(window.controller.model_state_changed, timeout=10_000):
        qtbot.mouseClick(window.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.controller.state is ModelState.READY, timeout=60_000)
    assert window.composer.isEnabled()


def test_a_locked_database_is_reported_and_nothing_is_lost(
    qtbot: QtBot,
    make_window: WindowFactory,
    paths: AppPaths,
    monkeypatch: pytest.MonkeyPatch,
    core: Core,
) -> None:
    import sqlite3

    from PySide6.QtCore import QTimer

    window = make_window()
    conv = core.conversations.create(title="Keep me")
    window.refresh_conversations()
    settle(qtbot, window)
    window.sidebar.select_row(0)
    settle(qtbot, window)
    monkeypatch.setattr(window, "ask_text", lambda *_: "New title")
    ticks: list[int] = []
    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(lambda: ticks.append(1))
    holder = sqlite3.connect(paths.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        probe.start()
        window.sidebar.on_rename_triggered()
        # The rename waits for the lock on the database thread: the window goes on.
        qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=60_000)
        assert window.sidebar.title(0) == "Keep me"
        qtbot.waitUntil(lambda: "locked by another program" in window.notice.text(), timeout=60_000)
    finally:
        probe.stop()
        holder.execute("ROLLBACK")
        holder.close()
    settle(qtbot, window)
    assert core.conversations.get(conv.id).title == "Keep me"
    window.sidebar.on_rename_triggered()
    settle(qtbot, window)
    assert core.conversations.get(conv.id).title == "New title"
    assert window.sidebar.title(0) == "New title"


def test_an_interrupted_reply_is_shown_as_interrupted_and_can_be_continued(
    qtbot: QtBot, make_window: WindowFactory, core: Core
) -> None:
    window = make_window()
    conv = core.conversations.create()
    user = core.conversations.add_message(conv.id, Role.USER, "Tell me more", parent_id=None)
    core.conversations.add_message(
        conv.id, Role.ASSISTANT, "Once upon a", parent_id=user.id, status=MessageStatus.PARTIAL
    )  # what a crash in the middle of a reply leaves behind
    window.refresh_conversations()
    settle(qtbot, window)
    window.sidebar.select_row(0)
    settle(qtbot, window)
    reply = window.chat_view.messages()[-1]
    assert reply.text == "Once upon a"
    assert reply.header.text() == "Assistant — interrupted"
    assert not reply.actions_row.isHidden()
    assert window.chat_view.messages()[0].actions_row.isHidden()
    small_params(window, max_tokens=12)
    window.composer.setPlainText("a draft the user is writing")
    with qtbot.waitSignal(window.controller.reply_finished, timeout=60_000):
        qtbot.mouseClick(reply.continue_button, Qt.MouseButton.LeftButton)
    continued = window.chat_view.messages()[-1]
    assert continued.message_id == reply.message_id
    assert continued.text.startswith("Once upon a") and len(continued.text) > len("Once upon a")
    assert continued.header.text() == "Assistant"
    # Finished, unless the token limit cut it (then it can be continued again).
    assert continued.actions_row.isHidden() == (continued.finish_reason != "length")
    assert window.composer.toPlainText() == "a draft the user is writing"  # draft kept
    # A stopped reply can be written again; the old one stays in the tree.
    stopped = core.conversations.add_message(
        conv.id, Role.ASSISTANT, "Half an answ", parent_id=user.id, status=MessageStatus.STOPPED
    )
    window.open_conversation(conv.id)
    settle(qtbot, window)
    last = window.chat_view.messages()[-1]
    assert last.message_id == stopped.id and not last.actions_row.isHidden()
    with qtbot.waitSignal(window.controller.reply_finished, timeout=60_000) as finished:
        qtbot.mouseClick(last.regenerate_button, Qt.MouseButton.LeftButton)
    new_id = finished.args[0].assistant_message_id
    assert window.chat_view.messages()[-1].message_id == new_id != stopped.id
    siblings = [m.id for m in core.conversations.all_messages(conv.id) if m.parent_id == user.id]
    assert siblings == [reply.message_id, stopped.id, new_id]


def test_context_longer_than_the_model_knows_is_capped_with_a_notice(
    qtbot: QtBot, make_window: WindowFactory
) -> None:
    window = make_window()
    window.open_conversation(None)
    settle(qtbot, window)
    small_params(window, n_ctx=65536)
    send(qtbot, window, "Hi")
    assert window.controller.loaded is not None and window.controller.loaded.n_ctx == 8192
    assert "context 8,192 (capped: the model was trained for 8,192)" in (window.model_state.text())


def test_a_damaged_database_is_restored_at_start_and_the_user_told(
    qtbot: QtBot, make_window: WindowFactory, paths: AppPaths, core: Core
) -> None:
    import os

    from desktopchat.core.storage.backups import daily_backup

    window = make_window()
    for i in range(30):
        conv = core.conversations.create()
        core.conversations.add_message(conv.id, Role.USER, f"m{i} " * 80, parent_id=None)
    window.close()
    core.close()  # the damage below is for the next start to find
    qtbot.waitUntil(lambda: any((paths.data / "backups").glob("daily-*")), timeout=10_000)
    for backup in (paths.data / "backups").glob("daily-*"):
        backup.unlink()  # the start-up backup ran before the 30 chats: make a fresh one
    assert daily_backup(paths.database, paths.data / "backups") is not None
    with paths.database.open("r+b") as handle:
        handle.seek(paths.database.stat().st_size // 2)
        handle.write(os.urandom(8192))
    reopened = make_window()
    assert "restored the backup" in reopened.notice.text()
    assert "30 conversations" in reopened.notice.text()
    assert len(reopened.sidebar.ids()) == 30
    assert list(paths.data.glob("desktopchat.sqlite3.unreadable-*"))


def test_conversations_added_by_the_cli_appear(
    qtbot: QtBot, make_window: WindowFactory, paths: AppPaths
) -> None:

    window = make_window()
    assert window.sidebar.ids() == []
    result = run_cli(paths.data.parent, "chat", "--max-tokens", "8", "Hello from a script")
    assert result.returncode == 0, result.stderr
    qtbot.waitUntil(lambda: len(window.sidebar.ids()) == 1, timeout=10_000)
    window.sidebar.select_row(0)
    settle(qtbot, window)
    assert window.chat_view.messages()[0].text == "Hello from a script"


def test_a_second_start_brings_the_first_window_to_the_front(qtbot: QtBot, paths: AppPaths) -> None:
    import os
    import subprocess
    import sys

    from desktopchat.ui.single_instance import SingleInstance

    first = SingleInstance(paths)
    assert first.listen()
    env = {**os.environ, "DESKTOPCHAT_HOME": str(paths.data.parent)}
    try:
        with qtbot.waitSignal(first.activate_requested, timeout=20_000):
            second = subprocess.Popen(
                [sys.executable, "-m", "desktopchat"],
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
        _, stderr = second.communicate(timeout=30)
        assert second.returncode == 0
        assert "already running" in stderr
    finally:
        first.close()
    other = SingleInstance(AppPaths.under(paths.data.parent / "elsewhere"))
    assert other.name != first.name and not other.activate_running()


def test_delete_works_while_an_old_notice_is_showing(
    qtbot: QtBot, make_window: WindowFactory, monkeypatch: pytest.MonkeyPatch, core: Core
) -> None:
    window = make_window()
    conv = core.conversations.create(title="Doomed")
    window.refresh_conversations()
    settle(qtbot, window)
    window.sidebar.select_row(0)
    settle(qtbot, window)
    window.show_error("an earlier, unrelated message")
    window.sidebar.on_delete_triggered()
    settle(qtbot, window)
    assert window.sidebar.ids() == []
    assert window.current_conversation is None
    assert core.conversations.summaries() == []
    assert core.conversations.get(conv.id).deleted_at is not None


def engine_pid(window: MainWindow) -> int:
    pid = window.controller._worker._engine.pid  # type: ignore[attr-defined]
    assert isinstance(pid, int)
    return pid


def test_killing_the_engine_mid_reply_keeps_the_window_and_the_partial_reply(
    qtbot: QtBot, make_window: WindowFactory, starter_model: Path, core: Core
) -> None:
    import os
    import signal

    window = make_window()
    small_params(window, max_tokens=400, temperature=0.8)
    window.composer.setPlainText("Tell me a long story about a lighthouse.")
    with qtbot.waitSignal(window.controller.reply_failed, timeout=60_000) as failed:
        qtbot.keyClick(window.composer, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: len(window.controller.current_text()) > 20, timeout=30_000)
        os.kill(engine_pid(window), signal.SIGKILL)
    failure = failed.args[0]
    assert failure.started
    assert "The model engine stopped while writing a reply" in window.notice.text()
    assert window.isVisible()
    qtbot.waitUntil(lambda: window.controller.state is ModelState.NONE, timeout=5_000)
    assert window.load_button.isEnabled() and not window.composer.isEnabled()
    conv = window.current_conversation
    assert conv is not None
    stored = core.conversations.active_path(conv)
    assert stored[-1].status is MessageStatus.ERROR and len(stored[-1].content) > 10
    assert stored[-2].content == "Tell me a long story about a lighthouse."
    # Load again: a fresh engine process answers.
    qtbot.mouseClick(window.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.controller.state is ModelState.READY, timeout=60_000)
    small_params(window, max_tokens=8)
    send(qtbot, window, "Hello again")
    assert window.chat_view.messages()[-1].text.strip()


def test_a_model_file_that_makes_llama_cpp_abort_leaves_the_window_up(
    qtbot: QtBot, make_window: WindowFactory, paths: AppPaths, tmp_path: Path
) -> None:
    from tests.gguf_files import aborting_gguf

    window = make_window()
    path = aborting_gguf(tmp_path / "duplicate-tokens.gguf")
    with qtbot.waitSignal(window.controller.model_state_changed, timeout=30_000) as changed:
        window.controller.load_model(str(path), GenerationParams(n_ctx=256))
        qtbot.waitUntil(lambda: window.controller.state is not ModelState.LOADING, timeout=30_000)
    del changed
    assert window.controller.state is ModelState.FAILED
    assert "it crashed (SIGABRT)" in window.model_state.text() + window.notice.text()
    assert "GGML_ASSERT" in window.model_state.text() + window.notice.text()
    assert window.isVisible()
    # The crash is remembered: the next start does not load a model on its own.
    assert paths.loading_marker.read_text() == str(path)
    window.close()
    reopened = make_window(wait_for_model=False)
    qtbot.waitUntil(lambda: "duplicate-tokens.gguf" in reopened.notice.text(), timeout=10_000)
    assert reopened.controller.state is ModelState.NONE


def test_network_activity_window_lists_connections_and_flags_unexpected_ones(
    qtbot: QtBot, make_window: WindowFactory
) -> None:
    from desktopchat.core import network
    from desktopchat.ui.network_dialog import NONE_YET, NetworkActivityDialog

    window = make_window(wait_for_model=False)
    window.network_action.trigger()
    shown = window.findChild(NetworkActivityDialog)
    assert shown is not None and shown.isVisible()
    assert shown.table.rowCount() == len(network.activity.connections())
    shown.close()

    quiet = NetworkActivityDialog(network.NetworkActivity())
    qtbot.addWidget(quiet)
    assert quiet.summary.text() == NONE_YET and quiet.table.rowCount() == 0
    activity = network.NetworkActivity()
    with activity.purpose("Download SmolLM2 (asked for by you)"):
        activity.record("huggingface.co", 443)
    activity.record("203.0.113.9", 80)
    busy = NetworkActivityDialog(activity)
    qtbot.addWidget(busy)
    assert busy.table.rowCount() == 2
    why = busy.table.item(0, 3)
    assert why is not None and why.text() == "Download SmolLM2 (asked for by you)"
    assert "1 not asked for by any feature" in busy.summary.text()


def test_a_10_mb_paste_is_attached_counted_and_refused_without_freezing(
    qtbot: QtBot, make_window: WindowFactory, core: Core
) -> None:
    from PySide6.QtCore import QMimeData, QTimer

    window = make_window()
    conv = core.conversations.create(title="Keep")
    window.refresh_conversations()
    settle(qtbot, window)
    window.sidebar.select_row(0)
    settle(qtbot, window)
    ticks: list[int] = []
    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(lambda: ticks.append(1))
    probe.start()
    huge = "All work and no play makes Jack a dull boy. " * 230_000  # 10 MB
    mime = QMimeData()
    mime.setText(huge)
    window.composer.setFocus()
    window.composer.insertFromMimeData(mime)
    assert window.composer.toPlainText() == ""  # not laid out in the box
    assert window.attachment_bar.isVisible() and window.attachment == huge
    before = len(ticks)
    qtbot.waitUntil(lambda: "longer than the whole" in window.token_label.text(), timeout=30_000)
    assert len(ticks) > before  # the event loop kept running while it was counted
    assert "more than" in window.token_label.text()
    assert "tokens" in window.attachment_label.text()
    qtbot.keyClicks(window.composer, "Summarize this:")
    with qtbot.waitSignal(window.controller.reply_failed, timeout=30_000):
        qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    probe.stop()
    assert "too long for the context" in window.notice.text()
    assert core.conversations.all_messages(conv.id) == []  # nothing stored
    assert window.composer.toPlainText() == "Summarize this:"  # nothing lost either
    assert window.attachment == huge
    qtbot.mouseClick(window.attachment_remove, Qt.MouseButton.LeftButton)
    assert not window.attachment_bar.isVisible()
    qtbot.waitUntil(lambda: "· context" in window.token_label.text(), timeout=30_000)


def test_any_unicode_reaches_the_model_as_valid_text(
    qtbot: QtBot, make_window: WindowFactory, core: Core
) -> None:
    window = make_window()
    small_params(window, max_tokens=8)
    awkward = "Say hi \u202eשלום\u202c 👩‍👩‍👧 a\x00b \ud83d end"
    window.composer.setPlainText(awkward)
    with qtbot.waitSignal(window.controller.reply_finished, timeout=120_000):
        qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    conv = window.current_conversation
    assert conv is not None
    user, reply = core.conversations.active_path(conv)[-2:]
    # Qt drops the lone surrogate on its way into the box; our storage would replace it.
    assert user.content.replace("\ufffd", "") == awkward.replace("\ud83d", "")
    user.content.encode("utf-8")
    assert reply.status is MessageStatus.COMPLETE


def test_an_uncaught_exception_shows_a_dialog_naming_the_log_and_the_app_goes_on(
    qtbot: QtBot, make_window: WindowFactory, paths: AppPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from PySide6.QtWidgets import QMessageBox

    from desktopchat.ui.application import install_excepthook

    window = make_window(wait_for_model=False)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    install_excepthook(window, paths)
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    box = window.findChild(QMessageBox, "uncaught-exception")
    assert box is not None and box.isVisible() and not box.isModal()
    assert str(paths.logs / "desktopchat.log") in box.informativeText()
    assert "RuntimeError" in box.text() and "RuntimeError" in window.notice.text()
    box.close()
    window.open_conversation(None)  # still working
    assert window.isVisible()
