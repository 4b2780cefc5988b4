"""The Documents dialog: collections (create, rename, delete), a collection's files and
their states, adding files and folders (also by drag and drop), removing files, the
progress line with Pause/Resume, the embedding model (chosen here: the built-in one or an
installed embedding model, with the languages each serves, and the re-embedding's progress)
and the library's advice.

Non-modal. Every library call runs on the task pool (``run``); the answers come back on
the GUI thread. The installed embedding models are listed on the window's database thread
(as its model picker lists them); the choice is saved in the settings once the library has
loaded the model. Progress arrives through a ``ProgressRelay`` (queued and coalesced), and
the file list is read again at most once a second while indexing moves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QMimeData, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.documents.api import DocumentLibrary
from desktopchat.core.documents.types import (
    Collection,
    DocumentError,
    IndexProgress,
)
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.models.embedders import EmbeddingChoice, builtin_choice, embedding_choices
from desktopchat.core.session import Core
from desktopchat.ui.documents.files_model import FilesChange, FilesModel, plan, state_text
from desktopchat.ui.documents.progress import ProgressRelay, describe
from desktopchat.ui.steady_label import SteadyLabel

T = TypeVar("T")
Run = Callable[[Callable[[], Any], Callable[[Any], None], Callable[[str], None]], None]
FILES_REFRESH_MS = 1000  # the file list is read again at most this often while indexing


class RefusedError(DesktopChatError):
    """The library said no (a taken name, a path it cannot add): shown as it said it."""


def guarded(job: Callable[[], T]) -> Callable[[], T]:
    """``job`` with the library's refusals (ValueError, DocumentError, OSError) turned
    into messages for the user (the task pool shows DesktopChatErrors as they are)."""

    def run() -> T:
        try:
            return job()
        except DocumentError as exc:
            raise RefusedError(exc.reason) from None
        except (ValueError, OSError) as exc:
            raise RefusedError(str(exc)) from None

    return run


@dataclass(frozen=True)
class EmbeddingModels:
    """What the dialog needs to offer the embedding models: ``choices(done)`` lists them
    off the GUI thread and calls ``done`` on it; ``current()`` is the setting
    (``documents_embedding_model``, "" for the built-in model); ``save(value)`` saves it."""

    choices: Callable[[Callable[[list[EmbeddingChoice]], None]], None]
    current: Callable[[], str]
    save: Callable[[str], None]


def window_embedding_models(window: object) -> EmbeddingModels | None:
    """The main window's: its database thread lists the installed models (as its model
    picker does), its settings hold the choice. None for another parent."""
    database = getattr(window, "database", None)
    change = getattr(window, "change_settings", None)
    if database is None or change is None or not hasattr(window, "settings"):
        return None

    def choices(done: Callable[[list[EmbeddingChoice]], None]) -> None:
        def listed(core: Core) -> list[EmbeddingChoice]:
            return embedding_choices(core.library.scan())

        database.run(listed, done)

    def current() -> str:
        value: str = getattr(window, "settings").documents_embedding_model  # noqa: B009
        return value

    return EmbeddingModels(choices, current, lambda value: change(documents_embedding_model=value))


def local_paths(mime: QMimeData) -> list[Path]:
    """The local files and folders a drag carries (web links are not documents here)."""
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


class DocumentsDialog(QDialog):
    collections_changed = Signal(object)  # list[Collection]

    def __init__(
        self,
        library: DocumentLibrary,
        run: Run,
        relay: ProgressRelay,
        parent: QWidget | None = None,
        *,
        embedding_models: EmbeddingModels | None = None,
    ) -> None:
        """``embedding_models``: where the choices come from (the main window's when not
        given and the parent is one; without either, only the model in use is shown)."""
        super().__init__(parent)
        self.library = library
        self.embedding_models = embedding_models or window_embedding_models(parent)
        self.embedding_choices: list[EmbeddingChoice] = []
        self.embedding_choice: EmbeddingChoice | None = None  # the one in use, when known
        self._embedder_name = ""
        self._embedder_loading = False  # another model is being loaded
        self._switched = False  # the user chose another model here: "re-embedding"
        self.last_progress: IndexProgress | None = None  # the latest shown
        self._run = run
        self.relay = relay
        self.setWindowTitle("Documents")
        self.setAccessibleName("Documents")
        self.resize(980, 600)
        self.setAcceptDrops(True)
        self.collections: list[Collection] = []
        self._files_busy = False  # a file list read is on the task pool
        self._files_again = False  # and another was asked for meanwhile
        self._was_idle: bool | None = None
        self.pending = 0  # library calls not answered yet (tests wait for 0)
        self._shown_before = False

        # Collections
        self.collection_list = QListWidget()
        self.collection_list.setAccessibleName("Collections")
        self.collection_list.currentItemChanged.connect(self.on_collection_changed)
        self.new_button = QPushButton("New collection…")
        self.rename_button = QPushButton("Rename…")
        self.delete_button = QPushButton("Delete…")
        self.new_button.clicked.connect(self.on_new_clicked)
        self.rename_button.clicked.connect(self.on_rename_clicked)
        self.delete_button.clicked.connect(self.on_delete_clicked)
        self.delete_button.setAccessibleName("Delete the collection")
        self.rename_button.setAccessibleName("Rename the collection")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("<b>Collections</b>"))
        left_layout.addWidget(self.collection_list, 1)
        row = QHBoxLayout()
        row.addWidget(self.rename_button)
        row.addWidget(self.delete_button)
        left_layout.addWidget(self.new_button)
        left_layout.addLayout(row)

        # The collection's files
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setAccessibleName("Collection")
        self.suggestion = QLabel()
        self.suggestion.setWordWrap(True)
        self.suggestion.setAccessibleName("Advice")
        self.suggestion.setStyleSheet("color: #9a6700;")
        self.suggestion.setVisible(False)
        self.model = FilesModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Files")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setWordWrap(False)
        rows = self.table.verticalHeader()
        rows.setVisible(False)
        rows.setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        # No column sizes itself to its contents: that measures every row on the GUI thread
        # each time the list is read again (1,000 files stalled the window 194-352 ms while
        # indexing). The number columns get the width of their title or of "999,999".
        for column in (2, 3, 4):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            title = str(self.model.headerData(column, Qt.Orientation.Horizontal))
            widest = max(self.fontMetrics().horizontalAdvance(t) for t in (title, "999,999 MB"))
            self.table.setColumnWidth(column, widest + 24)
        header.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)  # folder
        header.setStretchLastSection(False)
        self.table.setColumnWidth(0, 170)  # file and state: interactive
        self.table.setColumnWidth(1, 330)
        self.detail = SteadyLabel()  # the chosen file in full: path, state and reason
        self.detail.setAccessibleName("The chosen file")
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table.selectionModel().selectionChanged.connect(self.on_file_selection_changed)
        self.model.modelReset.connect(self.on_file_selection_changed)
        self.model.dataChanged.connect(self.on_file_selection_changed)
        self.drop_hint = QLabel("Drop files or folders here to add them to this collection.")
        self.drop_hint.setWordWrap(True)
        self.drop_hint.setStyleSheet("color: #57606a;")
        self.add_files_button = QPushButton("Add files…")
        self.add_folder_button = QPushButton("Add folder…")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setAccessibleName("Remove the selected files from the collection")
        self.add_files_button.clicked.connect(self.on_add_files_clicked)
        self.add_folder_button.clicked.connect(self.on_add_folder_clicked)
        self.remove_button.clicked.connect(self.on_remove_clicked)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.title)
        right_layout.addWidget(self.suggestion)
        right_layout.addWidget(self.table, 1)
        right_layout.addWidget(self.detail)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_files_button)
        buttons.addWidget(self.add_folder_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        right_layout.addWidget(self.drop_hint)
        right_layout.addLayout(buttons)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([200, 780])

        # Progress, the embedding model, notices
        # The lines that change while indexing keep their height: a line that wrapped for
        # one report and not the next laid the dialog out again and repainted the whole
        # file table, several times a second (stalls of 10-26 ms while embedding).
        self.progress_line = SteadyLabel(describe(None))
        self.progress_line.setAccessibleName("Indexing progress")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setAccessibleName("Pause indexing")
        self.pause_button.clicked.connect(self.on_pause_clicked)
        self.embedder = SteadyLabel("Embedding model: …")
        self.embedder.setAccessibleName("Embedding model in use")
        self.embedder_picker = QComboBox()
        self.embedder_picker.setAccessibleName("Embedding model")
        self.embedder_picker.setToolTip(
            "The model that turns passages into vectors for search by meaning. Another "
            "model embeds every passage again in the background; keyword search works "
            "meanwhile."
        )
        self.embedder_picker.setVisible(False)  # until the choices are listed
        self.embedder_picker.activated.connect(self.on_embedder_chosen)
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setAccessibleName("Notice")
        self.notice.setVisible(False)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress_line, 1)
        progress_row.addWidget(self.pause_button)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.notice)
        layout.addLayout(progress_row)
        embedder_row = QHBoxLayout()
        embedder_row.addWidget(self.embedder, 1)
        embedder_row.addWidget(self.embedder_picker)
        layout.addLayout(embedder_row)

        self._files_timer = QTimer(self)
        self._files_timer.setSingleShot(True)
        self._files_timer.setInterval(FILES_REFRESH_MS)
        self._files_timer.timeout.connect(self.on_files_timer)
        relay.changed.connect(self.on_progress)
        if relay.latest is not None:
            self.on_progress(relay.latest)
        self._update_enabled()
        self.refresh_collections()
        self.call(library.embedder_name, self.on_embedder_name)
        self.call(library.progress, self.on_progress)
        self.refresh_embedding_choices()

    # -- talking to the library (task pool) ----------------------------------------------

    def call(
        self,
        job: Callable[[], T],
        done: Callable[[T], None],
        refused: Callable[[str], None] | None = None,
    ) -> None:
        """Run ``job`` on the task pool; its answer (or refusal) comes back here."""
        self.pending += 1

        def answered(value: T) -> None:
            self.pending -= 1
            done(value)

        def failed(message: str) -> None:
            self.pending -= 1
            if refused is not None:
                refused(message)
            self.show_error(message)

        self._run(guarded(job), answered, failed)

    def show_error(self, message: str) -> None:
        self.notice.setStyleSheet("color: #cf222e;")
        self.notice.setText(message)
        self.notice.setVisible(bool(message))

    def show_note(self, message: str) -> None:
        self.notice.setStyleSheet("color: #57606a;")
        self.notice.setText(message)
        self.notice.setVisible(bool(message))

    # -- questions to the user (tests replace these) -------------------------------------

    def ask_text(self, title: str, label: str, value: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, label, text=value)
        return text if ok else None

    def confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def choose_files(self) -> list[Path]:
        names, _ = QFileDialog.getOpenFileNames(self, "Add files to the collection")
        return [Path(name) for name in names]

    def choose_folder(self) -> list[Path]:
        name = QFileDialog.getExistingDirectory(self, "Add a folder to the collection")
        return [Path(name)] if name else []

    # -- collections ---------------------------------------------------------------------

    @property
    def current(self) -> Collection | None:
        row = self.collection_list.currentRow()  # the list shows self.collections in order
        return self.collections[row] if 0 <= row < len(self.collections) else None

    def refresh_collections(self, select: int | None = None) -> None:
        self.call(self.library.collections, lambda found: self.show_collections(found, select))

    def show_collections(self, collections: list[Collection], select: int | None = None) -> None:
        keep = select if select is not None else (self.current.id if self.current else None)
        self.collections = collections
        self.collection_list.blockSignals(True)
        self.collection_list.clear()
        chosen = 0
        for row, collection in enumerate(collections):
            item = QListWidgetItem(collection.name)
            item.setData(Qt.ItemDataRole.UserRole, collection.id)
            self.collection_list.addItem(item)
            if collection.id == keep:
                chosen = row
        self.collection_list.blockSignals(False)
        if collections:
            self.collection_list.setCurrentRow(chosen)
        self.on_collection_changed()
        self.collections_changed.emit(collections)

    @Slot()
    def on_collection_changed(self, *_: object) -> None:
        collection = self.current
        self._update_enabled()
        if collection is None:
            self.title.setText(
                "No collection yet: make one with <b>New collection…</b>, or drop a folder here."
            )
            self.model.set_files([])
            self.suggestion.setVisible(False)
            return
        roots = ", ".join(str(root) for root in collection.roots) or "nothing added yet"
        self.title.setText(f"<b>{_escape(collection.name)}</b> — {_escape(roots)}")
        self.model.set_files([])
        self.refresh_files()
        self.refresh_suggestion()

    def _update_enabled(self) -> None:
        has = self.current is not None
        for button in (self.rename_button, self.delete_button, self.remove_button):
            button.setEnabled(has)

    @Slot()
    def on_new_clicked(self) -> None:
        name = self.ask_text("New collection", "Name of the new collection:", "")
        if name is None or not name.strip():
            return
        self.create_collection(name.strip())

    def create_collection(
        self, name: str, then: Callable[[Collection], None] | None = None
    ) -> None:
        library = self.library

        def created(collection: Collection) -> None:
            self.show_note(f"Made the collection “{collection.name}”.")
            self.refresh_collections(select=collection.id)
            if then is not None:
                then(collection)

        self.call(lambda: library.create_collection(name), created)

    @Slot()
    def on_rename_clicked(self) -> None:
        collection = self.current
        if collection is None:
            return
        name = self.ask_text("Rename the collection", "New name:", collection.name)
        if name is None or not name.strip() or name.strip() == collection.name:
            return
        new, library = name.strip(), self.library
        self.call(
            lambda: library.rename_collection(collection.id, new),
            lambda _: self.refresh_collections(select=collection.id),
        )

    @Slot()
    def on_delete_clicked(self) -> None:
        collection = self.current
        if collection is None:
            return
        files = len(self.model.files)
        text = (
            f"Delete the collection “{collection.name}”?\n\n"
            f"The text, passages and vectors of its {files:,} files are removed from "
            "DesktopChat's documents database. The files themselves stay where they are "
            "on your disk. Chats it was attached to no longer use it."
        )
        if not self.confirm("Delete the collection", text):
            return
        library = self.library

        def deleted(_: None) -> None:
            self.show_note(f"Deleted the collection “{collection.name}” and its text.")
            self.refresh_collections()

        self.call(lambda: library.delete_collection(collection.id), deleted)

    # -- files ---------------------------------------------------------------------------

    @Slot()
    def on_add_files_clicked(self) -> None:
        self.add_paths(self.choose_files())

    @Slot()
    def on_add_folder_clicked(self) -> None:
        self.add_paths(self.choose_folder())

    def add_paths(self, paths: Sequence[Path]) -> None:
        """Add files and folders to the chosen collection (a new one, named after the
        first of them, when there is none yet). The library returns at once."""
        paths = list(paths)
        if not paths:
            return
        collection = self.current
        if collection is None:
            first = paths[0]
            # Named after the folder (no stat here: the GUI thread never waits on a disk).
            name = first.name if not first.suffix else first.parent.name
            self.create_collection(name or "Documents", lambda made: self._add(made, paths))
            return
        self._add(collection, paths)

    def _add(self, collection: Collection, paths: list[Path]) -> None:
        library = self.library
        names = ", ".join(p.name or str(p) for p in paths[:3])
        more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""

        def added(_: None) -> None:
            self.show_note(f"Adding {names}{more} to “{collection.name}”: indexing follows.")
            self.refresh_collections(select=collection.id)

        self.call(lambda: library.add_paths(collection.id, paths), added)

    @Slot()
    def on_remove_clicked(self) -> None:
        collection = self.current
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        if collection is None or not rows:
            return
        paths = [self.model.files[row].path for row in rows if row < len(self.model.files)]
        library = self.library

        def removed(_: None) -> None:
            self.show_note(f"Removed {len(paths):,} files from “{collection.name}”.")
            self.refresh_files()

        self.call(lambda: library.remove_paths(collection.id, paths), removed)

    @Slot()
    def on_files_timer(self) -> None:
        if self.isVisible():  # a closed dialog reads nothing; showing it reads it all again
            self.refresh_files()

    @Slot()
    def refresh_files(self) -> None:
        collection = self.current
        if collection is None:
            return
        if self._files_busy:
            self._files_again = True
            return
        self._files_busy = True
        library, wanted = self.library, collection.id
        before = self.model.files  # never changed in place: the task pool may read it

        def read() -> tuple[int, FilesChange]:
            # the diff too, off the GUI thread: it repaints only the cells that changed
            return wanted, plan(before, library.files(wanted))

        def show(found: tuple[int, FilesChange]) -> None:
            self._files_busy = False
            collection_id, change = found
            current = self.current
            if current is not None and current.id == collection_id:
                self.model.apply(change)
            if self._files_again:
                self._files_again = False
                self._files_timer.start()

        def failed(_message: str) -> None:
            self._files_busy = False

        self.call(read, show, failed)

    @Slot()
    def on_file_selection_changed(self, *_: object) -> None:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        files = self.model.files
        if len(rows) == 1 and rows[0] < len(files):
            file = files[rows[0]]
            self.detail.setText(f"{file.path} — {state_text(file)}")
        elif rows:
            self.detail.setText(f"{len(rows):,} files chosen")
        else:
            self.detail.setText("")

    def refresh_suggestion(self) -> None:
        collection = self.current
        if collection is None:
            return
        library, wanted = self.library, collection.id

        def show(advice: str | None) -> None:
            current = self.current
            if current is None or current.id != wanted:
                return
            self.suggestion.setText(advice or "")
            self.suggestion.setVisible(bool(advice))

        self.call(lambda: library.suggestion(wanted), show)

    # -- progress ------------------------------------------------------------------------

    @Slot(object)
    def on_progress(self, progress: IndexProgress) -> None:
        self.last_progress = progress
        self._show_embedder()
        self.progress_line.setText(describe(progress))
        self.progress_line.setToolTip(self.progress_line.text())
        paused = progress.paused
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setAccessibleName("Resume indexing" if paused else "Pause indexing")
        if self.isVisible() and not self._files_timer.isActive():
            self._files_timer.start()  # the states changed: read the list again, soon
        if progress.idle and self._was_idle is False:
            self.refresh_suggestion()  # the language is known once the text is read
        self._was_idle = progress.idle

    @Slot()
    def on_pause_clicked(self) -> None:
        library = self.library
        pausing = self.pause_button.text() == "Pause"
        self.pause_button.setText("Resume" if pausing else "Pause")
        self.call(library.pause if pausing else library.resume, lambda _: None)

    # -- the embedding model ---------------------------------------------------------------

    def on_embedder_name(self, name: str) -> None:
        self._embedder_name = name
        self._show_embedder()

    def refresh_embedding_choices(self) -> None:
        """List the built-in and the installed embedding models (off the GUI thread)."""
        models = self.embedding_models
        if models is None:
            return
        self.pending += 1

        def listed(choices: list[EmbeddingChoice]) -> None:
            self.pending -= 1
            self.show_embedding_choices(choices)

        models.choices(listed)

    def show_embedding_choices(self, choices: list[EmbeddingChoice]) -> None:
        models = self.embedding_models
        setting = models.current() if models is not None else ""
        if not any(c.setting == setting for c in choices):
            # chosen but no longer listed (moved, another models folder): shown as it is
            path = Path(setting)
            choices = [*choices, EmbeddingChoice(path, path.stem, None)]
        self.embedding_choices = choices
        picker = self.embedder_picker
        picker.blockSignals(True)
        picker.clear()
        for choice in choices:
            picker.addItem(choice.label())
            tip = "Built into DesktopChat" if choice.path is None else str(choice.path)
            picker.setItemData(picker.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        picker.blockSignals(False)
        self._select_choice(setting)
        picker.setVisible(True)
        self._show_embedder()

    def _select_choice(self, setting: str) -> None:
        for row, choice in enumerate(self.embedding_choices):
            if choice.setting == setting:
                self.embedder_picker.blockSignals(True)
                self.embedder_picker.setCurrentIndex(row)
                self.embedder_picker.blockSignals(False)
                self.embedding_choice = choice
                return

    @Slot(int)
    def on_embedder_chosen(self, row: int) -> None:
        if 0 <= row < len(self.embedding_choices):
            self.choose_embedding_model(self.embedding_choices[row])

    def choose_embedding_model(self, choice: EmbeddingChoice) -> None:
        """Use ``choice``: the library loads it on the task pool (the model in use stays
        until it has), then the setting is saved and its vectors fill in behind."""
        previous = self.embedding_choice or builtin_choice()
        if choice.setting == previous.setting or self._embedder_loading:
            return
        library, models = self.library, self.embedding_models
        self._embedder_loading = True
        self.embedder_picker.setEnabled(False)
        self.embedder.setText(f"Loading the embedding model {choice.label()}…")

        def switch() -> str:
            try:
                library.set_embedding_model(choice.path)
            except DesktopChatError as exc:
                raise RefusedError(
                    f"{str(exc).rstrip('.')}. The embedding model stays "
                    f"{previous.label()}; search works as before."
                ) from None
            return library.embedder_name()

        def switched(name: str) -> None:
            self._embedder_loading = False
            self.embedder_picker.setEnabled(True)
            self.embedding_choice = choice
            self._switched = True
            if models is not None:
                models.save(choice.setting)
            self.show_note(
                f"The embedding model is now {choice.label()}: its vectors fill in behind; "
                "keyword search works meanwhile."
            )
            self.on_embedder_name(name)
            self.call(library.progress, self.on_progress)
            self.refresh_suggestion()

        def refused(_message: str) -> None:
            self._embedder_loading = False
            self.embedder_picker.setEnabled(True)
            self._select_choice(previous.setting)
            self._show_embedder()

        self.call(switch, switched, refused)

    def _show_embedder(self) -> None:
        """The model in use and, while its vectors fill in, how far they are."""
        if self._embedder_loading:
            return  # "Loading …" stays until the library answers
        choice = self.embedding_choice
        if not self._embedder_name and choice is None:
            return
        name = choice.label() if choice is not None else self._embedder_name
        progress = self.last_progress
        text = f"Embedding model: {name}"
        if progress is not None and progress.chunks_embedded < progress.chunks_total:
            done, total = progress.chunks_embedded, progress.chunks_total
            if self._switched:
                text = f"Re-embedding with {name}: {done:,} of {total:,} passages"
            else:
                text += f" · {done:,} of {total:,} passages embedded"
        self.embedder.setText(text)
        self.embedder.setToolTip(text)

    def showEvent(self, event: QShowEvent) -> None:
        """Shown again after a while: read the collections and files as they are now."""
        super().showEvent(event)
        if self._shown_before:
            self.refresh_collections()
            self.refresh_embedding_choices()  # a model may have been installed meanwhile
        self._shown_before = True

    # -- drag and drop -------------------------------------------------------------------

    @staticmethod
    def accepts(mime: QMimeData) -> bool:
        """A drag this dialog takes: local files or folders."""
        return bool(local_paths(mime))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.accepts(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self.accepts(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.add_paths(paths)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
