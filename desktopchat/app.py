"""Composition root: the only module that knows every concrete class.

The CLI and the GUI both start here. PySide6 is only imported (through desktopchat.ui)
when the GUI is actually started, so headless commands never load Qt.
"""

from __future__ import annotations

import faulthandler
import logging
import logging.handlers
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from desktopchat.core.documents.api import DocumentLibrary, Preview, ProgressListener
from desktopchat.core.documents.types import (
    Collection,
    DocumentFile,
    Embedder,
    IndexProgress,
    Passage,
    Retrieved,
)
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.inference.engine import Engine
from desktopchat.core.inference.llama import LlamaEngine
from desktopchat.core.inference.process_engine import ProcessEngine
from desktopchat.core.inference.service import ChatService
from desktopchat.core.models.manager import discard_job, download_job, partial_downloads
from desktopchat.core.paths import AppPaths
from desktopchat.core.secrets import RedactingFormatter, SecretStore
from desktopchat.core.session import Core, open_core
from desktopchat.core.settings import load_settings
from desktopchat.core.storage.changes import WriteLog
from desktopchat.core.tools.toolbox import Toolbox
from desktopchat.core.tools.types import ToolPermission, ToolSpec

if TYPE_CHECKING:
    from desktopchat.core.documents.embedder_slot import EmbedderFactory
    from desktopchat.core.documents.library import LocalDocumentLibrary
    from desktopchat.ui.services import WindowServices

log = logging.getLogger(__name__)


def make_engine() -> Engine:
    """The CLI's engine: llama.cpp in this process (a crash ends one command anyway)."""
    return LlamaEngine()


def make_isolated_engine() -> Engine:
    """The GUI's engine: llama.cpp in a supervised child process, so it cannot take the
    window down with it."""
    return ProcessEngine()


def make_chat_service(
    core: Core,
    engine: Engine,
    *,
    documents: DocumentLibrary | None = None,
    toolbox: Toolbox | None = None,
) -> ChatService:
    """``documents``: the library that chats with collections attached are answered from;
    ``toolbox``: the tools chats may offer (make_toolbox)."""
    return ChatService(core.conversations, engine, documents=documents, toolbox=toolbox)


def make_toolbox(
    core: Core,
    *,
    documents: DocumentLibrary | None = None,
    current_conversation: Callable[[], int | None] | None = None,
    permission: Callable[[ToolSpec, ToolPermission], ToolPermission] | None = None,
) -> Toolbox:
    """The built-in tools over ``core`` (its thread's connection: tools run on the thread
    of the reply) and ``documents``, and the MCP servers of the config folder. The folders
    read_file may read and offline mode are read from the settings at each use."""
    from desktopchat.core.tools.setup import open_toolbox

    settings_file = core.paths.settings_file

    def folders() -> list[Path]:
        return [Path(f) for f in load_settings(settings_file).tool_folders if f]

    return open_toolbox(
        core.paths.config,
        offline=lambda: load_settings(settings_file).offline_mode,
        search_conversations=lambda text, limit: core.conversations.search(text, limit=limit),
        documents=documents,
        folders=folders,
        current_conversation=current_conversation,
        permission=permission,
    )


def embedder_factory(paths: AppPaths, *, isolated: bool) -> EmbedderFactory:
    """How the documents library makes its embedding model (None: the built-in one): in an
    engine process of its own for the window (a crash there harms nothing and indexing
    never evicts the chat model), in this process for the CLI (a crash ends one command)."""

    from desktopchat.core.documents.default_embedder import default_embedder_path

    def make(model: Path | None) -> Embedder:
        # Found (or converted once) here, off the GUI thread: the library makes it on first use.
        path = model if model is not None else default_embedder_path(paths)
        if isolated:
            from desktopchat.core.inference.process_embedder import ProcessEmbedder

            return ProcessEmbedder(path)
        from desktopchat.core.inference.llama.embedding import LlamaEmbedder

        return LlamaEmbedder(path)

    return make


def make_document_library(paths: AppPaths, *, isolated: bool, index: bool) -> LocalDocumentLibrary:
    """The documents library of ``paths``' documents database, with the embedding model
    and file size limit of the settings. ``index``: this process indexes (the window; the
    CLI indexes only inside ``docs wait``). Imported here: commands without documents do
    not load the document parts."""
    from desktopchat.core.documents.library import LocalDocumentLibrary, limits_from_settings

    settings = load_settings(paths.settings_file)
    chosen = settings.documents_embedding_model
    return LocalDocumentLibrary(
        paths.documents_database,
        embedder_factory(paths, isolated=isolated),
        embedding_model=Path(chosen) if chosen else None,
        limits=limits_from_settings(settings.documents_max_file_mb),
        index=index,
    )


def make_cli_document_library(paths: AppPaths) -> DocumentLibrary:
    """The CLI's library: embeddings in this process, indexing only while ``docs wait``
    runs (the window, when it is open, indexes what the CLI adds)."""
    return make_document_library(paths, isolated=False, index=False)


class DeferredLibrary:
    """The window's documents library, opened on a thread of its own so that the window
    never waits for it (importing the parsers, opening and migrating the database): each
    call waits until it is open (the window calls it only on its task pool, the chat
    service on the inference thread). A database that cannot be used makes every call
    raise DesktopChatError with the reason, and the chats work without documents."""

    def __init__(self, make: Callable[[], DocumentLibrary]) -> None:
        self._ready = threading.Event()
        self._library: DocumentLibrary | None = None
        self._problem = ""
        threading.Thread(
            target=self._open, args=(make,), name="documents-open", daemon=True
        ).start()

    def _open(self, make: Callable[[], DocumentLibrary]) -> None:
        try:
            self._library = make()
        except DesktopChatError as exc:
            log.error("documents are unavailable: %s", exc)
            self._problem = str(exc)
        except Exception as exc:  # a bug, but the window must still start
            log.exception("documents are unavailable")
            self._problem = f"internal error ({type(exc).__name__})"
        finally:
            self._ready.set()

    def _get(self) -> DocumentLibrary:
        self._ready.wait()
        if self._library is None:
            raise DesktopChatError(f"Documents are unavailable: {self._problem}")
        return self._library

    def collections(self) -> list[Collection]:
        return self._get().collections()

    def create_collection(self, name: str) -> Collection:
        return self._get().create_collection(name)

    def rename_collection(self, collection_id: int, name: str) -> None:
        self._get().rename_collection(collection_id, name)

    def delete_collection(self, collection_id: int) -> None:
        self._get().delete_collection(collection_id)

    def add_paths(self, collection_id: int, paths: Sequence[Path]) -> None:
        self._get().add_paths(collection_id, paths)

    def remove_paths(self, collection_id: int, paths: Sequence[Path]) -> None:
        self._get().remove_paths(collection_id, paths)

    def files(self, collection_id: int) -> list[DocumentFile]:
        return self._get().files(collection_id)

    def progress(self) -> IndexProgress:
        return self._get().progress()

    def subscribe(self, listener: ProgressListener) -> Callable[[], None]:
        return self._get().subscribe(listener)

    def pause(self) -> None:
        self._get().pause()

    def resume(self) -> None:
        self._get().resume()

    def set_reply_streaming(self, streaming: bool) -> None:
        self._get().set_reply_streaming(streaming)

    def wait(self, timeout: float | None = None) -> bool:
        return self._get().wait(timeout)

    def attach_file(self, path: Path) -> DocumentFile:
        return self._get().attach_file(path)

    def files_by_id(self, file_ids: Sequence[int]) -> list[DocumentFile]:
        return self._get().files_by_id(file_ids)

    def search(
        self,
        query: str,
        *,
        collection_ids: Sequence[int] | None = None,
        file_ids: Sequence[int] | None = None,
        limit: int = 10,
    ) -> list[Passage]:
        return self._get().search(
            query, collection_ids=collection_ids, file_ids=file_ids, limit=limit
        )

    def retrieve(
        self,
        query: str,
        collection_ids: Sequence[int],
        budget_tokens: int,
        count_tokens: Callable[[str], int],
        *,
        file_ids: Sequence[int] = (),
        passages_budget: int | None = None,
    ) -> Retrieved:
        return self._get().retrieve(
            query,
            collection_ids,
            budget_tokens,
            count_tokens,
            file_ids=file_ids,
            passages_budget=passages_budget,
        )

    def preview(self, chunk_id: int) -> Preview:
        return self._get().preview(chunk_id)

    def embedder_name(self) -> str:
        return self._get().embedder_name()

    def set_embedding_model(self, path: Path | None) -> None:
        self._get().set_embedding_model(path)

    def suggestion(self, collection_id: int) -> str | None:
        return self._get().suggestion(collection_id)

    def close(self) -> None:
        self._ready.wait()
        if self._library is not None:
            self._library.close()


def _window_documents(paths: AppPaths) -> DocumentLibrary:
    """The window's library (indexing on its own threads, embedding in an engine process)."""
    return DeferredLibrary(lambda: make_document_library(paths, isolated=True, index=True))


def configure_logging(paths: AppPaths, *, verbose: bool = False) -> None:
    paths.logs.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        paths.logs / "desktopchat.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
    )
    # Every line is redacted as it is written: a token cannot reach the file by mistake.
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Native crashes (llama.cpp aborting, a segfault) leave a Python stack here.
    crash_log = (paths.logs / "crash.log").open("a", encoding="utf-8")
    faulthandler.enable(file=crash_log, all_threads=True)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # llama.cpp's own chatter is kept at warnings and above unless asked for.
    logging.getLogger("desktopchat.llama").setLevel(logging.DEBUG if verbose else logging.WARNING)


def window_services(paths: AppPaths, *, writes: WriteLog | None = None) -> WindowServices:
    """Everything the window is given, wired (call it once a QApplication exists).

    Every Core the window's process opens (the window's on its database thread, the
    inference thread's, the task pool's for export and import) shares one WriteLog: the
    window's watch then sees only other programs' commits as changes."""
    from desktopchat.ui.downloads import DownloadQueue
    from desktopchat.ui.services import WindowServices
    from desktopchat.ui.workers import TaskRunner

    log_of_writes = writes if writes is not None else WriteLog()
    documents = _window_documents(paths)  # indexes on threads of its own

    def open_shared(at: AppPaths, *, check: bool = False) -> Core:
        return open_core(at, check=check, writes=log_of_writes)

    def make_service(engine: Engine) -> tuple[ChatService, Callable[[], None]]:
        worker_core = open_shared(paths)  # the inference thread's own connection
        # The tools run on the inference thread, with its connection.
        toolbox = make_toolbox(worker_core, documents=documents)

        def close() -> None:
            toolbox.close()  # the MCP servers it started end with the window
            worker_core.close()

        service = make_chat_service(worker_core, engine, documents=documents, toolbox=toolbox)
        return service, close

    secrets = SecretStore()  # the keychain, or a token kept for this session only
    downloads = DownloadQueue(download_job(paths, secrets), discard_job(paths))
    return WindowServices(
        open_core=open_shared,
        make_engine=make_isolated_engine,
        make_service=make_service,
        tasks=TaskRunner(),
        secrets=secrets,
        downloads=downloads,
        pending_downloads=partial_downloads(paths).pending,
        documents=documents,
    )


def run_gui(
    paths: AppPaths, argv: list[str], open_files: list[str], self_test: Path | None = None
) -> int:
    from desktopchat.ui.application import run_application

    made: list[WindowServices] = []

    def services() -> WindowServices:
        made.append(window_services(paths))
        return made[-1]

    try:
        return run_application(paths, argv, services, open_files=open_files, self_test=self_test)
    finally:
        for service in made:  # the indexer stops between files; the lock is released
            if service.documents is not None:
                service.documents.close()
