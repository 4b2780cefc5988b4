"""Documents in the real window, offscreen, with the real library: real files written
here (Markdown, text, PDF, a damaged PDF, an unsupported file), the real SQLite documents
database, the real built-in embedder and SmolLM2 answering.

Add a folder, watch its files' states in the table, attach the collection to a chat, ask,
see the Sources under the reply, open the preview (the passage highlighted), Open file;
drag and drop a folder; pause and resume; a failed file's reason; delete a collection."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktopchat.core.documents.types import FileState
from desktopchat.core.inference.service import ReplyResult
from desktopchat.ui.document_preview import DocumentPreview
from desktopchat.ui.documents.dialog import DocumentsDialog
from desktopchat.ui.inspector import PromptInspector
from desktopchat.ui.main_window import MainWindow
from tests.ui.conftest import WindowFactory, settle

pytestmark = pytest.mark.real_model

INDEXING_TIMEOUT_MS = 180_000  # hang guards, not speed limits
REPLY_TIMEOUT_MS = 180_000
FACT = "The Zephyr kettle carries a warranty period of 24 months from the date of delivery."


def write_documents(folder: Path) -> dict[str, Path]:
    """A small document set: Markdown with the fact, plain text, a two-page PDF, a long
    text (so that passages are retrieved, not the whole set), a damaged PDF and a file of
    a format nobody reads."""
    from fpdf import FPDF

    folder.mkdir(parents=True)
    files = {
        "notes": folder / "kettle-notes.md",
        "plain": folder / "shopping.txt",
        "pdf": folder / "manual.pdf",
        "long": folder / "history.txt",
        "broken": folder / "broken.pdf",
        "odd": folder / "figures.xyz",
    }
    files["notes"].write_text(
        "# Kettle notes\n\n## Warranty\n\n" + FACT + "\n\n## Cleaning\n\n"
        "Descale the kettle with citric acid once a month.\n",
        encoding="utf-8",
    )
    files["plain"].write_text("Buy oat milk, rye bread and green tea.\n", encoding="utf-8")
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Owner's manual. Page one is about unpacking the box.")
    pdf.add_page()
    pdf.multi_cell(0, 8, "Page two: fill the reservoir to the MAX line before heating.")
    pdf.output(str(files["pdf"]))
    topics = ("rivers", "bridges", "markets", "harbours", "mills", "roads", "orchards")
    paragraphs = [
        f"Chapter {i}. The town's {topics[i % len(topics)]} changed in year {1700 + i}; "
        f"records number {i * 37} describe the {topics[(i * 3) % len(topics)]} in detail."
        for i in range(300)
    ]
    files["long"].write_text("\n\n".join(paragraphs), encoding="utf-8")
    files["broken"].write_bytes(b"%PDF-1.4\n this is not really a PDF \x00\x01\x02")
    files["odd"].write_bytes(bytes(range(256)) * 8)
    return files


def open_documents(window: MainWindow) -> DocumentsDialog:
    dialog = window.show_documents()
    assert isinstance(dialog, DocumentsDialog) and dialog.isVisible()
    return dialog


def wait_answered(qtbot: QtBot, dialog: DocumentsDialog) -> None:
    qtbot.waitUntil(lambda: dialog.pending == 0, timeout=30_000)


def states(dialog: DocumentsDialog) -> dict[str, FileState]:
    return {f.path.name: f.state for f in dialog.model.files}


def wait_indexed(qtbot: QtBot, dialog: DocumentsDialog, count: int) -> None:
    """Until the table shows ``count`` files, none waiting or indexing, and the progress
    line says all is done (vectors included)."""

    def done() -> bool:
        shown = dialog.model.files
        final = (FileState.INDEXED, FileState.FAILED, FileState.SKIPPED)
        return (
            len(shown) == count
            and all(f.state in final for f in shown)
            and all(f.embedded == f.chunks for f in shown)
            and dialog.progress_line.text().startswith("All ")
        )

    qtbot.waitUntil(done, timeout=INDEXING_TIMEOUT_MS)


def new_collection(qtbot: QtBot, dialog: DocumentsDialog, name: str) -> None:
    dialog.ask_text = lambda *_: name  # type: ignore[method-assign]
    dialog.new_button.click()
    qtbot.waitUntil(
        lambda: dialog.current is not None and dialog.current.name == name, timeout=30_000
    )


def test_add_a_folder_ask_see_the_sources_and_preview_the_passage(
    qtbot: QtBot, make_window: WindowFactory, tmp_path: Path
) -> None:
    files = write_documents(tmp_path / "docs")
    window = make_window()
    dialog = open_documents(window)
    qtbot.waitUntil(lambda: dialog.embedder.text() != "Embedding model: …", timeout=30_000)
    assert "all-MiniLM-L6-v2" in dialog.embedder.text()
    new_collection(qtbot, dialog, "Kitchen")
    dialog.choose_folder = lambda: [tmp_path / "docs"]  # type: ignore[method-assign]
    dialog.add_folder_button.click()
    wait_indexed(qtbot, dialog, len(files))
    shown = {f.path.name: f for f in dialog.model.files}
    for key in ("notes", "plain", "pdf", "long"):
        assert shown[files[key].name].state is FileState.INDEXED, shown[files[key].name]
        assert shown[files[key].name].chunks > 0
    broken = shown["broken.pdf"]
    assert broken.state is FileState.FAILED and broken.reason
    row = dialog.model.row_of(files["broken"])
    assert row is not None
    assert dialog.model.cell(broken, 1) == f"failed: {broken.reason}"  # the reason is shown
    assert shown["figures.xyz"].state is FileState.SKIPPED
    assert dialog.progress_line.text().startswith(f"All {len(files)} files indexed")
    assert "(1 could not be read)" in dialog.progress_line.text()
    assert dialog.title.text().startswith("<b>Kitchen</b>")
    dialog.grab().save(str(tmp_path / "documents.png"))  # to look at when it fails

    # Attach the collection to a new chat: the settings panel and the bar above the
    # composer say so.
    panel = window.settings_panel
    qtbot.waitUntil(lambda: bool(window.documents.collections), timeout=10_000)
    collection = window.documents.collections[0]
    panel.set_attached(collection.id, attached=True)
    assert panel.attached.text() == "Kitchen"
    assert "Answers from your documents: Kitchen" in window.documents_bar.label.text()
    assert panel.params().documents == (collection.id,)
    panel.max_tokens.setValue(16)  # a short answer: the sources are what is checked
    panel.n_ctx.setValue(1024)  # the documents get a share of it: a short prompt to read
    panel.temperature.setValue(0.0)

    window.composer.setPlainText("What is the warranty period of the Zephyr kettle?")
    ended: list[object] = []
    window.controller.reply_finished.connect(ended.append)
    window.controller.reply_failed.connect(ended.append)
    read: list[tuple[int, int]] = []
    window.controller.prompt_progress.connect(lambda d, t: read.append((d, t)))
    qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    try:
        qtbot.waitUntil(lambda: bool(ended), timeout=REPLY_TIMEOUT_MS)
    except Exception as exc:
        said = window.notice.text()
        raise AssertionError(f"no reply: prompt read {read[-3:]}, {said!r}") from exc
    settle(qtbot, window)
    result = ended[0]
    assert isinstance(result, ReplyResult), (result, window.notice.text())
    widget = window.chat_view.message_widget(result.assistant_message_id)
    assert widget is not None and widget.sources is not None
    use = widget.sources.use
    assert not use.whole and use.sources  # the long file does not fit: passages retrieved
    words = widget.sources.plain_text()
    assert words.startswith("Sources: ") and "passages retrieved" in words
    best = use.sources[0]
    assert best.name == files["notes"].name and "Kettle notes" in best.anchor
    assert FACT in best.text
    assert f"[1] {files['notes'].name} · " in words
    assert window.context_meter.documents > 0
    assert "documents" in window.context_meter.text()

    # The preview: the file's text with the passage highlighted and scrolled to.
    opened: list[Path] = []
    window.documents.opener = opened.append
    widget.sources.label.linkActivated.emit("source:0")
    preview = window.dialogs["preview"]
    assert isinstance(preview, DocumentPreview)
    qtbot.waitUntil(lambda: preview.preview is not None, timeout=30_000)
    assert FACT in preview.highlighted_text()
    assert "Descale" in preview.text.toPlainText()  # the text around the passage
    assert "Kettle notes" in preview.where.text()
    qtbot.waitUntil(preview.passage_visible, timeout=5000)
    preview.open_button.click()
    assert opened == [files["notes"]]
    preview.grab().save(str(tmp_path / "preview.png"))
    window.grab().save(str(tmp_path / "sources.png"))

    # The prompt inspector lists the passages with their ranks and scores.
    window.show_inspector(result.assistant_message_id)
    qtbot.waitUntil(lambda: isinstance(window.dialogs.get("inspector"), PromptInspector))
    inspector = window.dialogs["inspector"]
    assert isinstance(inspector, PromptInspector)
    assert inspector.passages.rowCount() == len(use.sources)

    # Opened again later (from the database), the reply still shows its sources.
    conversation = window.current_conversation
    window.open_conversation(None)
    settle(qtbot, window)
    window.open_conversation(conversation)
    settle(qtbot, window)
    again = window.chat_view.message_widget(result.assistant_message_id)
    assert again is not None and again.sources is not None
    assert [s.chunk_id for s in again.sources.use.sources] == [s.chunk_id for s in use.sources]
    assert panel.attached.text() == "Kitchen"  # the chat keeps its attachment


def drop(dialog: DocumentsDialog, paths: list[Path]) -> bool:
    """Drag ``paths`` over the dialog and drop them, as a file manager does."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    point = QPointF(dialog.rect().center())
    actions = Qt.DropAction.CopyAction
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(point.toPoint(), actions, mime, buttons, keys)
    QApplication.sendEvent(dialog, enter)
    if not enter.isAccepted():
        return False
    event = QDropEvent(point, actions, mime, buttons, keys)
    QApplication.sendEvent(dialog, event)
    return event.isAccepted()


def test_drop_a_folder_pause_and_resume_then_delete_the_collection(
    qtbot: QtBot, make_window: WindowFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "Recipes"
    folder.mkdir()
    for i in range(6):
        (folder / f"recipe-{i}.md").write_text(
            f"# Recipe {i}\n\nStir {i} spoons of sugar into the dough.\n", encoding="utf-8"
        )
    window = make_window(wait_for_model=False)
    dialog = open_documents(window)
    wait_answered(qtbot, dialog)
    assert dialog.current is None and "No collection yet" in dialog.title.text()
    # Pause first: what is dropped then waits, and the progress line says why.
    dialog.pause_button.click()
    assert dialog.pause_button.text() == "Resume"
    web = QMimeData()
    web.setUrls([QUrl("https://example.com/a.pdf")])
    assert not DocumentsDialog.accepts(web)  # only local files and folders are taken
    assert drop(dialog, [folder])
    # No collection yet: one named after the folder is made for it.
    qtbot.waitUntil(lambda: dialog.current is not None, timeout=30_000)
    assert dialog.current is not None and dialog.current.name == "Recipes"
    qtbot.waitUntil(lambda: "paused" in dialog.progress_line.text(), timeout=30_000)
    assert dialog.progress_line.text().startswith("Indexing: Files 0 of 6")
    assert "indexing paused" in window.documents_bar.label.text()
    dialog.pause_button.click()
    assert dialog.pause_button.text() == "Pause"
    wait_indexed(qtbot, dialog, 6)
    assert set(states(dialog).values()) == {FileState.INDEXED}

    # Remove a file; then delete the collection, after a question that says the text
    # goes and the files stay.
    dialog.table.selectRow(0)
    removed = dialog.model.files[0].path
    dialog.remove_button.click()
    # Inside a watched folder it stays listed as kept out, so the next scan leaves it out.
    qtbot.waitUntil(lambda: states(dialog).get(removed.name) is FileState.SKIPPED, timeout=30_000)
    row = dialog.model.row_of(removed)
    assert row is not None
    assert dialog.model.cell(dialog.model.files[row], 1) == "skipped: removed from the collection"
    assert removed.exists()  # removed from the collection, not from the disk
    asked: list[str] = []

    def confirm(_title: str, text: str) -> bool:
        asked.append(text)
        return True

    dialog.confirm = confirm
    dialog.delete_button.click()
    qtbot.waitUntil(lambda: dialog.current is None, timeout=30_000)
    assert "removed from DesktopChat's documents database" in asked[0]
    assert "stay where they are" in asked[0]
    assert not dialog.collections and dialog.collection_list.count() == 0
    assert all(p.exists() for p in folder.iterdir())


def test_a_collection_mostly_in_another_language_gets_the_librarys_advice(
    qtbot: QtBot, make_window: WindowFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "nihongo"
    folder.mkdir()
    (folder / "memo.txt").write_text(
        "東京の天気は晴れです。明日は雨が降るでしょう。傘を持って行ってください。\n" * 20,
        encoding="utf-8",
    )
    window = make_window(wait_for_model=False)
    dialog = open_documents(window)
    wait_answered(qtbot, dialog)
    dialog.add_paths([folder])
    wait_indexed(qtbot, dialog, 1)
    qtbot.waitUntil(dialog.suggestion.isVisible, timeout=30_000)
    assert "multilingual-e5-small" in dialog.suggestion.text()
    assert dialog.current is not None and dialog.current.name == "nihongo"
