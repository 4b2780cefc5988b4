"""Single files attached to a chat in the real window, offscreen, with the real library
(its own threads, the built-in embedder in an engine process) and SmolLM2 answering.

Attach a file from disk (it goes into the "Attached files" collection), see the bar say
so, ask "summarize this report" and get its whole text; drop a file on the composer;
pick one file of a collection; take an attachment off. The chat model picker leaves
embedding models out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from desktopchat.core.documents.api import ATTACHED_COLLECTION
from desktopchat.core.documents.types import FileState
from desktopchat.core.inference.service import ReplyResult
from desktopchat.core.paths import AppPaths
from desktopchat.ui.collection_file_picker import CollectionFilePicker
from desktopchat.ui.main_window import MainWindow
from desktopchat.ui.window.composer import local_files
from desktopchat.ui.window.documents import attached_summary
from tests.ui.conftest import WindowFactory, settle

pytestmark = pytest.mark.real_model

TIMEOUT_MS = 180_000  # hang guards, not speed limits
REPORT = (
    "# Quarterly report\n\n"
    "Revenue of the Harbour Bakery grew by eleven percent in the third quarter. The new "
    "rye loaf sold best; flour prices rose, so margins stayed flat.\n"
)


def menu_action(window: MainWindow, text: str) -> QAction:
    """The documents bar's Attach file menu, as it is about to show, and its action."""
    menu = window.documents_bar.attach.menu()
    menu.aboutToShow.emit()
    found = [a for a in menu.actions() if a.text() == text]
    assert found, [a.text() for a in menu.actions()]
    return found[0]


def drop_on(widget: QWidget, mime: QMimeData) -> bool:
    point = QPointF(widget.rect().center())
    actions = Qt.DropAction.CopyAction
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(point.toPoint(), actions, mime, buttons, keys)
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    event = QDropEvent(point, actions, mime, buttons, keys)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def files_mime(paths: list[Path]) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def test_the_bar_says_what_is_attached() -> None:
    assert (
        attached_summary(["report.pdf"], ["Manuals"]) == "Answers from report.pdf and 1 collection"
    )
    assert attached_summary(["a.md", "b.md"], []) == "Answers from a.md and b.md"
    assert (
        attached_summary(["a", "b", "c", "d", "e"], ["X", "Y"])
        == "Answers from a, b, c, 2 more files and 2 collections"
    )
    assert attached_summary([], ["Manuals"]) == "Answers from your documents: Manuals"
    assert attached_summary([], []).startswith("No documents attached")
    web = QMimeData()
    web.setUrls([QUrl("https://example.com/report.pdf")])
    assert local_files(web) == []  # a web link is not a file to attach
    web.setText("just text")
    assert local_files(web) == []


def test_attach_a_file_from_disk_summarize_it_and_take_it_off(
    qtbot: QtBot, make_window: WindowFactory, tmp_path: Path
) -> None:
    report = tmp_path / "report.md"
    report.write_text(REPORT, encoding="utf-8")
    window = make_window()
    panel = window.settings_panel
    window.documents.choose_files = lambda: [report]
    menu_action(window, "Attach a file from disk…").trigger()
    qtbot.waitUntil(lambda: len(panel.attached_files) == 1, timeout=TIMEOUT_MS)
    # Read in the background; the bar says so until it is, then names the file.
    qtbot.waitUntil(
        lambda: (
            window.documents_bar.label.text().startswith("Answers from report.md")
            and "(indexing)" not in window.documents_bar.label.text()
        ),
        timeout=TIMEOUT_MS,
    )
    assert panel.attached.text() == "report.md"
    assert panel.params().document_files == panel.attached_files
    # It is in the library like any other file: the "Attached files" collection.
    qtbot.waitUntil(
        lambda: [c.name for c in window.documents.collections] == [ATTACHED_COLLECTION],
        timeout=TIMEOUT_MS,
    )

    panel.max_tokens.setValue(16)
    panel.n_ctx.setValue(1024)
    panel.temperature.setValue(0.0)
    window.composer.setPlainText("Summarize this report.")
    ended: list[object] = []
    window.controller.reply_finished.connect(ended.append)
    window.controller.reply_failed.connect(ended.append)
    qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(ended), timeout=TIMEOUT_MS)
    settle(qtbot, window)
    result = ended[0]
    assert isinstance(result, ReplyResult), (result, window.notice.text())
    widget = window.chat_view.message_widget(result.assistant_message_id)
    assert widget is not None and widget.sources is not None
    use = widget.sources.use
    assert use.whole and use.file_ids == panel.attached_files  # the whole text was sent
    assert [s.name for s in use.sources] == ["report.md"]
    assert window.context_meter.documents > 0

    # The chat keeps it: shown again when the conversation is opened again.
    conversation = window.current_conversation
    assert conversation is not None
    window.open_conversation(None)
    settle(qtbot, window)
    assert panel.attached_files == ()
    window.open_conversation(conversation)
    settle(qtbot, window)
    assert len(panel.attached_files) == 1
    qtbot.waitUntil(lambda: panel.attached.text() == "report.md", timeout=TIMEOUT_MS)

    # Taken off from the bar's menu (a checked item: unchecking it).
    off = menu_action(window, "report.md")
    assert off.isChecked()
    off.trigger()
    assert panel.attached_files == ()
    assert window.documents_bar.label.text().startswith("No documents attached")
    panel.flush()  # saved: opened again, the chat has no file attached
    settle(qtbot, window)
    window.open_conversation(None)
    settle(qtbot, window)
    window.open_conversation(conversation)
    settle(qtbot, window)
    assert panel.attached_files == () and panel.attached.text() == "none"


def test_drop_a_file_on_the_composer_and_pick_one_file_of_a_collection(
    qtbot: QtBot, make_window: WindowFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "manuals"
    folder.mkdir()
    (folder / "warranty.md").write_text("# Warranty\n\nFive years.\n", encoding="utf-8")
    (folder / "setup.md").write_text("# Setup\n\nFill the tank.\n", encoding="utf-8")
    notes = tmp_path / "notes.txt"
    notes.write_text("Buy flour.\n", encoding="utf-8")
    window = make_window()  # the message box takes drops once a model is ready
    panel = window.settings_panel
    library = window.services.documents
    assert library is not None

    # A file dropped on the message box is attached (not pasted as text).
    assert drop_on(window.composer.viewport(), files_mime([notes]))
    qtbot.waitUntil(lambda: len(panel.attached_files) == 1, timeout=TIMEOUT_MS)
    assert window.composer.toPlainText() == ""
    # A folder is refused with a word on collections.
    assert drop_on(window.composer.viewport(), files_mime([folder]))
    qtbot.waitUntil(lambda: "is a folder" in window.notice.text(), timeout=TIMEOUT_MS)
    assert len(panel.attached_files) == 1

    # One file of a collection.
    manuals = library.create_collection("Manuals")  # the test's own setup, off the window
    library.add_paths(manuals.id, [folder])
    assert library.wait(120)
    window.documents.refresh_collections()
    qtbot.waitUntil(
        lambda: "Manuals" in [c.name for c in window.documents.collections], timeout=TIMEOUT_MS
    )
    picker = window.documents.attach_from_collection()
    assert isinstance(picker, CollectionFilePicker)
    picker.collection.setCurrentIndex(picker.collection.findText("Manuals"))
    qtbot.waitUntil(lambda: picker.pending == 0 and picker.list.count() == 2, timeout=TIMEOUT_MS)
    picker.filter.setText("setup")
    assert picker.list.count() == 1 and picker.list.item(0).text() == "setup.md"
    picker.list.item(0).setSelected(True)
    picker.accept()
    assert len(panel.attached_files) == 2
    chosen = next(f for f in library.files(manuals.id) if f.path.name == "setup.md")
    assert panel.attached_files[1] == chosen.id
    assert chosen.state is FileState.INDEXED
    qtbot.waitUntil(
        lambda: window.documents_bar.label.text().startswith("Answers from notes.txt and setup.md"),
        timeout=TIMEOUT_MS,
    )
    assert panel.params().document_files == panel.attached_files
    assert panel.params().documents == ()  # the collection itself is not attached

    # The Attached files collection deleted (in the Documents window): the bar says so.
    attached = next(c for c in window.documents.collections if c.name == ATTACHED_COLLECTION)
    library.delete_collection(attached.id)
    window.documents.refresh_collections()
    qtbot.waitUntil(
        lambda: window.documents_bar.label.text().startswith(
            "Answers from a removed file and setup.md"
        ),
        timeout=TIMEOUT_MS,
    )


def test_the_chat_model_picker_leaves_embedding_models_out(
    qtbot: QtBot, make_window: WindowFactory, paths: AppPaths, embedder_model: Path
) -> None:
    paths.models.mkdir(parents=True, exist_ok=True)
    installed = paths.models / "all-MiniLM-L6-v2.gguf"
    shutil.copyfile(embedder_model, installed)
    window = make_window()
    picker = window.model_picker
    labels = [picker.itemText(i) for i in range(picker.count())]
    assert labels and not any("MiniLM" in label for label in labels), labels
    controls = window.model_controls
    assert [m.path for m in controls.embedding_models] == [installed]
    assert all(m.path != installed for m in controls.models)
    # "Use in chat" from the model manager: refused, with the reason.
    controls.use_model(installed)
    assert "embedding model" in window.notice.text()
    assert window.controller.loaded is not None
    assert window.controller.loaded.config.path != installed
