"""Objects that live off the GUI thread.

InferenceWorker lives on its own QThread and drives the one engine it is handed (and so the
one llama.cpp model): load, generate and unload only ever run there. It has its own
database connection.
TaskRunner runs short jobs (header reads, scans) on a thread pool and delivers results on
the GUI thread; tests can make it synchronous.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from desktopchat.core.chat import GenerationParams
from desktopchat.core.errors import DesktopChatError, EngineCrashedError
from desktopchat.core.inference.engine import Engine, LoadConfig
from desktopchat.core.inference.service import (
    ChatService,
    ReplyResult,
    ReplyStarted,
    ResumeMode,
    ToolRun,
)
from desktopchat.core.paths import AppPaths
from desktopchat.core.tools.toolbox import Approval, ApprovalRequest, Decision

log = logging.getLogger(__name__)


class PendingApproval:
    """A tool call waiting for the user's answer (set from the GUI thread)."""

    def __init__(self, request: ApprovalRequest) -> None:
        self.request = request
        self.answer = Approval(Decision.DENY)
        self.answered = threading.Event()

    def answer_with(self, approval: Approval) -> None:
        self.answer = approval
        self.answered.set()


class _Superseded(threading.Event):
    """A cancel flag that is set as soon as the window asks for another reply: the app's
    own requests (automatic titles) never make a reply wait."""

    def __init__(self, worker: InferenceWorker) -> None:
        super().__init__()
        self._worker = worker
        self._request = worker.reply_requests

    def is_set(self) -> bool:
        return self._worker.reply_requests != self._request


@dataclass(frozen=True)
class ReplyFailure:
    conversation_id: int
    message: str
    started: bool  # False: nothing was stored, the user's text is still theirs
    kind: str = ""  # the error's class name (HistoryFullError: offer the other policies)


class InferenceWorker(QObject):
    load_progress = Signal(float, str)
    model_loaded = Signal(object)  # LoadedModel
    model_load_failed = Signal(str)
    model_unloaded = Signal()
    reply_started = Signal(object)  # ReplyStarted
    token_received = Signal(str)
    prompt_progress = Signal(int, int)  # prompt tokens evaluated, of
    reply_finished = Signal(object)  # ReplyResult
    reply_failed = Signal(object)  # ReplyFailure
    tokens_counted = Signal(int, int, bool)  # request id, tokens (-1: no model), exact
    status = Signal(str)  # what happens before a reply starts (summarizing old turns)
    title_changed = Signal(int, str)  # conversation id, the model's title for it
    thinking_received = Signal(str)  # a thinking model's reasoning, as it streams
    approval_needed = Signal(object)  # PendingApproval: the window asks the user
    tool_finished = Signal(object)  # ToolRun

    def __init__(
        self,
        paths: AppPaths,
        engine: Engine,
        make_service: Callable[[Engine], tuple[ChatService, Callable[[], None]]],
        cancel: threading.Event,
    ) -> None:
        super().__init__()
        self._paths = paths
        self._make_service = make_service
        self._cancel = cancel
        self._engine: Engine = engine
        self._service: ChatService | None = None
        self._close_service: Callable[[], None] = lambda: None
        self._started = False
        self.latest_count_request = 0  # set from the GUI thread; older requests are skipped
        self.reply_requests = 0  # counted on the GUI thread: replies asked for so far

    def _ready(self) -> tuple[Engine, ChatService]:
        """Open this thread's database connection (and its chat service) on first use."""
        if self._service is None:
            self._service, self._close_service = self._make_service(self._engine)
        return self._engine, self._service

    @Slot(str, object)
    def load(self, path: str, params: GenerationParams) -> None:
        marker = self._paths.loading_marker
        crashed = False
        try:
            engine, _ = self._ready()
            marker.write_text(path, encoding="utf-8")
            loaded = engine.load(LoadConfig.from_params(Path(path), params), self._on_progress)
        except DesktopChatError as exc:
            # llama.cpp dying on the file keeps the marker: it is not auto-loaded again.
            crashed = isinstance(exc, EngineCrashedError)
            self.model_load_failed.emit(str(exc))
            return
        except Exception as exc:
            log.exception("model load failed")
            self.model_load_failed.emit(f"Loading failed unexpectedly ({type(exc).__name__}).")
            return
        finally:
            if not crashed:
                marker.unlink(missing_ok=True)
        self.model_loaded.emit(loaded)

    def _on_progress(self, fraction: float, what: str) -> None:
        self.load_progress.emit(fraction, what)

    @Slot()
    def unload(self) -> None:
        self._engine.unload()
        self.model_unloaded.emit()

    @Slot(int, str, object, int)
    def generate(
        self, conversation_id: int, text: str, params: GenerationParams, edit_of: int
    ) -> None:
        """Reply to ``text``; with ``edit_of`` (not 0), ``text`` is a new version of that
        user message."""
        self._run_reply(
            conversation_id,
            params,
            lambda service: service.reply(
                conversation_id, text, params, self._cancel, self, edit_of=edit_of or None
            ),
        )

    @Slot(int, int, str, object)
    def resume(
        self, conversation_id: int, message_id: int, mode: str, params: GenerationParams
    ) -> None:
        self._run_reply(
            conversation_id,
            params,
            lambda service: service.resume(
                conversation_id, message_id, ResumeMode(mode), params, self._cancel, self
            ),
        )

    def _run_reply(
        self,
        conversation_id: int,
        params: GenerationParams,
        reply: Callable[[ChatService], ReplyResult],
    ) -> None:
        self._started = False
        try:
            _, service = self._ready()
            result = reply(service)
        except DesktopChatError as exc:
            self.reply_failed.emit(
                ReplyFailure(conversation_id, str(exc), self._started, type(exc).__name__)
            )
            if self._engine.loaded is None:
                self.model_unloaded.emit()  # the engine process died, and the model with it
            return
        except Exception as exc:
            log.exception("generation failed")
            self.reply_failed.emit(
                ReplyFailure(
                    conversation_id,
                    f"The reply failed unexpectedly ({type(exc).__name__}); "
                    "details are in the log.",
                    self._started,
                )
            )
            return
        self.reply_finished.emit(result)
        try:  # a title for a new conversation, unless the user asks for a reply first
            title = service.suggest_title(conversation_id, _Superseded(self))
            if title is not None:
                self.title_changed.emit(conversation_id, title)
        except DesktopChatError as exc:
            log.info("no automatic title: %s", exc)
        except Exception:
            log.exception("writing a title failed")
        try:  # while the user reads the reply
            service.prepare_next_turn(conversation_id, params, _Superseded(self))
        except DesktopChatError as exc:
            log.info("could not prepare the next turn: %s", exc)
            if self._engine.loaded is None:
                self.model_unloaded.emit()  # the engine process died
        except Exception:
            log.exception("preparing the next turn failed")

    @Slot(int, str, bool)
    def count_tokens(self, request_id: int, text: str, exact: bool) -> None:
        """Count ``text``'s tokens; ``exact`` says whether it is the whole message or only
        a prefix, and is passed back with the count."""
        if request_id < self.latest_count_request:
            return  # the text changed again while we were busy
        engine = self._engine
        count = -1
        if engine.loaded is not None:
            try:
                count = len(engine.tokenize(text, add_bos=False))
            except DesktopChatError:
                count = -1
        self.tokens_counted.emit(request_id, count, exact)

    # ReplyListener, called on this thread by the chat service
    def on_reply_started(self, started: ReplyStarted) -> None:
        self._started = True
        self.reply_started.emit(started)

    def on_reply_piece(self, text: str) -> None:
        self.token_received.emit(text)

    def on_reply_thinking(self, text: str) -> None:
        self.thinking_received.emit(text)

    def approve_tool(self, request: ApprovalRequest) -> Approval:
        """Asks the window (the dialog) and waits here, on the inference thread; Stop
        (the cancel flag) ends the wait with a denial."""
        pending = PendingApproval(request)
        self.approval_needed.emit(pending)
        while not pending.answered.wait(0.05):
            if self._cancel.is_set():
                return Approval(Decision.DENY)
        return pending.answer

    def on_tool_result(self, run: ToolRun) -> None:
        self.tool_finished.emit(run)

    def on_prompt_progress(self, done: int, total: int) -> None:
        self.prompt_progress.emit(done, total)

    def on_status(self, text: str) -> None:
        self.status.emit(text)

    @Slot()
    def shutdown(self) -> None:
        """Unload, close the database connection, and end this thread's event loop: the
        last call on this thread."""
        try:
            self._engine.close()
            self._close_service()
        finally:
            thread = self.thread()
            if thread is not None:
                thread.quit()


class _Task(QRunnable):
    def __init__(
        self,
        runner: TaskRunner,
        job: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[str], None],
    ) -> None:
        super().__init__()
        self._runner = runner
        self._job = job
        self._on_done = on_done
        self._on_error = on_error

    def run(self) -> None:
        try:
            result = self._job()
        except DesktopChatError as exc:
            self._runner.finished.emit(self._on_error, str(exc))
        except Exception as exc:
            log.error("background task failed:\n%s", traceback.format_exc())
            self._runner.finished.emit(self._on_error, f"Unexpected error ({type(exc).__name__}).")
        else:
            self._runner.finished.emit(self._on_done, result)


class TaskRunner(QObject):
    """Run short jobs off the GUI thread; callbacks run on the GUI thread."""

    finished = Signal(object, object)

    def __init__(self, *, synchronous: bool = False) -> None:
        super().__init__()
        self._synchronous = synchronous
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self.finished.connect(self._on_finished)

    def run(
        self,
        job: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[str], None],
    ) -> None:
        task = _Task(self, job, on_done, on_error)
        if self._synchronous:
            task.run()
        else:
            self._pool.start(task)

    @Slot(object, object)
    def _on_finished(self, callback: Callable[[Any], None], value: Any) -> None:
        callback(value)

    def wait(self, msecs: int = 10_000) -> bool:
        return self._pool.waitForDone(msecs)
