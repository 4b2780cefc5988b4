"""GUI-thread facades over the inference worker.

The controller owns the cancel event (set directly from the GUI thread: a queued "stop"
could not run while the worker is busy), batches streamed tokens and repaints on a
coalescing timer, and keeps the state the window shows. It makes the one engine up front
and hands it to the worker; ``backend_info``/``gpu_devices`` ask that engine (ProcessEngine:
its own process answers, llama.cpp never loads here) and are slow: call them on the task pool.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from enum import Enum
from pathlib import Path

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from desktopchat.core.chat import GenerationParams
from desktopchat.core.inference.engine import BackendInfo, Engine, LoadConfig, LoadedModel
from desktopchat.core.inference.service import (
    ChatService,
    ReplyResult,
    ReplyStarted,
    ResumeMode,
)
from desktopchat.core.models.fit import GpuDevice
from desktopchat.core.paths import AppPaths
from desktopchat.ui.workers import InferenceWorker, ReplyFailure

# The streaming reply is redrawn 12.5 times a second (its first text at once). On two
# cores every redraw takes CPU from llama.cpp's decode threads: at 40 ms the window cost
# ~1.9 ms of CPU per token and the app streamed at ~0.85x the raw engine; at 80 ms,
# ~1.1 ms and ~0.95-1.0x (bench, 3 rounds each, same hour).
REPAINT_INTERVAL_MS = 80


class ModelState(Enum):
    NONE = "none"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class ChatController(QObject):
    # requests to the worker (queued onto its thread)
    _request_load = Signal(str, object)
    _request_generate = Signal(int, str, object, int)
    _request_unload = Signal()
    _request_shutdown = Signal()
    _request_count = Signal(int, str, bool)
    _request_resume = Signal(int, int, str, object)

    # events for the window
    model_state_changed = Signal(object, str)  # ModelState, detail text
    load_progress = Signal(float, str)
    reply_started = Signal(object)  # ReplyStarted
    reply_text_changed = Signal(int, int, str)  # conversation id, message id, full text
    # conversation id, message id, the reasoning so far, still thinking
    reply_thinking_changed = Signal(int, int, str, bool)
    approval_needed = Signal(object)  # PendingApproval (answer it: answer_with)
    prompt_progress = Signal(int, int)  # prompt tokens evaluated, of (long prompts only)
    reply_finished = Signal(object)  # ReplyResult
    reply_failed = Signal(object)  # ReplyFailure
    tokens_counted = Signal(int, int, bool)  # request id, tokens (-1: unknown), exact
    busy_changed = Signal(bool)
    status = Signal(str)  # what happens before a reply starts (summarizing old turns)
    title_changed = Signal(int, str)  # conversation id, a title the model wrote

    def __init__(
        self,
        paths: AppPaths,
        make_engine: Callable[[], Engine],
        make_service: Callable[[Engine], tuple[ChatService, Callable[[], None]]],
    ) -> None:
        super().__init__()
        # Made here, up front (a ProcessEngine starts its process on first use): the window
        # asks it for backend facts on the task pool while the inference thread drives it.
        self.engine = make_engine()
        self.cancel = threading.Event()
        self.state = ModelState.NONE
        self.loaded: LoadedModel | None = None
        self.generating_conversation: int | None = None
        self._closed = False  # after shutdown, late worker events are dropped
        self._message_id = 0
        self._text_parts: list[str] = []
        self._thinking_parts: list[str] = []
        self._thinking_live = False
        self._count_requests = 0
        self._dirty = False
        self._thread = QThread()
        self._thread.setObjectName("inference")
        self._worker = InferenceWorker(paths, self.engine, make_service, self.cancel)
        self._worker.moveToThread(self._thread)
        self._request_load.connect(self._worker.load)
        self._request_generate.connect(self._worker.generate)
        self._request_unload.connect(self._worker.unload)
        self._request_shutdown.connect(self._worker.shutdown)
        self._request_count.connect(self._worker.count_tokens)
        self._request_resume.connect(self._worker.resume)
        self._worker.tokens_counted.connect(self.on_worker_tokens_counted)
        self._worker.load_progress.connect(self.on_worker_load_progress)
        self._worker.model_loaded.connect(self.on_worker_model_loaded)
        self._worker.model_load_failed.connect(self.on_worker_model_load_failed)
        self._worker.model_unloaded.connect(self.on_worker_model_unloaded)
        self._worker.reply_started.connect(self.on_worker_reply_started)
        self._worker.token_received.connect(self.on_worker_token_received)
        self._worker.prompt_progress.connect(self.on_worker_prompt_progress)
        self._worker.reply_finished.connect(self.on_worker_reply_finished)
        self._worker.reply_failed.connect(self.on_worker_reply_failed)
        self._worker.status.connect(self.on_worker_status)
        self._worker.title_changed.connect(self.on_worker_title_changed)
        self._worker.thinking_received.connect(self.on_worker_thinking_received)
        self._worker.approval_needed.connect(self.on_worker_approval_needed)
        self._repaint = QTimer(self)
        self._repaint.setInterval(REPAINT_INTERVAL_MS)
        self._repaint.timeout.connect(self.on_repaint_timeout)
        self._thread.start()

    # -- commands ------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.generating_conversation is not None or self.state is ModelState.LOADING

    def load_model(self, path: str, params: GenerationParams) -> None:
        self.state = ModelState.LOADING
        self.model_state_changed.emit(self.state, path)
        self.busy_changed.emit(True)
        self._request_load.emit(path, params)

    def needs_reload(self, path: str, params: GenerationParams) -> bool:
        if self.loaded is None:
            return True
        # The model was loaded from exactly such a config: any difference needs a reload.
        return LoadConfig.from_params(Path(path), params) != self.loaded.config

    def send(
        self,
        conversation_id: int,
        text: str,
        params: GenerationParams,
        *,
        edit_of: int | None = None,
    ) -> None:
        """Queue a reply (to a new version of user message ``edit_of``, when given)."""
        self._begin_reply(conversation_id)
        self._request_generate.emit(conversation_id, text, params, edit_of or 0)

    def _begin_reply(self, conversation_id: int) -> None:
        self._worker.reply_requests += 1  # ends any title being written
        self.cancel.clear()
        self.generating_conversation = conversation_id
        self._message_id = 0
        self._text_parts = []
        self.busy_changed.emit(True)

    def resume(
        self, conversation_id: int, message_id: int, mode: ResumeMode, params: GenerationParams
    ) -> None:
        """Continue or regenerate an earlier reply (see ChatService.resume)."""
        self._begin_reply(conversation_id)
        self._request_resume.emit(conversation_id, message_id, mode.value, params)

    def count_tokens(self, text: str) -> int:
        """Ask for the text's token count (answered by tokens_counted); returns the id.

        Far beyond the context only a prefix is sent: it tells enough ("more than N") in a
        fraction of the time, and megabytes never cross to the inference thread."""
        self._count_requests += 1
        self._worker.latest_count_request = self._count_requests
        limit = self.loaded.n_ctx * 32 if self.loaded is not None else len(text)
        self._request_count.emit(self._count_requests, text[:limit], len(text) <= limit)
        return self._count_requests

    def stop(self) -> None:
        self.cancel.set()

    def backend_info(self) -> BackendInfo:
        """The engine's llama.cpp build (on the task pool: the engine process answers)."""
        return self.engine.backend_info()

    def gpu_devices(self) -> list[GpuDevice]:
        """The GPUs the engine can use (on the task pool: the engine process answers)."""
        return self.engine.gpu_devices()

    def unload(self) -> None:
        self._request_unload.emit()

    def current_text(self) -> str:
        return "".join(self._text_parts)

    def shutdown(self, timeout_ms: int = 15_000) -> bool:
        """Stop any reply (it is saved as stopped), unload, and end the thread."""
        self._closed = True
        self.cancel.set()
        self._repaint.stop()
        # The worker ends its thread's loop itself, after closing the engine: a quit()
        # from here could end the loop before the queued shutdown ran.
        self._request_shutdown.emit()
        return self._thread.wait(timeout_ms)

    # -- worker events (GUI thread) --------------------------------------------------

    @Slot(float, str)
    def on_worker_load_progress(self, fraction: float, what: str) -> None:
        if self._closed:
            return
        self.load_progress.emit(fraction, what)

    @Slot(object)
    def on_worker_model_loaded(self, loaded: LoadedModel) -> None:
        if self._closed:
            return
        self.loaded = loaded
        self.state = ModelState.READY
        self.model_state_changed.emit(self.state, loaded.name)
        self.busy_changed.emit(self.busy)

    @Slot(str)
    def on_worker_model_load_failed(self, message: str) -> None:
        if self._closed:
            return
        self.loaded = None
        self.state = ModelState.FAILED
        self.model_state_changed.emit(self.state, message)
        self.busy_changed.emit(self.busy)

    @Slot()
    def on_worker_model_unloaded(self) -> None:
        if self._closed:
            return
        self.loaded = None
        self.state = ModelState.NONE
        self.model_state_changed.emit(self.state, "")

    @Slot(int, int, bool)
    def on_worker_tokens_counted(self, request_id: int, count: int, exact: bool) -> None:
        if not self._closed:
            self.tokens_counted.emit(request_id, count, exact)

    @Slot(object)
    def on_worker_reply_started(self, started: ReplyStarted) -> None:
        if self._closed:
            return
        self._message_id = started.assistant_message.id
        self._text_parts = [started.assistant_message.content]  # continuing: the old text
        self._thinking_parts = [started.assistant_message.reasoning]
        self._thinking_live = False
        self._repaint.start()
        self.reply_started.emit(started)

    @Slot(str)
    def on_worker_status(self, text: str) -> None:
        if not self._closed:
            self.status.emit(text)

    @Slot(int, str)
    def on_worker_title_changed(self, conversation_id: int, title: str) -> None:
        if not self._closed:
            self.title_changed.emit(conversation_id, title)

    @Slot(int, int)
    def on_worker_prompt_progress(self, done: int, total: int) -> None:
        if not self._closed:
            self.prompt_progress.emit(done, total)

    @Slot(str)
    def on_worker_thinking_received(self, text: str) -> None:
        if self._closed or self.generating_conversation is None:
            return
        self._thinking_parts.append(text)
        self._thinking_live = True
        self.reply_thinking_changed.emit(
            self.generating_conversation, self._message_id, "".join(self._thinking_parts), True
        )

    @Slot(object)
    def on_worker_approval_needed(self, pending: object) -> None:
        if self._closed:
            return
        self.approval_needed.emit(pending)

    @Slot(str)
    def on_worker_token_received(self, text: str) -> None:
        if self._closed:
            return
        if self._thinking_live and self.generating_conversation is not None:
            self._thinking_live = False  # the answer starts: the thinking collapses
            self.reply_thinking_changed.emit(
                self.generating_conversation,
                self._message_id,
                "".join(self._thinking_parts),
                False,
            )
        self._text_parts.append(text)
        self._dirty = True
        if len(self._text_parts) == 2:  # the first piece: show it now, not at the next tick
            self.on_repaint_timeout()

    @Slot()
    def on_repaint_timeout(self) -> None:
        if self._closed:
            return
        if self._dirty and self.generating_conversation is not None:
            self._dirty = False
            self.reply_text_changed.emit(
                self.generating_conversation, self._message_id, self.current_text()
            )

    @Slot(object)
    def on_worker_reply_finished(self, result: ReplyResult) -> None:
        if self._closed:
            return
        self._end_reply()
        self.reply_finished.emit(result)
        self.busy_changed.emit(self.busy)

    @Slot(object)
    def on_worker_reply_failed(self, failure: ReplyFailure) -> None:
        if self._closed:
            return
        self._end_reply()
        self.reply_failed.emit(failure)
        self.busy_changed.emit(self.busy)

    def _end_reply(self) -> None:
        self._repaint.stop()
        self._dirty = False
        self.generating_conversation = None
