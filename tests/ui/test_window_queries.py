"""The window's parts on the database thread, without a model: search answers that arrive
out of date are dropped, ChatGPT's .zip export is imported through the window's dialog,
and the notices a reply's start gives (a system prompt folded into the first turn)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktopchat.core.chat import Message, MessageStatus, Role
from desktopchat.core.inference.service import ReplyStarted
from desktopchat.core.session import Core
from desktopchat.core.storage.repositories import SearchHit
from desktopchat.ui.search_dialog import Hits, SearchDialog
from desktopchat.ui.window.replies import started_notes
from desktopchat.ui.window.transfer import IMPORT_FILTER
from tests.ui.conftest import WindowFactory, settle

EXPORT = Path(__file__).parent.parent / "data" / "exchange"


def test_a_newer_search_replaces_an_older_ones_late_answer(qtbot: QtBot) -> None:
    asked: list[tuple[str, Hits]] = []
    dialog = SearchDialog(lambda text, _newest, answer: asked.append((text, answer)))
    qtbot.addWidget(dialog)
    dialog.query.setText("zeb")
    dialog.run_search()
    dialog.query.setText("zebras")
    dialog.run_search()
    assert [text for text, _ in asked] == ["zeb", "zebras"] and dialog.searching

    def hit(title: str) -> SearchHit:
        return SearchHit(1, 1, title, Role.USER, "", 0.0)

    asked[1][1]([hit("new")])  # the newer answer first ...
    asked[0][1]([hit("old"), hit("older")])  # ... then the older one, late: dropped
    assert [h.title for h in dialog.hits] == ["new"] and not dialog.searching
    assert dialog.status.text() == "1 results"


def test_enter_opens_the_first_hit_once_it_arrives(qtbot: QtBot) -> None:
    asked: list[Hits] = []
    dialog = SearchDialog(lambda _text, _newest, answer: asked.append(answer))
    qtbot.addWidget(dialog)
    chosen: list[SearchHit] = []
    dialog.hit_chosen.connect(chosen.append)
    dialog.query.setText("lighthouse")
    dialog.on_query_return_pressed()
    assert chosen == []  # nothing to open until the answer comes
    asked[-1]([SearchHit(3, 7, "Keeper", Role.ASSISTANT, "the [lighthouse]", 0.0)])
    assert [h.message_id for h in chosen] == [7]


def test_the_import_dialog_takes_a_chatgpt_zip(
    qtbot: QtBot,
    make_window: WindowFactory,
    core: Core,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "*.zip" in IMPORT_FILTER and "*.json" in IMPORT_FILTER
    export = tmp_path / "chatgpt-2026-11-30.zip"
    with zipfile.ZipFile(export, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("conversations-000.json", "conversations-001.json", "export_manifest.json"):
            archive.write(EXPORT / name, name)
    window = make_window(wait_for_model=False)
    monkeypatch.setattr(window.transfer, "ask_import_path", lambda: str(export))
    window.actions_by_name["import_chats"].trigger()
    qtbot.waitUntil(lambda: len(window.sidebar.ids()) > 0, timeout=60_000)
    settle(qtbot, window)
    stored = core.conversations.summaries("")
    assert sorted(window.sidebar.ids()) == sorted(s.id for s in stored)
    assert window.current_conversation in window.sidebar.ids()
    assert window.chat_view.messages()  # the first imported conversation is open


def test_a_folded_system_prompt_is_said_in_the_notice() -> None:
    def message(role: Role) -> Message:
        return Message(1, 1, None, role, "", MessageStatus.COMPLETE, 0.0)

    started = ReplyStarted(
        message(Role.USER),
        message(Role.ASSISTANT),
        prompt_tokens=20,
        dropped_messages=0,
        context_size=2048,
        template="the model's own",
        system_folded=True,
    )
    notes = " ".join(started_notes(started))
    assert "no system role" in notes and "first message" in notes
    plain = ReplyStarted(
        message(Role.USER), message(Role.ASSISTANT), 20, 0, 2048, "the model's own"
    )
    assert started_notes(plain) == []


def test_a_database_from_a_newer_version_is_refused_and_said(
    qtbot: QtBot, make_window: WindowFactory, core: Core
) -> None:
    import sqlite3

    from PySide6.QtWidgets import QMessageBox

    core.close()
    conn = sqlite3.connect(core.paths.database)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    window = make_window(wait_for_model=False)
    assert "newer" in window.notice.text()
    box = window.startup.failure_box
    assert isinstance(box, QMessageBox) and box.isVisible() and not box.isModal()
    assert "newer" in box.text()
    window.refresh_conversations()  # every later query says so too; the window stays up
    settle(qtbot, window)
    assert window.isVisible() and "newer" in window.notice.text()
    conn = sqlite3.connect(core.paths.database)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 999  # untouched
    finally:
        conn.close()


def test_the_documents_notices_are_said_as_the_reply_starts() -> None:
    """The service's notices (attached files still being indexed) reached ReplyStarted but
    the window's notice line left them out."""

    def message(role: Role) -> Message:
        return Message(1, 1, None, role, "", MessageStatus.COMPLETE, 0.0)

    still = "1 of 2 attached files are still being indexed: this answer uses what is indexed."
    started = ReplyStarted(
        message(Role.USER),
        message(Role.ASSISTANT),
        prompt_tokens=20,
        dropped_messages=0,
        context_size=2048,
        template="the model's own",
        notices=(still,),
    )
    assert started_notes(started) == [still]
