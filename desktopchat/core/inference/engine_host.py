"""The engine process: runs a LlamaEngine for the app and answers over a pipe.

Started by ProcessEngine as ``python -m desktopchat --engine-host`` (or the frozen
executable with ``--engine-host``). Commands arrive on stdin, one at a time, except
``cancel``, which a reader thread applies at once so a streaming reply stops within a
token, and ``probe`` (which backend and GPUs llama.cpp has), which a probe thread answers
beside whatever the main loop is doing, so asking never waits for a reply to end.
Replies, pieces, load progress and log records go out on the original stdout; the real
file descriptor 1 is pointed at stderr so nothing native can corrupt the stream.
When stdin closes (the app quit or was killed) the process exits.

The same process can embed instead (ProcessEmbedder starts one of its own, so indexing
never evicts the chat model): ``embed-load`` loads a LlamaEmbedder (a GGUF file, or the
built-in model for None), ``embed`` returns normalized float32 vectors and honours
``cancel`` between decodes, ``embed-count`` counts tokens.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from typing import IO, Any

from desktopchat.core.errors import DesktopChatError
from desktopchat.core.inference.engine import (
    Done,
    GenerationEvent,
    LoadConfig,
    Piece,
    SamplingConfig,
)
from desktopchat.core.inference.ipc import (
    FrameWriter,
    PipeClosedError,
    pack_tokens,
    receive,
    unpack_tokens,
)
from desktopchat.core.inference.llama import LlamaEngine

PIECE_INTERVAL = 0.03  # seconds of pieces gathered into one frame


class _PipeLogHandler(logging.Handler):
    def __init__(self, writer: FrameWriter) -> None:
        super().__init__()
        self._writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(PipeClosedError):
            self._writer.send("log", record.levelno, record.name, record.getMessage())


def _protocol_streams() -> tuple[IO[bytes], IO[bytes]]:
    """Our private copies of stdin/stdout; fd 1 becomes stderr for native chatter."""
    out = os.fdopen(os.dup(1), "wb", buffering=1 << 16)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return sys.stdin.buffer, out


class _Prober:
    """Answers ``probe`` requests on its own thread: ("probed", id, BackendInfo, devices).
    A frame is written whole under the writer's lock, so an answer can sit between two
    pieces of a streaming reply without mixing with them."""

    def __init__(self, engine: LlamaEngine, writer: FrameWriter) -> None:
        self._engine = engine
        self._writer = writer
        self._requests: queue.Queue[int] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="probes", daemon=True)
        self._thread.start()

    def ask(self, request: int) -> None:
        self._requests.put(request)

    def _run(self) -> None:
        while True:
            request = self._requests.get()
            try:
                answer: tuple[Any, ...] = (
                    "probed",
                    request,
                    self._engine.backend_info(),
                    self._engine.gpu_devices(),
                )
            except Exception as exc:
                logging.getLogger(__name__).error("probe failed:\n%s", traceback.format_exc())
                answer = ("probe-failed", request, f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(PipeClosedError):
                self._writer.send(*answer)


def _read_commands(
    stream: IO[bytes],
    commands: queue.Queue[tuple[Any, ...] | None],
    cancel: threading.Event,
    prober: _Prober,
) -> None:
    try:
        while True:
            command = receive(stream)
            if command[0] == "cancel":
                cancel.set()
            elif command[0] == "probe":
                prober.ask(command[1])
            else:
                commands.put(command)
    except (PipeClosedError, OSError):
        pass
    # The app is gone (or told us to quit): never outlive it, even mid-decode.
    commands.put(None)
    cancel.set()


def _error(writer: FrameWriter, exc: BaseException) -> None:
    if isinstance(exc, DesktopChatError):
        writer.send("error", type(exc).__name__, str(exc))
    else:
        logging.getLogger(__name__).error("engine error:\n%s", traceback.format_exc())
        writer.send("error", "", f"{type(exc).__name__} in the engine; details are in the log")


def _stream(events: Iterator[GenerationEvent], writer: FrameWriter) -> None:
    """Forward a reply. The first piece goes at once (time to first token); later pieces
    are gathered for PIECE_INTERVAL, so the app wakes ~30 times a second instead of once
    per token: on a machine whose cores all decode, every wake-up delays a token."""
    pending: list[str] = []
    sent = 0.0
    first = True
    for event in events:
        if isinstance(event, Piece):
            pending.append(event.text)
            now = time.monotonic()
            if first or now - sent >= PIECE_INTERVAL:
                writer.send("piece", "".join(pending))
                pending.clear()
                sent = now
                first = False
            continue
        if pending:
            writer.send("piece", "".join(pending))
            pending.clear()
        if isinstance(event, Done):
            writer.send("ok", event)
        else:
            writer.send("prompt", event.done, event.total)


class _Embedding:
    """The embed commands: at most one LlamaEmbedder, loaded on ``embed-load``."""

    COMMANDS = ("embed-load", "embed", "embed-count")

    def __init__(self) -> None:
        self._embedder: Any = None

    def handle(
        self, kind: str, args: list[Any], cancel: threading.Event, writer: FrameWriter
    ) -> None:
        if kind == "embed-load":
            from desktopchat.core.documents.default_embedder import default_embedder_path
            from desktopchat.core.inference.llama.embedding import LlamaEmbedder

            path, options = args
            self.close()
            model = path if path is not None else default_embedder_path()
            self._embedder = LlamaEmbedder(model, **options)
            e = self._embedder
            writer.send("ok", (e.model_id, e.dimensions, e.max_tokens, str(e.path)))
            return
        if self._embedder is None:
            writer.send("error", "NoModelLoadedError", "No embedding model is loaded.")
            return
        if kind == "embed":
            cancel.clear()
            vectors = self._embedder.embed_array(args[0], cancel)
            writer.send("ok", (vectors.shape[0], vectors.shape[1], vectors.tobytes()))
        else:
            writer.send("ok", [self._embedder.count_tokens(text) for text in args[0]])

    def close(self) -> None:
        embedder, self._embedder = self._embedder, None
        if embedder is not None:
            embedder.close()


def serve(
    engine: LlamaEngine, inbound: IO[bytes], writer: FrameWriter, *, exit_on_close: bool = True
) -> None:
    cancel = threading.Event()
    commands: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
    prober = _Prober(engine, writer)
    reader = threading.Thread(
        target=_read_commands,
        args=(inbound, commands, cancel, prober),
        name="commands",
        daemon=True,
    )
    reader.start()
    embedding = _Embedding()
    while (command := commands.get()) is not None:
        kind, *args = command
        try:
            if kind == "load":
                config: LoadConfig = args[0]
                loaded = engine.load(config, lambda f, what: writer.send("progress", f, what))
                writer.send("ok", loaded)
            elif kind == "tokenize":
                text, add_bos = args
                writer.send("ok", pack_tokens(engine.tokenize(text, add_bos=add_bos)))
            elif kind == "generate":
                tokens, sampling = unpack_tokens(args[0]), args[1]
                assert isinstance(sampling, SamplingConfig)
                cancel.clear()
                _stream(engine.generate(tokens, sampling, cancel), writer)
            elif kind == "prefill":  # args[1]: the caller can cancel it
                cancel.clear()
                tokens = unpack_tokens(args[0])
                writer.send("ok", engine.prefill(tokens, cancel if args[1] else None))
            elif kind == "unload":
                engine.unload()
                writer.send("ok", None)
            elif kind in _Embedding.COMMANDS:
                embedding.handle(kind, args, cancel, writer)
            elif kind == "quit":
                break
            else:
                writer.send("error", "", f"unknown command {kind!r}")
        except PipeClosedError:
            break
        except Exception as exc:
            _error(writer, exc)
    engine.unload()
    embedding.close()
    if exit_on_close:
        os._exit(0)  # skip interpreter teardown: llama.cpp's threads may still be parked


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Ctrl+C in a terminal reaches the whole process group; the app decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inbound, out = _protocol_streams()
    writer = FrameWriter(out)
    root = logging.getLogger()
    root.handlers[:] = [_PipeLogHandler(writer)]
    verbose = "--verbose" in argv
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("desktopchat.llama").setLevel(logging.DEBUG if verbose else logging.WARNING)
    serve(LlamaEngine(quiet=False), inbound, writer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
