"""Reading files in a child process: the extract worker and its client.

The parsers (``parsers/``) and the chunker (``chunking.py``) are Python and C code that
hold the GIL for long stretches (regular expressions over a whole text, a PDF library's
calls). Run in the process that shows the window they made its GUI thread stall, and a
hostile file could crash it, hang it or fill its memory. So the indexer reads every file
through ``ExtractWorker``: a long-lived child process (``python -m desktopchat
--extract-worker``, or the frozen executable with the flag, as the engine host is
started) that takes one file at a time, extracts and chunks it, and sends back the text,
the chunks and what was read (size, mtime, SHA-256), or the reason it could not.

- The client may queue the next file while the child reads one (the indexer stores the
  previous file meanwhile); the child answers in order and says when it starts a file.
- A child that dies on a file (a segfault in a native library, the memory limit, killed
  by the system) fails that file with "the reader stopped on this file — it crashed
  (SIGSEGV)"; a new child is started for the files after it.
- A file that takes longer than its time limit (from its size) is given up: the child is
  killed, the file fails with "took too long to read", and a new child goes on.
- The child limits its own address space (``RLIMIT_AS``, where the system has it), so a
  zip bomb the safety checks miss raises MemoryError there ("too large to read in memory").
- It never outlives the app: it exits when its stdin closes (the app quit or was killed),
  and on Linux the kernel kills it with its parent even while it is stuck in native code.

For fault injection in tests only: when ``DESKTOPCHAT_EXTRACT_WORKER_HOOK`` names a
Python file, the child runs it once at start (before it reads any file).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from desktopchat.core.documents.types import (
    Anchor,
    ChunkText,
    DocumentError,
    ParseLimits,
    UnsupportedDocumentError,
)
from desktopchat.core.inference.ipc import FrameWriter, PipeClosedError, receive
from desktopchat.core.inference.process_engine import child_command, describe_exit, lower_priority

log = logging.getLogger(__name__)

WORKER_FLAG = "--extract-worker"
HOOK_ENVIRONMENT = "DESKTOPCHAT_EXTRACT_WORKER_HOOK"  # tests only: see the docstring
QUIT_TIMEOUT = 2.0  # seconds the child gets to exit before it is killed
TEXT_PIECE = 1 << 20  # characters of text a frame (no one unpickling holds the GIL long)
CHUNK_ROWS = 2048  # chunks a frame
_POLL = 0.1  # how often a waiting client looks at its stop event and the time limit
_DIED = ("died",)

TokenCounter = Callable[[str], int]


class ExtractCancelledError(Exception):
    """The caller's stop event was set while it waited (the worker has been ended)."""


@dataclass(frozen=True)
class ReadSettings:
    """How a file is read: the parse limits and the chunker's budget. ``count_tokens`` is
    sent to the child by pickle: a module-level function (or a picklable callable)."""

    limits: ParseLimits
    chunk_tokens: int
    overlap_tokens: int
    count_tokens: TokenCounter


@dataclass(frozen=True)
class ReadFile:
    """A file read and chunked by the worker (what ``replace_file_content`` stores)."""

    format: str
    text: str
    size: int  # the stat of exactly the bytes that were read
    mtime_ns: int
    sha256: str
    chunks: list[ChunkText]


Outcome = ReadFile | DocumentError  # UnsupportedDocumentError: the file is skipped


def worker_command() -> list[str]:
    return child_command(WORKER_FLAG)


def check_picklable(count_tokens: TokenCounter) -> None:
    """Raises TypeError when ``count_tokens`` cannot be sent to the worker."""
    try:
        pickle.dumps(count_tokens)
    except Exception as exc:
        raise TypeError(
            f"count_tokens runs in the extract worker and must be picklable "
            f"(a module-level function): {count_tokens!r}"
        ) from exc


@dataclass
class _Job:
    job_id: int
    request: tuple[Any, ...]
    time_limit: float
    started: float | None = None  # when the child said it began (monotonic)
    text: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)


class _Child:
    """One worker process, its frame pump and its stderr pump."""

    def __init__(self, command: list[str], setup: tuple[Any, ...]) -> None:
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),  # no console on Windows
        )
        lower_priority(self.process.pid)  # reading files gives way to the window
        assert self.process.stdin is not None and self.process.stdout is not None
        assert self.process.stderr is not None
        self.writer = FrameWriter(self.process.stdin)
        self.frames: queue.Queue[tuple[float, tuple[Any, ...]]] = queue.Queue()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self.pumps = [
            threading.Thread(
                target=self._pump_frames,
                args=(self.process.stdout,),
                daemon=True,
                name="extract-worker-frames",
            ),
            threading.Thread(
                target=self._pump_stderr,
                args=(self.process.stderr,),
                daemon=True,
                name="extract-worker-stderr",
            ),
        ]
        for pump in self.pumps:
            pump.start()
        self.send(*setup)
        log.info("extract worker %d started", self.process.pid)

    def send(self, *message: Any) -> None:
        with contextlib.suppress(PipeClosedError):  # it died: the frame pump says so
            self.writer.send(*message)

    def _pump_frames(self, stream: IO[bytes]) -> None:
        try:
            while True:
                frame = receive(stream)
                if frame[0] == "log":
                    _, level, name, message = frame
                    logging.getLogger(name).log(level, "[extract worker] %s", message)
                else:
                    self.frames.put((time.monotonic(), frame))
        except (PipeClosedError, OSError, pickle.UnpicklingError, EOFError):
            self.frames.put((time.monotonic(), _DIED))

    def _pump_stderr(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self.stderr_tail.append(line)
                log.info("extract worker stderr: %s", line)

    def end(self, *, ask_first: bool) -> int | None:
        """Wait for the child to end (asking it first, or not), killing it if it will not."""
        process = self.process
        if ask_first and process.poll() is None:
            self.send("quit")
            with contextlib.suppress(OSError):
                assert process.stdin is not None
                process.stdin.close()
            try:
                process.wait(timeout=QUIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("extract worker %d did not end; killing it", process.pid)
        if process.poll() is None:
            process.kill()
        returncode = process.wait()
        for pump in self.pumps:
            pump.join(timeout=1.0)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return returncode


class ExtractWorker:
    """The client: files in, ``Outcome`` out, in order. One thread drives it (``submit``,
    ``next_result``); ``close`` may come from any thread."""

    def __init__(
        self,
        *,
        memory_limit: int | None = None,
        command: list[str] | None = None,
    ) -> None:
        """``memory_limit``: bytes of address space the child may use (None: no limit)."""
        self._command = command or worker_command()
        self._setup = ("setup", os.getpid(), memory_limit)
        self._lifecycle = threading.Lock()
        self._child: _Child | None = None
        self._closed = False
        self._jobs: collections.deque[_Job] = collections.deque()
        self._ids = 0
        self.started = 0  # children started so far (a new one after each crash)

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.process.pid if child is not None else None

    @property
    def outstanding(self) -> int:
        return len(self._jobs)

    def submit(self, path: Path, settings: ReadSettings, time_limit: float) -> int:
        """Queue a file; its outcome comes from ``next_result`` after those before it."""
        self._ids += 1
        job = _Job(
            self._ids,
            (
                "read",
                self._ids,
                str(path),
                settings.limits,
                settings.chunk_tokens,
                settings.overlap_tokens,
                settings.count_tokens,
            ),
            time_limit,
        )
        child = self._running()  # a new child is sent the files queued before this one
        self._jobs.append(job)
        child.send(*job.request)
        return job.job_id

    def next_result(self, stop: threading.Event) -> tuple[int, Outcome]:
        """The oldest queued file's outcome. Raises ExtractCancelledError when ``stop`` is
        set meanwhile (the child is ended: the files queued stay unread)."""
        if not self._jobs:
            raise RuntimeError("no file was submitted")
        job = self._jobs[0]
        while True:
            child = self._running()
            if stop.is_set():
                self._abandon()
                raise ExtractCancelledError()
            if job.started is not None:
                left = job.started + job.time_limit - time.monotonic()
                if left <= 0:
                    log.warning("extract worker: %s took too long; ending it", job.request[2])
                    self._replace_child(ask_first=False)
                    self._jobs.popleft()
                    reason = f"took too long to read (given up after {job.time_limit:.0f} s)"
                    return job.job_id, DocumentError(reason)
                wait = min(_POLL, left)
            else:
                wait = _POLL
            try:
                received, frame = child.frames.get(timeout=wait)
            except queue.Empty:
                continue
            outcome = self._take(job, received, frame)
            if outcome is not None:
                self._jobs.popleft()
                return job.job_id, outcome

    def _take(self, job: _Job, received: float, frame: tuple[Any, ...]) -> Outcome | None:
        kind = frame[0]
        if frame is _DIED:
            returncode = self._replace_child(ask_first=False)
            detail = describe_exit(returncode)
            log.warning("extract worker stopped on %s: %s", job.request[2], detail)
            return DocumentError(f"the reader stopped on this file — {detail}")
        if frame[1] != job.job_id:
            raise RuntimeError(f"extract worker: frame {frame[:2]!r} for job {job.job_id}")
        if kind == "started":
            job.started = received
        elif kind == "text":
            job.text.append(frame[2])
        elif kind == "chunks":
            job.rows.extend(frame[2])
        elif kind == "done":
            return _read_file(job, frame[2])
        elif kind == "skipped":
            return UnsupportedDocumentError(frame[2])
        elif kind == "failed":
            return DocumentError(frame[2])
        return None

    def _running(self) -> _Child:
        """The child, started (with the queued files sent to it) if none runs."""
        with self._lifecycle:
            if self._closed:
                raise ExtractCancelledError()
            if self._child is None:
                self._child = _Child(self._command, self._setup)
                self.started += 1
                for job in self._jobs:
                    job.started = None
                    job.text.clear()
                    job.rows.clear()
                    self._child.send(*job.request)
            return self._child

    def _replace_child(self, *, ask_first: bool) -> int | None:
        """End the child; the next call starts a new one and sends it the queued files."""
        with self._lifecycle:
            child, self._child = self._child, None
        return child.end(ask_first=ask_first) if child is not None else None

    def _abandon(self) -> None:
        self._jobs.clear()
        self._replace_child(ask_first=False)

    def close(self) -> None:
        """End the child (asked, then killed if it does not exit). Safe from any thread."""
        with self._lifecycle:
            self._closed = True
            child, self._child = self._child, None
        if child is not None:
            child.end(ask_first=True)


def _read_file(job: _Job, meta: tuple[Any, ...]) -> ReadFile:
    """The worker's answer as the store takes it; chunk texts that are a span of the text
    came without their span (``prefix`` + ``text[start:end]``)."""
    format_, size, mtime_ns, sha256 = meta
    text = "".join(job.text)
    chunks = []
    for ordinal, prefix, whole, tokens, start, end, page, headings, first, last in job.rows:
        chunks.append(
            ChunkText(
                ordinal=ordinal,
                text=whole if whole is not None else prefix + text[start:end],
                anchor=Anchor(page=page, headings=headings, line_start=first, line_end=last),
                tokens=tokens,
                start=start,
                end=end,
            )
        )
    return ReadFile(format_, text, size, mtime_ns, sha256, chunks)


# -- the child ---------------------------------------------------------------------------


class _PipeLogHandler(logging.Handler):
    def __init__(self, writer: FrameWriter) -> None:
        super().__init__(logging.INFO)
        self._writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(PipeClosedError):
            self._writer.send("log", record.levelno, record.name, record.getMessage())


def _limit_self(parent: int, memory_limit: int | None) -> None:
    """Die with the parent (Linux: even when stuck in native code); the memory limit."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # it died before the line above
            os._exit(0)
    if memory_limit is not None:
        try:
            import resource

            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            limit = memory_limit if hard == resource.RLIM_INFINITY else min(memory_limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        except (ImportError, ValueError, OSError):
            log.info("the reader's memory limit is not supported here")


def _serve(writer: FrameWriter, request: tuple[Any, ...]) -> None:
    from desktopchat.core.documents import chunking, parsers

    _, job_id, name, limits, budget, overlap, count_tokens = request
    writer.send("started", job_id)
    path = Path(name)
    try:
        extracted = parsers.extract(path, limits)
        chunks = chunking.chunk(
            extracted, budget_tokens=budget, overlap_tokens=overlap, count_tokens=count_tokens
        )
        text = extracted.text
    except UnsupportedDocumentError as exc:
        writer.send("skipped", job_id, exc.reason)
        return
    except DocumentError as exc:
        writer.send("failed", job_id, exc.reason)
        return
    except MemoryError:
        writer.send("failed", job_id, "too large to read in memory")
        return
    except RecursionError:
        writer.send("failed", job_id, "could not be read (nested too deeply)")
        return
    except Exception as exc:  # a parser's bug fails this file only
        log.exception("reading %s failed", path)
        writer.send("failed", job_id, f"could not be read ({type(exc).__name__}: {exc})")
        return
    for start in range(0, len(text), TEXT_PIECE):
        writer.send("text", job_id, text[start : start + TEXT_PIECE])
    rows: list[tuple[Any, ...]] = []
    for c in chunks:
        span = text[c.start : c.end]
        if span and c.text.endswith(span):
            prefix, whole = c.text[: len(c.text) - len(span)], None
        else:
            prefix, whole = "", c.text
        a = c.anchor
        rows.append(
            (
                c.ordinal,
                prefix,
                whole,
                c.tokens,
                c.start,
                c.end,
                a.page,
                a.headings,
                a.line_start,
                a.line_end,
            )
        )
        if len(rows) >= CHUNK_ROWS:
            writer.send("chunks", job_id, rows)
            rows = []
    if rows:
        writer.send("chunks", job_id, rows)
    writer.send(
        "done", job_id, (extracted.format, extracted.size, extracted.mtime_ns, extracted.sha256)
    )


def _read_requests(stream: IO[bytes], inbox: queue.Queue[tuple[Any, ...]]) -> None:
    """The parent's frames, as they come; its end (a quit, or it died) ends this process."""
    try:
        while True:
            inbox.put(receive(stream))
    except (PipeClosedError, OSError, EOFError, pickle.UnpicklingError):
        os._exit(0)


def main(argv: list[str] | None = None) -> int:
    """The child's main: ``setup`` once, then ``read`` requests one at a time."""
    import faulthandler

    # Ctrl+C in a terminal reaches the whole process group; the app decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(1), "wb", buffering=1 << 16)
    os.dup2(2, 1)  # native chatter on fd 1 goes to stderr, never into the protocol
    sys.stdout = sys.stderr
    faulthandler.enable()  # a native crash leaves its traceback on stderr (the app's log)
    writer = FrameWriter(out)
    logging.basicConfig(level=logging.WARNING, handlers=[_PipeLogHandler(writer)], force=True)
    requests = sys.stdin.buffer
    inbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
    setup = receive(requests)
    _, parent, memory_limit = setup
    hook = os.environ.get(HOOK_ENVIRONMENT)
    if hook:
        import runpy

        runpy.run_path(hook)
    from desktopchat.core.documents import chunking, parsers  # noqa: F401  (loaded before the limit)

    _limit_self(parent, memory_limit)
    threading.Thread(target=_read_requests, args=(requests, inbox), daemon=True).start()
    while True:
        request = inbox.get()
        if request[0] == "quit":
            out.flush()
            return 0
        _serve(writer, request)
