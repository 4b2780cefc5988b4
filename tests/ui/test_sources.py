"""The documents' widgets on their own, offscreen: the Sources list under a reply, the
passage preview (highlighted, scrolled to, Open file), the inspector's passages, the
context meter's documents share, and the progress relay (reports from another thread
reach the GUI thread queued and coalesced). The whole window with the real library is
tests/ui/test_documents_window.py."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtWidgets import QApplication, QTableWidget
from pytestqt.qtbot import QtBot

from desktopchat.core.chat import (
    DocumentsMode,
    DocumentsUse,
    GenerationParams,
    Message,
    MessageStatus,
    PromptRecord,
    Role,
    SourcePassage,
)
from desktopchat.core.documents.api import Preview
from desktopchat.core.documents.types import IndexProgress
from desktopchat.ui.context_meter import ContextMeter
from desktopchat.ui.document_preview import DocumentPreview
from desktopchat.ui.documents.progress import ProgressRelay, describe
from desktopchat.ui.inspector import PromptInspector
from desktopchat.ui.markdown import MarkdownRenderer
from desktopchat.ui.message_widget import MessageWidget
from desktopchat.ui.sources import SourcesList, excerpt, how_sent


def cell(table: QTableWidget, row: int, column: int) -> str:
    item = table.item(row, column)
    assert item is not None
    return item.text()


def source(number: int, text: str, **more: object) -> SourcePassage:
    values: dict[str, object] = {
        "number": number,
        "chunk_id": 100 + number,
        "file_id": number,
        "collection_id": 1,
        "path": f"/docs/file{number}.md",
        "anchor": f"Setup › Linux · lines {number}-{number + 4}",
        "text": text,
        "score": 1 / (60 + number),
        "keyword_rank": number,
        "vector_rank": None,
        "tokens": 20,
    }
    values.update(more)
    return SourcePassage(**values)  # type: ignore[arg-type]


def passages_use(*sources: SourcePassage, still_indexing: bool = False) -> DocumentsUse:
    return DocumentsUse(
        DocumentsMode.PASSAGES.value,
        (1,),
        budget_tokens=900,
        used_tokens=60,
        sources=sources,
        still_indexing=still_indexing,
    )


def test_the_sources_list_numbers_each_passage_with_its_file_place_and_excerpt(
    qtbot: QtBot,
) -> None:
    long = "The warranty lasts 24 months from delivery. " * 10
    use = passages_use(source(1, long), source(2, "Returns within 30 days."))
    sources = SourcesList(use)
    qtbot.addWidget(sources)
    words = sources.plain_text()
    assert words.splitlines()[0] == (
        "Sources: 2 passages retrieved (60 of 900 tokens kept for documents)"
    )
    assert "[1] file1.md · Setup › Linux · lines 1-5 — The warranty lasts 24 months" in words
    assert "[2] file2.md · Setup › Linux · lines 2-6 — Returns within 30 days." in words
    assert len(excerpt(long)) <= 161 and excerpt(long).endswith("…")
    chosen: list[SourcePassage] = []
    sources.source_chosen.connect(chosen.append)
    sources.label.linkActivated.emit("source:1")  # as a click on the second link does
    assert chosen == [use.sources[1]]


def test_whole_documents_and_still_indexing_are_said(qtbot: QtBot) -> None:
    whole = DocumentsUse(
        DocumentsMode.WHOLE.value,
        (1,),
        900,
        300,
        (source(1, "a"), source(2, "b", file_id=1)),
        still_indexing=True,
    )
    assert how_sent(whole) == (
        "Sources: the whole text of 1 file was sent (300 tokens) · indexing was still "
        "running: answered from what was indexed then"
    )
    nothing = DocumentsUse(DocumentsMode.NONE.value, (1,), 900)
    assert how_sent(nothing) == "Sources: nothing in the attached documents matched"


def test_a_stored_reply_shows_its_sources_under_it(qtbot: QtBot) -> None:
    from desktopchat.core.chat import GenerationStats

    use = passages_use(source(1, "Passage one."))
    message = Message(
        7,
        1,
        None,
        Role.ASSISTANT,
        "See [1].",
        MessageStatus.COMPLETE,
        0.0,
        stats=GenerationStats(documents=use, documents_tokens=60),
    )
    widget = MessageWidget(message, MarkdownRenderer())
    qtbot.addWidget(widget)
    assert widget.sources is not None and widget.sources.use == use
    asked: list[tuple[int, SourcePassage]] = []
    widget.source_chosen.connect(lambda mid, s: asked.append((mid, s)))
    widget.sources.choose(0)
    assert asked == [(7, use.sources[0])]
    plain = Message(8, 1, None, Role.ASSISTANT, "Hi", MessageStatus.COMPLETE, 0.0)
    other = MessageWidget(plain, MarkdownRenderer())
    qtbot.addWidget(other)
    assert other.sources is None  # nothing is built for a reply without documents


def test_the_preview_highlights_the_passage_and_scrolls_to_it(qtbot: QtBot) -> None:
    lines = [f"Line {i}: filler text about nothing in particular." for i in range(400)]
    passage = "The warranty period is 24 months from the date of delivery."
    lines.insert(300, passage)
    text = "\n".join(lines)
    start = text.index(passage)
    opened: list[Path] = []
    chosen = source(1, passage, path="/docs/manual.md", anchor="Warranty · line 301")
    dialog = DocumentPreview(chosen, opened.append)
    qtbot.addWidget(dialog)
    dialog.show()
    assert "Loading" in dialog.text.toPlainText()
    dialog.show_preview(
        Preview(Path("/docs/manual.md"), text, start, start + len(passage), "Warranty · line 301")
    )
    assert dialog.highlighted_text() == passage
    qtbot.waitUntil(dialog.passage_visible, timeout=5000)
    assert dialog.text.verticalScrollBar().value() > 0  # scrolled down to line 301
    assert "Warranty · line 301" in dialog.where.text()
    dialog.open_button.click()
    assert opened == [Path("/docs/manual.md")]


def test_a_preview_the_library_cannot_give_shows_the_stored_passage(qtbot: QtBot) -> None:
    chosen = source(2, "Kept text of the passage.")
    dialog = DocumentPreview(chosen, lambda _p: None)
    qtbot.addWidget(dialog)
    dialog.show_problem("The file changed since this reply.")
    assert dialog.highlighted_text() == "Kept text of the passage."
    assert dialog.text.toPlainText().startswith("The file changed since this reply.")


def test_the_inspector_lists_the_passages_with_ranks_and_scores(qtbot: QtBot) -> None:
    use = passages_use(
        source(1, "first", vector_rank=2, vector_score=0.8123),
        source(2, "second", keyword_rank=None, vector_rank=1, vector_score=0.9),
    )
    message = Message(3, 1, None, Role.ASSISTANT, "x", MessageStatus.COMPLETE, 0.0)
    record = PromptRecord(3, "prompt", 120, "m", GenerationParams(documents=(1,)), documents=use)
    inspector = PromptInspector(message, record)
    qtbot.addWidget(inspector)
    table = inspector.passages
    assert table.rowCount() == 2
    row = [cell(table, 0, c) for c in range(table.columnCount())]
    assert row == [
        "1",
        f"{1 / 61:.4f}",
        "1",
        "2",
        "0.812",
        "20",
        "file1.md",
        "Setup › Linux · lines 1-5",
    ]
    assert cell(table, 1, 2) == "—"  # not in the keyword list
    assert "2 passages retrieved; 60 of 900 tokens kept for documents" in inspector.summary.text()


def test_the_context_meter_shows_the_documents_share(qtbot: QtBot) -> None:
    meter = ContextMeter()
    qtbot.addWidget(meter)
    meter.set_usage(100, 900, 50, 4096, documents=500)
    assert meter.usage == (100, 800, 50, 4096)
    assert meter.text() == (
        "Context 950 of 4,096 tokens (23%): system prompt 100, documents 500, history 300, reply 50"
    )
    meter.set_usage(100, 900, 50, 4096)
    assert "documents" not in meter.text()


def test_progress_from_another_thread_arrives_queued_and_coalesced(qtbot: QtBot) -> None:
    relay = ProgressRelay(interval_ms=200)
    seen: list[tuple[IndexProgress, bool]] = []
    gui = threading.current_thread()
    relay.changed.connect(lambda p: seen.append((p, threading.current_thread() is gui)))

    def indexer() -> None:  # a burst, as an indexer thread reports
        for done in range(1, 501):
            relay.report(IndexProgress(files_total=500, files_done=done))

    thread = threading.Thread(target=indexer)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: bool(seen) and seen[-1][0].files_done == 500, timeout=5000)
    QApplication.processEvents()
    assert all(on_gui for _p, on_gui in seen)
    assert len(seen) <= 3  # 500 reports, a few repaints
    relay.close()
    relay.report(IndexProgress(files_total=1))
    qtbot.wait(300)
    assert seen[-1][0].files_done == 500  # closed: nothing more passed on


def test_the_progress_line_says_files_passages_megabytes_speed_and_why_it_waits() -> None:
    running = IndexProgress(
        files_total=10,
        files_done=4,
        files_failed=1,
        chunks_total=200,
        chunks_embedded=50,
        bytes_total=8_000_000,
        bytes_done=2_500_000,
        bytes_per_second=1_200_000,
        chunks_per_second=35,
        seconds_left=95,
        current="notes.md",
    )
    assert describe(running) == (
        "Indexing: Files 4 of 10 (1 could not be read) · passages embedded 50 of 200 · "
        "2.5 MB of 8.0 MB · 1.2 MB/s, 35 passages/s · about 2 min left · now: notes.md"
    )
    from dataclasses import replace

    assert describe(replace(running, paused=True)).endswith("· paused")
    assert describe(replace(running, yielding=True)).endswith("· waiting while a reply streams")
    done = IndexProgress(files_total=3, files_done=3, chunks_total=9, chunks_embedded=9)
    assert describe(done) == "All 3 files indexed · 9 passages searchable by meaning"
    assert describe(IndexProgress()).startswith("No documents yet")
    gone = replace(done, unavailable=(Path("/mnt/share"),))
    assert describe(gone).endswith("· folder unavailable: /mnt/share (its files stay searchable)")


def test_embedding_models_are_marked_in_the_model_manager(
    starter_model: Path, embedder_model: Path
) -> None:
    from desktopchat.core.models.catalog import load_catalog
    from desktopchat.core.models.embedders import is_embedding_model
    from desktopchat.core.models.gguf import read_gguf
    from desktopchat.core.models.library import InstalledModel
    from desktopchat.ui.model_manager.catalogue_tab import kind_text

    kinds = {entry.name: kind_text(entry) for entry in load_catalog()}
    embedding = [k for k in kinds.values() if k.startswith("Embedding")]
    assert embedding and "Chat" in kinds.values()
    assert "Embedding · multilingual" in embedding  # e5, bge-m3: for documents not in English
    built_in = InstalledModel(embedder_model, "folder", read_gguf(embedder_model))
    chat = InstalledModel(starter_model, "starter", read_gguf(starter_model))
    assert is_embedding_model(built_in) and not is_embedding_model(chat)
