"""Composition root: the only module that knows every concrete class.

The CLI and the GUI both start here. PySide6 is only imported (through desktopchat.ui)
when the GUI is actually started, so headless commands never load Qt.
"""

from __future__ import annotations

import faulthandler
import logging
import logging.handlers
from pathlib import Path

from desktopchat.core.inference.engine import Engine
from desktopchat.core.inference.llama_engine import LlamaEngine
from desktopchat.core.inference.process_engine import ProcessEngine
from desktopchat.core.inference.service import ChatService
from desktopchat.core.paths import AppPaths
from desktopchat.core.secrets import RedactingFormatter
from desktopchat.core.session import Core, open_core

log = logging.getLogger(__name__)


def make_engine() -> Engine:
    """The CLI's engine: llama.cpp in this process (a crash ends one command anyway)."""
    return LlamaEngine()


def make_isolated_engine() -> Engine:
    """The GUI's engine: llama.cpp in a supervised child process, so it cannot take the
    window down with it."""
    return ProcessEngine()


def make_chat_service(core: Core, engine: Engine) -> ChatService:
    return ChatService(core.conversations, engine)


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


def run_gui(
    paths: AppPaths, argv: list[str], open_files: list[str], self_test: Path | None = None
) -> int:
    from desktopchat.ui.application import run_application

    return run_application(
        paths,
        argv,
        open_core=open_core,
        make_engine=make_isolated_engine,
        make_chat_service=make_chat_service,
        open_files=open_files,
        self_test=self_test,
    )
