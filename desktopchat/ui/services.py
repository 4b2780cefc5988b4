"""What the window is given: ``WindowServices``, made by the composition root.

The window builds no services of its own. It opens its database connection (on the
gateway's thread) with ``open_core``, hands the inference thread ``make_engine`` and
``make_service``, runs file and network work on ``tasks``, and gets the keychain, the
download queue and the documents library (with its own indexer thread; the window calls it
only on ``tasks``) ready made. Every Core these open shares one WriteLog, so the window's
watch can tell this process's own commits from another program's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from desktopchat.core.documents.api import DocumentLibrary
from desktopchat.core.inference.engine import Engine
from desktopchat.core.inference.service import ChatService
from desktopchat.core.models.downloads import Pending
from desktopchat.core.paths import AppPaths
from desktopchat.core.secrets import SecretStore
from desktopchat.core.session import Core
from desktopchat.ui.downloads import DownloadQueue
from desktopchat.ui.workers import TaskRunner


class OpenCore(Protocol):
    def __call__(self, at: AppPaths, *, check: bool = False) -> Core:
        """Open (and with ``check``, integrity-check and recover) the database, sharing
        the process's WriteLog. Called on the thread that will use the Core."""
        ...


# The inference thread's chat service on the given engine, and how to close its
# database connection (called on that thread).
MakeService = Callable[[Engine], tuple[ChatService, Callable[[], None]]]


@dataclass
class WindowServices:
    open_core: OpenCore  # the window's own connection, opened on the database thread
    make_engine: Callable[[], Engine]  # the engine (a ProcessEngine: llama.cpp elsewhere)
    make_service: MakeService  # the inference thread's chat service and connection
    tasks: TaskRunner  # file and network work off the GUI thread
    secrets: SecretStore  # the keychain, or a token kept for this session only
    downloads: DownloadQueue  # model downloads (run on their own thread)
    pending_downloads: Callable[[], list[Pending]]  # unfinished downloads (file work)
    # Local documents (collections, indexing, retrieval); None: the window has no Documents.
    documents: DocumentLibrary | None = None
