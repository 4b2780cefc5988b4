"""The only module that imports llama_cpp: the library itself, its log hook and its loader.

``NativeLlama`` imports llama_cpp on first use (it costs ~0.2 s, and a window process
must never pay it) and builds ``Llama`` objects with load progress. ``LogRouter`` receives
llama.cpp's log (the reason a load failed is only ever there) and hands each line to our
logger and to the ``LogTail`` of the engine listening on the thread that wrote it, so one
engine's decisions never read another engine's lines.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger("desktopchat.llama")

# ggml_log_level: 1 debug, 2 info, 3 warn, 4 error, 5 "continue the previous line"
_LOG_LEVELS = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_CONTINUE = 5
TAIL_LINES = 40
_KV_TYPES = {"f16": "GGML_TYPE_F16", "q8_0": "GGML_TYPE_Q8_0", "q4_0": "GGML_TYPE_Q4_0"}


class LogTail:
    """The last lines llama.cpp logged for one engine (thread-safe)."""

    def __init__(self, size: int = TAIL_LINES) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=size)
        self._lock = threading.Lock()

    def append(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)

    def clear(self) -> None:
        with self._lock:
            self._lines.clear()

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)


class LogRouter:
    """llama.cpp's log to our logger, and each line to the tail listening on its thread.

    llama.cpp writes a load's lines on the thread that loads, so listening per thread
    gives each engine exactly its own lines, even with two engines in one process."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self._logger = logger
        self._lock = threading.Lock()
        self._tails: dict[int, LogTail] = {}  # thread ident -> the tail listening there
        self._levels: dict[int, int] = {}  # thread ident -> the level of its last line
        self._callback: Any = None  # the ctypes callback, kept alive while installed

    def receive(self, level: int, text: bytes) -> None:
        """One call of llama.cpp's log callback (also what tests feed real lines to)."""
        thread = threading.get_ident()
        with self._lock:
            if level != _CONTINUE:
                self._levels[thread] = _LOG_LEVELS.get(level, logging.DEBUG)
            python_level = self._levels.get(thread, logging.DEBUG)
            tail = self._tails.get(thread)
        line = text.decode("utf-8", "replace").rstrip()
        if line:
            if tail is not None:
                tail.append(line)
            self._logger.log(python_level, "%s", line)

    @contextlib.contextmanager
    def listen(self, tail: LogTail) -> Iterator[LogTail]:
        """While inside, what llama.cpp logs on this thread also goes to ``tail``."""
        thread = threading.get_ident()
        with self._lock:
            previous = self._tails.get(thread)
            self._tails[thread] = tail
        try:
            yield tail
        finally:
            with self._lock:
                if previous is None:
                    self._tails.pop(thread, None)
                else:
                    self._tails[thread] = previous

    def install(self, llama_cpp: Any) -> None:
        """Point llama_log_set at this router (once). llama.cpp keeps one callback per
        process, so the engines of a process share one router (LOG_ROUTER)."""
        with self._lock:
            if self._callback is not None:
                return

            @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
            def on_log(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
                self.receive(level, text)

            llama_cpp.llama_log_set(on_log, ctypes.c_void_p(0))
            self._callback = on_log


# Process-wide by nature: llama_log_set holds one callback for the whole process.
LOG_ROUTER = LogRouter()
# Process-wide by nature: one Llama is built at a time. Building one patches llama_cpp's
# module-level default params (construct), and llama-cpp-python points fd 1 and 2 and
# sys.stdout/stderr at /dev/null meanwhile, then puts back what it found: two built at
# once in two threads (a chat model and an embedder) left stdout on /dev/null for good,
# and the CLI's or a benchmark's output vanished.
_CONSTRUCT_LOCK = threading.Lock()


class NativeLlama:
    """llama_cpp for one engine: imported on first use, its log routed to ``router``."""

    def __init__(self, router: LogRouter = LOG_ROUTER) -> None:
        self.router = router
        self._module: Any = None
        self._lock = threading.Lock()

    @property
    def lib(self) -> Any:
        """The llama_cpp module (imported and hooked on first use; thread-safe)."""
        module = self._module
        if module is not None:  # every token asks: no lock once it is there
            return module
        with self._lock:
            if self._module is None:
                import llama_cpp

                self.router.install(llama_cpp)
                self._module = llama_cpp
            return self._module

    def version(self) -> str:
        version: str = self.lib.__version__
        return version

    def system_info(self) -> str:
        info: bytes = self.lib.llama_print_system_info()
        return info.decode("utf-8", "replace")

    def supports_gpu_offload(self) -> bool:
        return bool(self.lib.llama_supports_gpu_offload())

    def package_file(self) -> str:
        path: str = self.lib.__file__
        return path

    def json_grammar(self, schema: str) -> Any:
        """llama.cpp's grammar for any JSON object, or for JSON matching ``schema``
        (raises what the converter raises for a schema it cannot use)."""
        self.lib  # noqa: B018 - hooks the log before the grammar parser writes to it
        from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

        if not schema:
            return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        return LlamaGrammar.from_json_schema(schema, verbose=False)

    def construct(
        self,
        path: str,
        *,
        n_ctx: int,
        n_batch: int,
        n_threads: int,
        n_gpu_layers: int,
        flash_attn: bool,
        kv_cache_type: str,
        verbose: bool,
        progress: Callable[[float], None],
    ) -> Any:
        """A ``Llama`` for the file, reporting load progress (0..1) as it reads."""
        llama_cpp = self.lib

        # Llama() has no load-progress hook, but it reads its model parameters from
        # llama_model_default_params(): hand it parameters that report progress.
        @llama_cpp.llama_progress_callback  # type: ignore[untyped-decorator]
        def on_progress(fraction: float, _user_data: ctypes.c_void_p) -> bool:
            progress(float(fraction))
            return True

        bindings = llama_cpp.llama_cpp  # the module Llama() calls into
        original = bindings.llama_model_default_params

        def params_with_progress() -> Any:
            params = original()
            params.progress_callback = on_progress
            return params

        kv_type = getattr(llama_cpp, _KV_TYPES.get(kv_cache_type, "GGML_TYPE_F16"))
        with _CONSTRUCT_LOCK:
            bindings.llama_model_default_params = params_with_progress
            try:
                return self._new_llama(
                    path,
                    n_ctx=n_ctx,
                    n_batch=n_batch,
                    n_threads=n_threads,
                    n_gpu_layers=n_gpu_layers,
                    verbose=verbose,
                    flash_attn=flash_attn,
                    type_k=kv_type,
                    type_v=kv_type,
                )
            finally:
                bindings.llama_model_default_params = original

    def construct_embedder(
        self,
        path: str,
        *,
        n_ctx: int,
        n_batch: int,
        n_threads: int,
        n_gpu_layers: int = 0,
        pooling: str = "",
        verbose: bool = False,
    ) -> Any:
        """A ``Llama`` that embeds (``embedding=True``). ``n_ubatch`` is always ``n_batch``:
        BERT-family models assert unless a sequence fits one ubatch, and an ``n_ubatch``
        below llama-cpp-python's ``n_seq_max`` aborts in the constructor. ``pooling``
        ("mean", "cls", "last"; "" for the model's own) overrides the file's pooling."""
        llama_cpp = self.lib
        pooling_types = {
            "": llama_cpp.LLAMA_POOLING_TYPE_UNSPECIFIED,
            "mean": llama_cpp.LLAMA_POOLING_TYPE_MEAN,
            "cls": llama_cpp.LLAMA_POOLING_TYPE_CLS,
            "last": llama_cpp.LLAMA_POOLING_TYPE_LAST,
        }
        with _CONSTRUCT_LOCK:
            return self._new_llama(
                path,
                n_ctx=n_ctx,
                n_batch=n_batch,
                n_threads=n_threads,
                n_gpu_layers=n_gpu_layers,
                verbose=verbose,
                embedding=True,
                pooling_type=pooling_types[pooling],
            )

    def _new_llama(
        self,
        path: str,
        *,
        n_ctx: int,
        n_batch: int,
        n_threads: int,
        n_gpu_layers: int,
        verbose: bool,
        **more: Any,
    ) -> Any:
        """The one place a ``Llama`` is made (the caller holds _CONSTRUCT_LOCK):
        ``n_ubatch`` is ``n_batch``, the batch threads are the threads, the file is
        mapped; ``more`` is what a chat model or an embedder adds."""
        return self.lib.Llama(
            model_path=path,
            n_ctx=n_ctx,
            n_batch=n_batch,
            n_ubatch=n_batch,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            n_gpu_layers=n_gpu_layers,
            use_mmap=True,
            verbose=verbose,
            **more,
        )

    def sequence_embeddings(self, llama: Any, sequences: list[list[int]]) -> Any:
        """Evaluate ``sequences`` (token ids, each its own sequence) in one decode and
        return their pooled vectors as a float32 array of shape (len(sequences), n_embd),
        not normalized. The caller keeps the total within ``n_batch`` and the count
        within ``n_seq_max``."""
        import numpy as np

        llama_cpp = self.lib
        batch = llama._batch
        batch.reset()
        for seq_id, tokens in enumerate(sequences):
            batch.add_sequence(tokens, seq_id, True)  # every token an output: no warning
        llama._ctx.kv_cache_clear()
        try:
            llama._ctx.decode(batch)
        finally:
            batch.reset()
        n_embd = llama.n_embd()
        out = np.empty((len(sequences), n_embd), dtype=np.float32)
        for seq_id in range(len(sequences)):
            pointer = llama_cpp.llama_get_embeddings_seq(llama._ctx.ctx, seq_id)
            if not pointer:
                raise RuntimeError("llama.cpp returned no pooled embedding")
            out[seq_id] = np.ctypeslib.as_array(pointer, shape=(n_embd,))
        llama._ctx.kv_cache_clear()
        return out
