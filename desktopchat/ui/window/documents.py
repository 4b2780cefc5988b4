"""The window's documents: the Documents dialog, the bar above the composer that says
what this chat answers from, the attached collections in the settings panel, the Sources
under a reply and their previews, the documents' share of the context meter, and telling
the library when a reply streams (indexing yields the cores to it).

The library (``services.documents``, built by the composition root) is called only on the
task pool; its progress reports arrive on the indexer's thread and reach the widgets
through a ``ProgressRelay`` (queued, at most a few a second). Without a library the
Documents commands say so and nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from desktopchat.core.chat import SourcePassage
from desktopchat.core.documents.api import DocumentLibrary, Preview
from desktopchat.core.documents.types import Collection, IndexProgress
from desktopchat.core.inference.service import ReplyResult, ReplyStarted
from desktopchat.ui.document_preview import DocumentPreview, Opener, open_in_system_viewer
from desktopchat.ui.documents.dialog import DocumentsDialog, guarded
from desktopchat.ui.documents.progress import ProgressRelay, describe

if TYPE_CHECKING:
    from desktopchat.ui.main_window import MainWindow

NO_LIBRARY = "Documents are not available in this window (the documents library did not open)."


class DocumentsBar(QWidget):
    """Above the composer: what this chat answers from, indexing at a glance, and the
    Documents button."""

    def __init__(self) -> None:
        super().__init__()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setAccessibleName("Documents of this chat")
        self.button = QPushButton("Documents…")
        self.button.setAccessibleName("Open Documents")
        self.button.setToolTip("Collections of your files that chats can answer from")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignTop)


class Documents(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.library: DocumentLibrary | None = window.services.documents
        self.opener: Opener = open_in_system_viewer  # tests record instead
        self.relay = ProgressRelay(parent=self)
        self.collections: list[Collection] = []
        self.progress: IndexProgress | None = None
        self.previews: list[DocumentPreview] = []
        self.bar = window.documents_bar
        self.bar.button.clicked.connect(self.show_dialog)
        panel = window.settings_panel
        panel.manage_documents_requested.connect(self.show_dialog)
        panel.attached_shown.connect(self.show_attached)
        window.chat_view.source_chosen.connect(self.on_source_chosen)
        c = window.controller
        c.reply_started.connect(self.on_controller_reply_started)
        c.reply_finished.connect(self.on_controller_reply_finished)
        self.relay.changed.connect(self.on_progress)
        library = self.library
        if library is None:
            self.bar.button.setEnabled(False)
            self.bar.button.setToolTip(NO_LIBRARY)
        else:
            self.run(lambda: library.subscribe(self.relay.report), self.relay.subscribed)
            self.run(library.progress, self.on_progress)
            self.refresh_collections()
        self.show_attached()

    def run(self, job: Callable[[], object], done: Callable[..., None]) -> None:
        self.window.tasks.run(guarded(job), done, self.window.show_error)

    # -- the dialog ----------------------------------------------------------------------

    @Slot()
    def show_dialog(self) -> DocumentsDialog | None:
        window, library = self.window, self.library
        if library is None:
            window.show_error(NO_LIBRARY)
            return None
        dialog = window.dialogs.get("documents")
        if not isinstance(dialog, DocumentsDialog):
            dialog = DocumentsDialog(library, window.tasks.run, self.relay, window)
            dialog.collections_changed.connect(self.on_collections)
            window.dialogs["documents"] = dialog
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    # -- collections and what this chat has attached ---------------------------------------

    def refresh_collections(self) -> None:
        library = self.library
        if library is not None:
            self.run(library.collections, self.on_collections)

    @Slot(object)
    def on_collections(self, collections: list[Collection]) -> None:
        self.collections = list(collections)
        self.window.settings_panel.set_collections(self.collections)
        self.show_attached()

    @Slot()
    def show_attached(self) -> None:
        """The bar: the attached collections and, while it runs, indexing in short."""
        names = self.window.settings_panel.attached_names()
        if self.library is None:
            self.bar.label.setText("")
            return
        if names:
            text = "Answers from your documents: " + ", ".join(names)
        else:
            text = "No documents attached to this chat (Attach… in the chat settings)."
        progress = self.progress
        if progress is not None and not progress.idle:
            state = (
                "paused"
                if progress.paused
                else "waits while the reply streams"
                if progress.yielding
                else f"{progress.files_done:,} of {progress.files_total:,} files"
            )
            text += f" · indexing {state}"
        self.bar.label.setText(text)
        self.bar.label.setToolTip(describe(progress) if progress is not None else "")

    @Slot(object)
    def on_progress(self, progress: IndexProgress) -> None:
        self.progress = progress
        self.show_attached()

    @Slot()
    def toggle_pause(self) -> None:
        """Pause indexing, or resume it (the menu's command)."""
        library = self.library
        if library is None:
            self.window.show_error(NO_LIBRARY)
            return
        pausing = not (self.progress is not None and self.progress.paused)
        self.run(library.pause if pausing else library.resume, lambda _: None)
        self.window.show_status("Indexing paused" if pausing else "Indexing resumed", 3000)

    # -- replies -------------------------------------------------------------------------

    @Slot(object)
    def on_controller_reply_started(self, started: ReplyStarted) -> None:
        window = self.window
        window.context_meter.set_documents(started.documents_tokens)
        if started.documents is not None:
            window.chat_view.set_sources(started.assistant_message.id, started.documents)

    @Slot(object)
    def on_controller_reply_finished(self, result: ReplyResult) -> None:
        documents = result.stats.documents
        if documents is not None:
            self.window.chat_view.set_sources(result.assistant_message_id, documents)

    # -- a source's preview --------------------------------------------------------------

    @Slot(int, object)
    def on_source_chosen(self, _message_id: int, source: SourcePassage) -> None:
        self.open_preview(source)

    def open_preview(self, source: SourcePassage) -> DocumentPreview:
        """The preview of ``source``: shown at once, its text fetched on the task pool."""
        window = self.window
        dialog = DocumentPreview(source, self._open, window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda: self._forget(dialog))
        self.previews.append(dialog)
        window.dialogs["preview"] = dialog
        dialog.show()
        library = self.library
        if library is None:
            dialog.show_problem(NO_LIBRARY)
            return dialog

        def shown(preview: Preview) -> None:
            if dialog in self.previews:
                dialog.show_preview(preview)

        def failed(message: str) -> None:
            if dialog in self.previews:
                dialog.show_problem(message)

        window.tasks.run(guarded(lambda: library.preview(source.chunk_id)), shown, failed)
        return dialog

    def _open(self, path: Path) -> None:
        self.opener(path)  # looked up now: tests replace it after the window is made

    def _forget(self, dialog: DocumentPreview) -> None:
        if dialog in self.previews:
            self.previews.remove(dialog)

    # -- shutdown ------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop hearing progress (the window closes); the library is the app's to close."""
        unsubscribe = self.relay.close()
        if unsubscribe is not None:
            self.window.tasks.run(unsubscribe, lambda _: None, lambda _: None)
