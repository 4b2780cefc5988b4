"""Conversation features on the real window, offscreen, with real llama.cpp and SQLite:
edit and branch navigation, regenerate, continue, delete and undo, copy, the prompt
inspector, overflow policies, list features, search and jump, presets, export and
import, keyboard shortcuts, accessibility, themes and zoom."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

from desktopchat.core.chat import Conversation, GenerationParams, Message, MessageStatus, Role
from desktopchat.core.presets import Preset
from desktopchat.core.session import Core
from desktopchat.ui import theme
from desktopchat.ui.chat_view import MessageWidget
from desktopchat.ui.inspector import PromptInspector
from desktopchat.ui.main_window import MainWindow
from desktopchat.ui.presets_dialog import PresetsDialog
from desktopchat.ui.search_dialog import SearchDialog
from tests.ui.conftest import WindowFactory, settle

pytestmark = pytest.mark.real_model


def small_params(window: MainWindow, **changes: object) -> None:
    params = GenerationParams(n_ctx=2048, n_threads=2, max_tokens=48, temperature=0.0, seed=5)
    window.settings_panel.set_params(params.with_changes(**changes))
    window.settings_panel.on_timer_timeout()


def send(qtbot: QtBot, window: MainWindow, text: str) -> None:
    window.composer.setPlainText(text)
    with qtbot.waitSignal(window.controller.reply_finished, timeout=120_000):
        qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    settle(qtbot, window)


def menu_action(widget: MessageWidget, text: str) -> QAction:
    widget.on_menu_about_to_show()
    return next(a for a in widget.menu_button.menu().actions() if a.text() == text)


def run(qtbot: QtBot, window: MainWindow, action: QAction) -> None:
    with qtbot.waitSignal(window.controller.reply_finished, timeout=120_000):
        action.trigger()
    settle(qtbot, window)


def texts(window: MainWindow) -> list[str]:
    return [w.text for w in window.chat_view.messages()]


def test_edit_branch_regenerate_continue_delete_copy_inspect(
    qtbot: QtBot, make_window: WindowFactory, core: Core
) -> None:
    window = make_window()
    small_params(window, max_tokens=6)
    send(qtbot, window, "Say hello to me.")
    first = window.chat_view.messages()[1]
    assert first.finish_reason == "length" and first.resumable  # the token limit cut it
    assert not first.actions_row.isHidden()
    cut_text = first.text

    # Continue (Ctrl+E) goes on from where it stopped, in the same message.
    small_params(window, max_tokens=12)
    run(qtbot, window, window.actions_by_name["continue"])
    continued = window.chat_view.messages()[1]
    assert continued.message_id == first.message_id
    assert continued.text.startswith(cut_text) and len(continued.text) > len(cut_text)

    # Regenerate (Ctrl+R): a new answer, the old one kept as version 1 of 2.
    small_params(window, max_tokens=12, temperature=1.5, seed=77)
    run(qtbot, window, window.actions_by_name["regenerate"])
    answer = window.chat_view.messages()[1]
    assert answer.message_id != first.message_id and answer.version == (2, 2)
    assert answer.versions is not None and answer.versions[1].text() == "2/2"
    regenerated = answer.text
    qtbot.mouseClick(answer.versions[0], Qt.MouseButton.LeftButton)  # ‹
    settle(qtbot, window)
    assert texts(window) == ["Say hello to me.", continued.text]
    assert window.chat_view.messages()[1].version == (1, 2)

    # Edit the question: a new version of it, with its own answer; ‹ › on the question
    # switches the whole branch below it.
    question = window.chat_view.messages()[0]
    menu_action(question, "Edit and resend").trigger()
    settle(qtbot, window)
    assert window.composer.toPlainText() == "Say hello to me." and window.edit_bar.isVisible()
    small_params(window, max_tokens=8, temperature=0.0)
    send(qtbot, window, "Say goodbye to me.")
    assert not window.edit_bar.isVisible()
    edited = window.chat_view.messages()
    assert edited[0].text == "Say goodbye to me." and edited[0].version == (2, 2)
    assert edited[1].version == (1, 1)
    edited_answer = edited[1].text
    qtbot.mouseClick(edited[0].versions[0], Qt.MouseButton.LeftButton)  # type: ignore[index]
    settle(qtbot, window)
    back = window.chat_view.messages()
    assert back[0].text == "Say hello to me." and back[0].version == (1, 2)
    assert back[1].text == regenerated and back[1].version == (2, 2)  # the newest there
    qtbot.mouseClick(back[0].versions[2], Qt.MouseButton.LeftButton)  # type: ignore[index]
    settle(qtbot, window)
    assert texts(window) == ["Say goodbye to me.", edited_answer]
    conversation = window.current_conversation
    assert conversation is not None
    assert len(core.conversations.all_messages(conversation)) == 5  # nothing lost

    # Delete a message and what is below it, then undo.
    qtbot.mouseClick(window.chat_view.messages()[0].versions[0], Qt.MouseButton.LeftButton)  # type: ignore[index]
    settle(qtbot, window)
    menu_action(window.chat_view.messages()[1], "Delete…").trigger()
    settle(qtbot, window)
    assert texts(window) == ["Say hello to me.", continued.text]  # the remaining version
    assert window.action_bar.isVisible() and window.action_label.text() == "Deleted 1 message."
    window.action_buttons[0].click()  # Undo
    settle(qtbot, window)
    assert texts(window) == ["Say hello to me.", regenerated]
    assert len(core.conversations.all_messages(conversation)) == 5
    menu_action(window.chat_view.messages()[0], "Delete…").trigger()  # the question: 3 go
    settle(qtbot, window)
    assert window.action_label.text() == "Deleted 3 messages."
    assert texts(window) == ["Say goodbye to me.", edited_answer]
    window.action_buttons[0].click()  # Undo: back, on the branch shown before
    settle(qtbot, window)
    assert len(core.conversations.all_messages(conversation)) == 5
    assert texts(window) == ["Say hello to me.", regenerated]

    # Copy as Markdown or as plain text.
    notes = core.conversations.create(title="Notes")
    core.conversations.add_message(
        notes.id, Role.ASSISTANT, "**Bold** and `code`\n\n- one\n- two", parent_id=None
    )
    window.open_conversation(notes.id)
    settle(qtbot, window)
    reply = window.chat_view.messages()[0]
    menu_action(reply, "Copy as Markdown").trigger()
    settle(qtbot, window)
    assert QGuiApplication.clipboard().text() == "**Bold** and `code`\n\n- one\n- two"
    menu_action(reply, "Copy as plain text").trigger()
    settle(qtbot, window)
    plain = QGuiApplication.clipboard().text()
    assert "Bold and code" in plain and "**" not in plain and "`" not in plain

    # The inspector shows exactly what the model received for an answer.
    window.open_conversation(conversation)
    settle(qtbot, window)
    last = window.chat_view.messages()[1]
    menu_action(last, "Show the prompt…").trigger()
    settle(qtbot, window)
    inspector = window.dialogs["inspector"]
    assert isinstance(inspector, PromptInspector)
    stored = core.conversations.get_message(last.message_id)
    record = core.conversations.prompt_for(last.message_id)
    assert record is not None and stored.stats is not None
    assert inspector.prompt.toPlainText() == record.text
    assert "<|im_start|>user\nSay hello to me.<|im_end|>" in record.text
    assert record.text.endswith("<|im_start|>assistant\n")
    assert record.n_tokens == stored.stats.prompt_tokens
    assert record.model == stored.model and record.params.max_tokens == 12
    summary = inspector.summary.text()
    for part in ("tokens/s", "First token", "Stop reason", "max new tokens 12", "seed 77"):
        assert part in summary
    assert window.last_announcement.startswith("Reply complete:")
    inspector.close()


def filler(i: int) -> str:
    return (
        f"OLD-{i}: the lighthouse keeper counted {i} ships passing the rocky northern cape "
        "while the fog rolled over the harbour and the gulls kept crying about the weather."
    )


def test_overflow_policies_shape_the_prompt_and_are_marked_in_the_view(
    qtbot: QtBot, make_window: WindowFactory, core: Core
) -> None:
    window = make_window()
    repo = core.conversations
    params = GenerationParams(
        n_ctx=512,
        n_threads=2,
        max_tokens=24,
        temperature=0.0,
        system_prompt="SYSTEM-KEEP: answer briefly.",
        overflow="stop",
    )
    conversation = repo.create(params=params)
    parent = None
    for i in range(16):  # about 40 tokens each: far more than 512 - 24
        role = Role.USER if i % 2 == 0 else Role.ASSISTANT
        parent = repo.add_message(conversation.id, role, filler(i), parent_id=parent).id
    window.refresh_conversations()
    settle(qtbot, window)
    window.open_conversation(conversation.id)
    settle(qtbot, window)
    before = len(repo.all_messages(conversation.id))

    # Stop and ask: nothing is sent or stored, the message stays, the choices are offered.
    window.composer.setPlainText("What did the keeper count?")
    with qtbot.waitSignal(window.controller.reply_failed, timeout=120_000):
        qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    assert "no longer fits" in window.notice.text()
    assert len(repo.all_messages(conversation.id)) == before
    assert window.composer.toPlainText() == "What did the keeper count?"
    assert [b.text() for b in window.action_buttons] == [
        "Leave out the oldest turns",
        "Summarize them",
    ]

    # Drop: the oldest turns are left out, the system prompt stays, the view says where.
    with qtbot.waitSignal(window.controller.reply_finished, timeout=120_000):
        window.action_buttons[0].click()
    settle(qtbot, window)
    assert repo.get(conversation.id).params.overflow == "drop"
    answer = window.chat_view.messages()[-1]
    record = repo.prompt_for(answer.message_id)
    assert record is not None and record.dropped_messages > 0 and not record.summary
    assert record.text.startswith("<|im_start|>system\nSYSTEM-KEEP")
    assert "What did the keeper count?" in record.text and filler(0) not in record.text
    assert filler(15) in record.text
    assert record.n_tokens <= 512 - 24
    mark = window.chat_view.cut_mark
    path = repo.active_path(conversation.id)
    assert mark is not None and mark[0] == path[record.dropped_messages].id
    assert f"The {record.dropped_messages} messages above are no longer" in mark[1]
    assert "left out of the prompt" in window.notice.text()
    system, history, reply, n_ctx = window.context_meter.usage
    assert n_ctx == 512 and system > 0 and history > 0 and reply > 0
    assert system + history == record.n_tokens
    # Reopened later, the view still marks the cut.
    window.open_conversation(None)
    settle(qtbot, window)
    window.open_conversation(conversation.id)
    settle(qtbot, window)
    assert window.chat_view.cut_mark == mark
    marked = window.chat_view.message_widget(mark[0])
    assert marked is not None or window.chat_view.unbuilt > 0

    # Summarize: the oldest turns become a summary the model writes, stored and reused.
    small = params.with_changes(overflow="summarize")
    window.settings_panel.set_params(small)
    window.settings_panel.on_timer_timeout()
    send(qtbot, window, "And what about the fog?")
    answer = window.chat_view.messages()[-1]
    record = repo.prompt_for(answer.message_id)
    assert record is not None and record.summarized_messages > 0 and record.summary
    assert "Summary of the earlier conversation:\n" + record.summary in record.text
    assert record.text.startswith("<|im_start|>system\nSYSTEM-KEEP")
    assert filler(0) not in record.text and "And what about the fog?" in record.text
    assert record.n_tokens <= 512 - 24
    mark = window.chat_view.cut_mark
    assert mark is not None and "as a summary" in mark[1]
    assert "as a summary the model wrote" in window.notice.text()
    stats = repo.get_message(answer.message_id).stats
    assert stats is not None and stats.summarized_messages == record.summarized_messages
    # The next reply reuses the stored summary while the rest fits, else summarizes
    # further (the summary so far plus the next oldest turns): never the same turns twice.
    send(qtbot, window, "Thanks.")
    again = repo.prompt_for(window.chat_view.messages()[-1].message_id)
    assert again is not None and again.summarized_messages >= record.summarized_messages
    if again.summarized_messages == record.summarized_messages:
        assert again.summary == record.summary
    assert again.n_tokens <= 512 - 24


def test_list_search_presets_export_import_keyboard_and_look(
    qtbot: QtBot,
    make_window: WindowFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    core: Core,
) -> None:
    window = make_window()
    repo = core.conversations
    now = time.time()

    # Date groups and pins: an old conversation (with a long history), then a new chat.
    old_messages = [
        Message(
            i + 1,
            0,
            i or None,
            Role.USER if i % 2 == 0 else Role.ASSISTANT,
            f"Old message {i} about " + ("zebras" if i == 0 else "nothing much"),
            MessageStatus.COMPLETE,
            now - 3 * 86400 + i,
        )
        for i in range(60)
    ]
    old = repo.restore(
        Conversation(0, "Old chat", now - 3 * 86400, now - 3 * 86400, 60), old_messages
    )
    small_params(window, max_tokens=16)
    send(qtbot, window, "What is the capital of France?")
    new = window.current_conversation
    assert new is not None
    # An automatic title from the model, off the GUI thread, after the first exchange.
    qtbot.waitUntil(lambda: repo.get(new).title_source == "model", timeout=60_000)
    qtbot.waitUntil(lambda: window.sidebar.title(0) == repo.get(new).title, timeout=10_000)
    assert window.sidebar.groups() == ["Today", "Previous 7 days"]
    assert window.sidebar.ids() == [new, old]
    window.sidebar.select_row(1)
    settle(qtbot, window)
    window.sidebar._pin_action.trigger()
    settle(qtbot, window)
    assert window.sidebar.groups() == ["Pinned", "Today"] and window.sidebar.ids() == [old, new]
    monkeypatch.setattr(window, "ask_text", lambda *_: "My own title")
    window.sidebar.select_row(1)
    settle(qtbot, window)
    window.sidebar.on_rename_triggered()
    settle(qtbot, window)
    assert repo.get(new).title_source == "user"
    assert not repo.set_auto_title(new, "Model title")  # never replaces the user's

    # Search: highlighted snippets, both orders; choosing opens the message, scrolled to.
    window.actions_by_name["search"].trigger()
    search = window.dialogs["search"]
    assert isinstance(search, SearchDialog)
    qtbot.keyClicks(search.query, "zebras")
    qtbot.waitUntil(lambda: len(search.hits) == 1, timeout=5000)
    label = search.results.itemWidget(search.results.item(0))
    assert isinstance(label, QLabel) and "<b><u>zebras</u></b>" in label.text()
    search.order.setCurrentIndex(1)  # best match first
    qtbot.waitUntil(lambda: not search.searching, timeout=60_000)
    assert [h.message_id for h in search.hits] == [repo.all_messages(old)[0].id]
    window.open_conversation(new)
    settle(qtbot, window)
    qtbot.keyClick(search.results, Qt.Key.Key_Return)
    settle(qtbot, window)
    first_id = repo.all_messages(old)[0].id
    assert window.current_conversation == old
    found = window.chat_view.message_widget(first_id)
    assert found is not None and found.objectName() == "message-found"
    qtbot.waitUntil(lambda: not found.visibleRegion().isEmpty(), timeout=5000)

    # Export and import through the window: a lossless round trip.
    out = tmp_path / "export.json"
    monkeypatch.setattr(window.transfer, "ask_export_path", lambda *_: (str(out), "json"))
    window.actions_by_name["export_chat"].trigger()
    qtbot.waitUntil(out.exists, timeout=10_000)
    assert json.loads(out.read_text(encoding="utf-8"))["conversations"][0]["title"] == "Old chat"
    monkeypatch.setattr(window.transfer, "ask_import_path", lambda: str(out))
    window.actions_by_name["import_chats"].trigger()
    qtbot.waitUntil(lambda: len(window.sidebar.ids()) == 3, timeout=10_000)
    copy = window.current_conversation
    assert copy is not None and copy not in (old, new)
    fields = [(m.role, m.content, m.created_at) for m in repo.all_messages(old)]
    assert [(m.role, m.content, m.created_at) for m in repo.all_messages(copy)] == fields
    html_out = tmp_path / "all.html"
    monkeypatch.setattr(window.transfer, "ask_export_path", lambda *_: (str(html_out), "html"))
    window.actions_by_name["export_all"].trigger()
    qtbot.waitUntil(html_out.exists, timeout=10_000)
    assert "<script" not in html_out.read_text(encoding="utf-8")

    # Presets: five shipped; choosing one sets the chat's prompt, sampling and examples.
    panel = window.settings_panel
    names = [panel.preset.itemText(i) for i in range(1, panel.preset.count())]
    assert names == [
        "General assistant",
        "Translator",
        "Summarizer",
        "Code helper",
        "JSON extractor",
    ]
    panel.preset.setCurrentIndex(5)
    panel.preset.activated.emit(5)
    settle(qtbot, window)
    chosen = repo.get(copy).params
    assert chosen.json_mode and chosen.temperature == 0.0 and len(chosen.examples) == 1
    assert panel.examples.toPlainText().startswith("User: Anna Berg")
    monkeypatch.setattr(window, "ask_text", lambda *_: "Pirate")
    panel.system_prompt.setPlainText("You are a pirate.")
    panel.on_timer_timeout()
    panel.save_preset.click()
    settle(qtbot, window)
    dialog = window.show_presets()
    settle(qtbot, window)
    assert isinstance(dialog, PresetsDialog)
    assert [p.name for p in dialog.presets][-1] == "Pirate"
    dialog.list.setCurrentRow(len(dialog.presets) - 1)
    file = tmp_path / "pirate.json"
    monkeypatch.setattr(dialog, "save_path", lambda _name: str(file))
    dialog.buttons["Export…"].click()
    dialog.buttons["Delete"].click()
    settle(qtbot, window)
    assert "Pirate" not in [p.name for p in dialog.presets]
    monkeypatch.setattr(dialog, "open_path", lambda: str(file))
    dialog.buttons["Import…"].click()
    settle(qtbot, window)
    imported: Preset = dialog.presets[-1]
    assert imported.name == "Pirate" and imported.params.system_prompt == "You are a pirate."
    assert imported.params.json_mode and imported.params.examples == chosen.examples
    dialog.close()

    # Keyboard: the shortcuts work, and the help lists them.
    window.raise_()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    assert window.sidebar.ids() == [old, new, copy]  # pinned, today, 3 days ago
    qtbot.keyClick(window.composer, Qt.Key.Key_PageUp, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, window)
    assert window.current_conversation == new
    qtbot.keyClick(window.composer, Qt.Key.Key_PageDown, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, window)
    assert window.current_conversation == copy
    qtbot.keyClick(window.sidebar.list, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert window.composer.hasFocus()
    qtbot.keyClick(window.composer, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.current_conversation is None
    qtbot.keyClick(window.composer, Qt.Key.Key_F1)
    help_rows = window.dialogs["shortcuts"].table
    listed = {
        help_rows.item(r, 0).text(): help_rows.item(r, 1).text()
        for r in range(help_rows.rowCount())
    }
    for action in (
        "New chat",
        "Search conversations",
        "Stop the reply (or cancel an edit)",
        "Regenerate the last answer",
        "Focus the message box",
        "Next conversation",
        "Previous conversation",
    ):
        assert listed[action]
    window.dialogs["shortcuts"].close()

    # Every control has an accessible name and takes keyboard focus.
    window.open_conversation(copy)
    settle(qtbot, window)
    controls = (QAbstractButton, QLineEdit, QComboBox, QAbstractSpinBox, QPlainTextEdit, QListView)
    unnamed = [
        f"{type(w).__name__} {w.objectName()!r} in {type(w.parent()).__name__} {w.toolTip()!r}"
        for w in window.findChildren(QWidget)
        if isinstance(w, controls)
        and not w.accessibleName()
        and not (isinstance(w, QAbstractButton) and w.text().strip())
        and w.isVisibleTo(window)
        and w.window() is window
        # Qt's own parts: spin box and combo box editors, line edit clear buttons, the
        # menu bar's overflow button (Qt names them for assistive technology itself)
        and not isinstance(w.parent(), QAbstractSpinBox | QComboBox | QLineEdit)
        and not w.objectName().startswith("qt_")
    ]
    assert unnamed == [], "\n".join(unnamed)
    unfocusable = [
        w.accessibleName() or w.text()
        for w in window.findChildren(QAbstractButton)
        if not w.focusPolicy() & Qt.FocusPolicy.TabFocus and w.isVisibleTo(window)
    ]
    assert unfocusable == []

    # Light and dark themes, and zoom, kept in the settings.
    window.set_theme("dark")
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    assert app.palette().window().color().name() == theme.Theme.dark().window
    window.actions_by_name["zoom_in"].trigger()
    assert app.font().pointSizeF() == theme.BASE_POINT_SIZE + 1
    window.close()
    reopened = make_window(wait_for_model=False)
    assert reopened.settings.theme == "dark" and reopened.settings.zoom == 1
    reopened.zoom(0)
    reopened.set_theme("light")
    assert app.palette().window().color().name() == theme.Theme.light().window
    assert app.font().pointSizeF() == theme.BASE_POINT_SIZE
