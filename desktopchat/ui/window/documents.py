"""The window's documents: the Documents dialog, the bar above the composer that says
what this chat answers from, the attached collections and files in the settings panel,
attaching a single file (from disk, dropped on the composer, or one file of a collection),
the Sources under a reply and their previews, and the documents' share of the context
meter (the chat service tells the library when a reply streams).

A file attached from disk goes into the library's "Attached files" collection
(``DocumentLibrary.attach_file``: indexed like any other, shown in the Documents dialog)
unless a collection has it already; the chat keeps its file id.

The library (``services.documents``, built by the composition root) is called only on the
task pool; its progress reports arrive on the indexer's thread and reach the widgets
through a ``ProgressRelay`` (queued, at most a few a second). Without a library the
Documents commands say so and nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QToolButton,
    QWidget,
)

from desktopchat.core.chat import SourcePassage
from desktopchat.core.documents.api import DocumentLibrary, Preview
from desktopchat.core.documents.types import Collection, DocumentFile, IndexProgress
from desktopchat.core.inference.service import ReplyResult, ReplyStarted
from desktopchat.ui.collection_file_picker import CollectionFilePicker
from desktopchat.ui.document_preview import DocumentPreview, Opener, open_in_system_viewer
from desktopchat.ui.documents.dialog import DocumentsDialog, guarded
from desktopchat.ui.documents.progress import ProgressRelay, describe

if TYPE_CHECKING:
    from desktopchat.ui.main_window import MainWindow

NO_LIBRARY = "Documents are not available in this window (the documents library did not open)."


class DocumentsBar(QWidget):
    """Above the composer: what this chat answers from, indexing at a glance, Attach file
    (its menu: from disk, a file of a collection, the attached files to take off) and the
    Documents button."""

    def __init__(self) -> None:
        super().__init__()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setAccessibleName("Documents of this chat")
        self.attach = QToolButton()
        self.attach.setText("Attach file…")
        self.attach.setAccessibleName("Attach a file to this chat")
        self.attach.setToolTip(
            "Answer from a file (its whole text when it fits, as for 'summarize this'): "
            "from disk, or one file of a collection. Files can also be dropped on the "
            "message box."
        )
        self.attach.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.attach.setMenu(QMenu(self.attach))
        self.button = QPushButton("Documents…")
        self.button.setAccessibleName("Open Documents")
        self.button.setToolTip("Collections of your files that chats can answer from")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.attach, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignTop)


def attached_summary(files: Sequence[str], collections: Sequence[str]) -> str:
    """The bar's words for what a chat answers from: "Answers from report.pdf and 1
    collection", "Answers from your documents: Manuals, Notes"."""
    if not files and not collections:
        return "No documents attached to this chat (Attach file… or Attach… in the settings)."
    if not files:
        return "Answers from your documents: " + ", ".join(collections)
    named = list(files[:3])
    if len(files) > 3:
        more = len(files) - 3
        named.append(f"{more} more file" + ("s" if more > 1 else ""))
    if collections:
        count = len(collections)
        named.append(f"{count} collection" + ("s" if count > 1 else ""))
    text = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    return f"Answers from {text}"


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
        panel.attach_file_requested.connect(self.attach_from_disk)
        panel.attach_collection_file_requested.connect(self.attach_from_collection)
        self.bar.attach.menu().aboutToShow.connect(self.on_attach_menu_about_to_show)
        window.composer.files_dropped.connect(self.attach_paths)
        self.choose_files: Callable[[], list[Path]] = self._choose_files  # tests replace it
        self._reading_files = False  # a files_by_id read is in flight
        window.chat_view.source_chosen.connect(self.on_source_chosen)
        c = window.controller
        c.reply_started.connect(self.on_controller_reply_started)
        c.reply_finished.connect(self.on_controller_reply_finished)
        self.relay.changed.connect(self.on_progress)
        library = self.library
        if library is None:
            self.bar.button.setEnabled(False)
            self.bar.button.setToolTip(NO_LIBRARY)
            self.bar.attach.setEnabled(False)
            self.bar.attach.setToolTip(NO_LIBRARY)
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
        self.read_file_info(every=True)  # a deleted collection takes its files along
        self.show_attached()

    @Slot()
    def show_attached(self) -> None:
        """The bar: the attached collections and files and, while it runs, indexing in
        short. Files not known yet (another chat shown) or still being read are asked
        about on the task pool."""
        panel = self.window.settings_panel
        if self.library is None:
            self.bar.label.setText("")
            return
        self.read_file_info()
        names = panel.attached_names()
        text = attached_summary(panel.attached_file_names(), names)
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
        tip = []
        if names:
            tip.append("Collections: " + ", ".join(names))
        if panel.attached_files:
            tip.append("Files: " + ", ".join(panel.attached_file_names()))
        if progress is not None:
            tip.append(describe(progress))
        self.bar.label.setToolTip("\n".join(tip))

    def read_file_info(self, *, every: bool = False) -> None:
        """Ask the library about the attached files not described yet (``every``: all of
        them, as indexing moves on or collections change: read, removed); one read at a
        time."""
        library = self.library
        asked = self.window.settings_panel.unknown_files(every=every)
        if library is None or not asked or self._reading_files:
            return
        self._reading_files = True

        def shown(files: list[DocumentFile]) -> None:
            self._reading_files = False
            self.window.settings_panel.set_file_info(asked, files)

        def failed(message: str) -> None:
            self._reading_files = False
            self.window.show_error(message)

        self.window.tasks.run(guarded(lambda: library.files_by_id(asked)), shown, failed)

    # -- attaching single files ------------------------------------------------------------

    @Slot()
    def on_attach_menu_about_to_show(self) -> None:
        menu = self.bar.attach.menu()
        menu.clear()
        self.window.settings_panel.add_file_actions(menu)

    def _choose_files(self) -> list[Path]:
        names, _ = QFileDialog.getOpenFileNames(self.window, "Attach files to this chat")
        return [Path(name) for name in names]

    @Slot()
    def attach_from_disk(self) -> None:
        if self.library is None:
            self.window.show_error(NO_LIBRARY)
            return
        paths = self.choose_files()
        if paths:
            self.attach_paths(paths)

    @Slot(object)
    def attach_paths(self, paths: Sequence[Path]) -> None:
        """Attach files from disk to this chat: the library indexes them (in its Attached
        files collection, unless a collection has them) on the task pool; the chat keeps
        their ids. A folder is refused with a word on collections."""
        library, window = self.library, self.window
        if library is None:
            window.show_error(NO_LIBRARY)
            return
        wanted = list(paths)

        def attach() -> tuple[list[DocumentFile], list[str]]:
            files: list[DocumentFile] = []
            problems: list[str] = []
            for path in wanted:
                try:
                    files.append(library.attach_file(path))
                except ValueError as exc:
                    problems.append(str(exc))
            return files, problems

        def attached(result: tuple[list[DocumentFile], list[str]]) -> None:
            files, problems = result
            if files:
                window.settings_panel.add_files(files)
                names = ", ".join(f.path.name for f in files)
                them = "it" if len(files) == 1 else "them"
                window.show_status(f"Attached {names}: this chat answers from {them}", 5000)
                self.refresh_collections()  # "Attached files" may be new
            if problems:
                window.show_error(" ".join(problems))

        self.run(attach, attached)

    @Slot()
    def attach_from_collection(self) -> CollectionFilePicker | None:
        """The picker of one file of a collection (collections as last read)."""
        window, library = self.window, self.library
        if library is None:
            window.show_error(NO_LIBRARY)
            return None
        picker = CollectionFilePicker(library, self.collections, window.tasks.run, window)
        picker.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        picker.chosen.connect(window.settings_panel.add_files)
        window.dialogs["attach_file"] = picker
        picker.show()
        return picker

    @Slot(object)
    def on_progress(self, progress: IndexProgress) -> None:
        self.progress = progress
        self.read_file_info(every=True)  # an attached file may have been read (or removed)
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
