"""The engine in a child process, supervised from the app's inference thread.

llama.cpp is native code: a malformed file can make it abort (GGML_ASSERT), and the system
may kill it for memory. Running it in its own process means that when it dies the window
stays up, the partial reply is already saved, and the user is told what happened. The
child runs a plain LlamaEngine (see engine_host); this side implements the same Engine
protocol, so the chat service cannot tell the difference.

One thread (the inference thread) drives loads and replies. ``backend_info`` and
``gpu_devices`` may be called from any thread at any time: they are answered by the child
on a side channel (see engine_host's prober), so llama.cpp never loads in this process
and asking never waits for a streaming reply to end.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import IO, Any

from desktopchat.core import errors
from desktopchat.core.errors import DesktopChatError, EngineCrashedError, NoModelLoadedError
from desktopchat.core.inference.engine import (
    BackendInfo,
    Done,
    GenerationEvent,
    LoadConfig,
    LoadedModel,
    Piece,
    ProgressCallback,
    PromptProgress,
    SamplingConfig,
)
from desktopchat.core.inference.ipc import (
    FrameWriter,
    PipeClosedError,
    pack_tokens,
    receive,
    unpack_tokens,
)
from desktopchat.core.models.fit import GpuDevice

log = logging.getLogger("desktopchat.engine")

QUIT_TIMEOUT = 2.0  # seconds the child gets to exit before it is killed
_POLL = 0.02  # how often a waiting call looks at the cancel flag (~2 tokens at 100/s)
PROBE_TIMEOUT = 120.0  # hang guard: seconds a probe waits for the child's answer
_DIED = ("died",)
_LOAD_ADVICE = (
    "The file may be damaged or made for another version of llama.cpp; it will not be "
    "loaded automatically at the next start."
)
_REPLY_ADVICE = "Your conversation is safe and the reply so far is kept. Load the model again."


def child_command(flag: str) -> list[str]:
    """The app itself started as one of its child processes (``--engine-host``,
    ``--extract-worker``): the bundle's executable, or this Python with the package."""
    if getattr(sys, "frozen", False):  # a PyInstaller bundle: the executable is the app
        return [sys.executable, flag]
    return [sys.executable, "-m", "desktopchat", flag]


def host_command(*, verbose: bool = False) -> list[str]:
    command = child_command("--engine-host")
    return [*command, "--verbose"] if verbose else command


def describe_exit(returncode: int | None) -> str:
    """How a child process ended, in words ("it crashed (SIGSEGV)")."""
    if returncode is None:
        return "it stopped responding"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if name == "SIGKILL":
            return "it was killed (SIGKILL), most likely because the system ran out of memory"
        return f"it crashed ({name})"
    return f"it exited unexpectedly (code {returncode})"


class _Probes:
    """The probe requests one child has not answered yet, each waiting on its own queue.
    Safe from any thread; when the child dies every waiting request hears ``_DIED``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, queue.Queue[tuple[Any, ...]]] = {}
        self._dead = False

    def register(self, request: int) -> queue.Queue[tuple[Any, ...]]:
        slot: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=1)
        with self._lock:
            if self._dead:
                slot.put(_DIED)
            else:
                self._waiting[request] = slot
        return slot

    def forget(self, request: int) -> None:
        with self._lock:
            self._waiting.pop(request, None)

    def answer(self, frame: tuple[Any, ...]) -> None:
        with self._lock:
            slot = self._waiting.pop(frame[1], None)
        if slot is not None:
            slot.put(frame)

    def fail_all(self) -> None:
        with self._lock:
            self._dead = True
            slots, self._waiting = list(self._waiting.values()), {}
        for slot in slots:
            slot.put(_DIED)


# Background processes (the embedding engine, the extract worker) run this much nicer than
# the app: with every core busy embedding, the window's GUI thread still gets a core at once
# (on an otherwise idle machine the niceness changes nothing).
BACKGROUND_NICENESS = 10


def lower_priority(pid: int) -> None:
    """Make the process ``pid`` (a child of ours) nicer by BACKGROUND_NICENESS; nothing
    where the system has no niceness (Windows)."""
    setpriority = getattr(os, "setpriority", None)
    if setpriority is None:
        return
    try:
        setpriority(
            os.PRIO_PROCESS, pid, os.getpriority(os.PRIO_PROCESS, pid) + BACKGROUND_NICENESS
        )
    except OSError:
        log.debug("the priority of process %d cannot be lowered", pid, exc_info=True)


class ProcessEngine:
    """An Engine whose llama.cpp lives in a child process. One thread drives it; the
    probes (``backend_info``, ``gpu_devices``) may come from any thread."""

    def __init__(self, *, background: bool = False) -> None:
        """``background``: the child runs at a lower CPU priority (BACKGROUND_NICENESS,
        where the system has it), for work behind the user's back such as indexing."""
        self._background = background
        self._command = host_command(
            verbose=logging.getLogger("desktopchat.llama").isEnabledFor(logging.DEBUG)
        )
        self._process: subprocess.Popen[bytes] | None = None
        self._writer: FrameWriter | None = None
        self._inbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=30)
        self._loaded: LoadedModel | None = None
        self._pumps: list[threading.Thread] = []
        self._probes = _Probes()
        self._probe_ids = itertools.count(1)
        # Starting and ending the child: the driving thread and probing threads both may.
        self._lifecycle = threading.RLock()

    # -- the child ---------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _start(self) -> FrameWriter:
        with self._lifecycle:
            return self._start_locked()

    def _start_locked(self) -> FrameWriter:
        if self._process is not None and self._writer is not None:
            return self._writer
        env = dict(os.environ, GGML_NO_BACKTRACE="1", PYTHONUNBUFFERED="1")
        process = subprocess.Popen(
            self._command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),  # no console on Windows
        )
        assert process.stdin is not None and process.stdout is not None
        assert process.stderr is not None
        if self._background:
            lower_priority(process.pid)
        self._process = process
        self._writer = FrameWriter(process.stdin)
        self._inbox = queue.Queue()
        self._probes = _Probes()
        self._stderr_tail.clear()
        self._pumps = [
            threading.Thread(
                target=self._pump_frames,
                args=(process.stdout, self._inbox, self._probes),
                daemon=True,
            ),
            threading.Thread(target=self._pump_stderr, args=(process.stderr,), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()
        log.info("engine process %d started", process.pid)
        return self._writer

    @staticmethod
    def _pump_frames(
        stream: IO[bytes], inbox: queue.Queue[tuple[Any, ...]], probes: _Probes
    ) -> None:
        try:
            while True:
                frame = receive(stream)
                if frame[0] == "log":
                    _, level, name, message = frame
                    logging.getLogger(name).log(level, "[engine] %s", message)
                elif frame[0] in ("probed", "probe-failed"):
                    probes.answer(frame)  # never in the inbox: a reply's frames stay whole
                else:
                    inbox.put(frame)
        except (PipeClosedError, OSError):
            probes.fail_all()
            inbox.put(_DIED)

    def _pump_stderr(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self._stderr_tail.append(line)
                log.info("engine stderr: %s", line)

    def _crashed(self, doing: str, advice: str) -> EngineCrashedError:
        """Reap the dead child and say what happened, in words and with llama.cpp's last cry."""
        returncode = self._end_child(ask_first=False)
        reasons = [line for line in self._stderr_tail if "GGML_ASSERT" in line or "error" in line]
        detail = f" llama.cpp said: {_short(reasons[-1])}." if reasons else ""
        log.error("engine process stopped %s: %s", doing, describe_exit(returncode))
        return EngineCrashedError(
            f"The model engine stopped {doing}: {describe_exit(returncode)}.{detail} {advice}"
        )

    def _end_child(self, *, ask_first: bool) -> int | None:
        """Wait for the child to end (asking it to, or killing it if it will not)."""
        with self._lifecycle:
            return self._end_child_locked(ask_first=ask_first)

    def _end_child_locked(self, *, ask_first: bool) -> int | None:
        process = self._process
        if process is None:
            return None
        if ask_first:
            self._send("quit")
        try:
            returncode = process.wait(timeout=QUIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            log.warning("engine process %d did not end; killing it", process.pid)
            process.kill()
            returncode = process.wait()
        for pump in self._pumps:  # they end at the pipes' end; stderr's last words included
            pump.join(timeout=1.0)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._process = None
        self._writer = None
        self._loaded = None
        return returncode

    def _send(self, *command: Any) -> None:
        writer = self._start()
        with contextlib.suppress(PipeClosedError):  # it died: the next receive says how
            writer.send(*command)

    def _receive(
        self, doing: str, advice: str = _REPLY_ADVICE, cancel: threading.Event | None = None
    ) -> tuple[Any, ...]:
        cancel_sent = False
        while True:
            if cancel is not None and not cancel_sent and cancel.is_set():
                self._send("cancel")
                cancel_sent = True
            try:
                frame = self._inbox.get(timeout=_POLL)
            except queue.Empty:
                frame = None
            if frame is None:
                continue
            if frame is _DIED:
                raise self._crashed(doing, advice)
            if frame[0] == "error":
                raise _rebuild_error(frame[1], frame[2])
            return frame

    def request(
        self,
        kind: str,
        *args: Any,
        doing: str,
        advice: str = _REPLY_ADVICE,
        cancel: threading.Event | None = None,
    ) -> tuple[Any, ...]:
        """One command to the child (started if none runs) and the frame that answers it,
        for commands answered by one frame (ProcessEmbedder's ``embed-*``). An ``error``
        frame is raised as its DesktopChatError; a child that dies raises
        EngineCrashedError saying what it was ``doing`` and the ``advice``; ``cancel``
        set sends ``cancel`` to the child (which answers with an error)."""
        self._send(kind, *args)
        return self._receive(doing, advice, cancel=cancel)

    # -- the Engine protocol -----------------------------------------------------------

    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    def load(self, config: LoadConfig, progress: ProgressCallback) -> LoadedModel:
        self._loaded = None
        self._send("load", config)
        doing = f"while loading {config.path.name}"
        while True:
            frame = self._receive(doing, _LOAD_ADVICE)
            if frame[0] == "progress":
                progress(frame[1], frame[2])
            else:
                loaded: LoadedModel = frame[1]
                self._loaded = loaded
                return loaded

    def unload(self) -> None:
        """Stop the child: the only way to hand all of a model's memory back at once."""
        self.close()

    def close(self) -> None:
        self._end_child(ask_first=True)

    def tokenize(self, text: str, *, add_bos: bool) -> list[int]:
        self._require()
        self._send("tokenize", text, add_bos)
        return unpack_tokens(self._receive("while reading the prompt")[1])

    def generate(
        self, prompt_tokens: list[int], sampling: SamplingConfig, cancel: threading.Event
    ) -> Iterator[GenerationEvent]:
        self._require()
        self._send("generate", pack_tokens(prompt_tokens), sampling)
        while True:
            frame = self._receive("while writing a reply", cancel=cancel)
            if frame[0] == "piece":
                yield Piece(frame[1])
            elif frame[0] == "prompt":
                yield PromptProgress(frame[1], frame[2])
            else:
                done: Done = frame[1]
                yield done
                return

    def prefill(self, tokens: list[int], cancel: threading.Event | None = None) -> int:
        self._require()
        if cancel is not None and cancel.is_set():
            return 0  # a reply is asked for already
        self._send("prefill", pack_tokens(tokens), cancel is not None)
        evaluated: int = self._receive("while preparing the next turn", cancel=cancel)[1]
        return evaluated

    def backend_info(self) -> BackendInfo:
        info: BackendInfo = self._probe()[0]
        return info

    def gpu_devices(self) -> list[GpuDevice]:
        devices: list[GpuDevice] = self._probe()[1]
        return devices

    def _probe(self) -> tuple[Any, ...]:
        """Ask the child (started if none runs) which backend and GPUs it has. Waits only
        for that answer, never for a reply in progress. If the child is ended on purpose
        meanwhile (an unload), asks the next one once."""
        for _ in range(2):
            with self._lifecycle:
                writer = self._start()
                process, probes = self._process, self._probes
            request = next(self._probe_ids)
            slot = probes.register(request)
            with contextlib.suppress(PipeClosedError):  # it died: the slot hears it
                writer.send("probe", request)
            try:
                frame = slot.get(timeout=PROBE_TIMEOUT)
            except queue.Empty:
                probes.forget(request)
                raise EngineCrashedError(
                    "The model engine did not say which backend it runs on."
                ) from None
            if frame[0] == "probed":
                return frame[2:]
            if frame[0] == "probe-failed":
                raise EngineCrashedError(f"The model engine could not list its backend: {frame[2]}")
            with self._lifecycle:
                replaced = self._process is not process
            if not replaced:  # it crashed: the driving thread reports how
                break
        raise EngineCrashedError(
            "The model engine stopped while it was asked which backend it runs on."
        )

    def _require(self) -> None:
        if self._loaded is None:
            raise NoModelLoadedError()


def _short(line: str, limit: int = 200) -> str:
    line = line.strip()
    # "/long/build/path/llama-vocab.cpp:2544: GGML_ASSERT(...) failed" -> from GGML_ASSERT
    index = line.find("GGML_ASSERT")
    if index > 0:
        line = line[index:]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _rebuild_error(class_name: str, message: str) -> DesktopChatError:
    cls = getattr(errors, class_name, None)
    if isinstance(cls, type) and issubclass(cls, DesktopChatError):
        return cls(message)
    return errors.GenerationError(message)
