"""The engine in a supervised child process: same replies, and it may die without
taking the app down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from desktopchat.core.chat import FinishReason
from desktopchat.core.errors import EngineCrashedError, InvalidModelFileError, NoModelLoadedError
from desktopchat.core.inference.engine import Done, LoadConfig, Piece, SamplingConfig
from desktopchat.core.inference.llama import LlamaEngine
from desktopchat.core.inference.process_engine import ProcessEngine
from tests.gguf_files import aborting_gguf
from tests.processes import gone_within

pytestmark = pytest.mark.real_model

PROMPT = "<|im_start|>user\nName three colours.<|im_end|>\n<|im_start|>assistant\n"
GREEDY = SamplingConfig(0.0, 40, 0.95, 0.05, 1.1, max_tokens=40, seed=1)


@pytest.fixture
def engine(starter_model: Path) -> Iterator[ProcessEngine]:
    engine = ProcessEngine()
    engine.load(LoadConfig(starter_model, n_ctx=2048, n_threads=2), lambda _f, _s: None)
    yield engine
    engine.close()


def reply(engine: LlamaEngine | ProcessEngine, cancel: threading.Event | None = None) -> str:
    tokens = engine.tokenize(PROMPT, add_bos=False)
    events = list(engine.generate(tokens, GREEDY, cancel or threading.Event()))
    assert isinstance(events[-1], Done)
    return "".join(e.text for e in events if isinstance(e, Piece))


def test_the_child_gives_the_same_reply_as_the_engine_in_process(
    engine: ProcessEngine, loaded_engine: LlamaEngine
) -> None:
    assert engine.loaded is not None and engine.loaded.name == loaded_engine.loaded.name  # type: ignore[union-attr]
    assert engine.tokenize(PROMPT, add_bos=False) == loaded_engine.tokenize(PROMPT, add_bos=False)
    assert reply(engine) == reply(loaded_engine)


def test_a_prefill_crosses_the_pipe(engine: ProcessEngine) -> None:
    tokens = engine.tokenize(PROMPT, add_bos=False)
    assert engine.prefill(tokens) == 0, "an empty context is not extended by a little"
    reply(engine)  # the context now holds the prompt and the reply
    assert engine.prefill(tokens + engine.tokenize("<|im_end|>", add_bos=False)) > 0


def test_a_cancellable_history_prefill_crosses_the_pipe(engine: ProcessEngine) -> None:
    """In place of what follows the shared part (a documents reply's passages): only with
    a cancel flag, never once it is set, and the context it replaces is kept."""
    tokens = engine.tokenize(PROMPT, add_bos=False)
    first = reply(engine)
    history = tokens[:4] + engine.tokenize(" the lighthouse keeper" * 40, add_bos=False)
    assert engine.prefill(history) == 0  # no cancel flag: never a history
    stopped = threading.Event()
    stopped.set()
    assert engine.prefill(history, stopped) == 0
    assert engine.prefill(history, threading.Event()) == len(history) - 4
    assert reply(engine) == first  # the first context again, the same greedy reply


def test_load_progress_and_errors_cross_the_pipe(starter_model: Path, tmp_path: Path) -> None:
    engine = ProcessEngine()
    seen: list[float] = []
    try:
        engine.load(LoadConfig(starter_model, 2048, 2), lambda f, _what: seen.append(f))
        assert seen[0] == 0.0 and seen[-1] == 1.0 and len(seen) > 3
        not_a_model = tmp_path / "notes.gguf"
        not_a_model.write_text("hello")
        with pytest.raises(InvalidModelFileError):
            engine.load(LoadConfig(not_a_model, 2048, 2), lambda _f, _s: None)
        assert engine.loaded is None
        with pytest.raises(NoModelLoadedError):
            engine.tokenize("hi", add_bos=False)
    finally:
        engine.close()


def test_stop_reaches_the_child_within_a_token(engine: ProcessEngine) -> None:
    cancel = threading.Event()
    tokens = engine.tokenize(PROMPT, add_bos=False)
    events = []
    for event in engine.generate(tokens, GREEDY, cancel):
        events.append(event)
        cancel.set()
    done = events[-1]
    assert isinstance(done, Done) and done.reason is FinishReason.CANCELLED
    assert done.completion_tokens <= 3
    assert reply(engine)  # the next reply is not cancelled by the old stop


def test_a_killed_child_is_reported_and_a_new_one_takes_over(
    engine: ProcessEngine, starter_model: Path
) -> None:
    tokens = engine.tokenize(PROMPT, add_bos=False)
    events = engine.generate(tokens, GREEDY, threading.Event())
    assert isinstance(next(events), Piece)
    assert engine.pid is not None
    os.kill(engine.pid, signal.SIGKILL)
    with pytest.raises(EngineCrashedError, match="while writing a reply: it was killed"):
        list(events)
    assert engine.loaded is None and engine.pid is None
    engine.load(LoadConfig(starter_model, 2048, 2), lambda _f, _s: None)
    assert reply(engine)


def test_a_file_that_makes_llama_cpp_abort_is_reported(tmp_path: Path) -> None:
    path = aborting_gguf(tmp_path / "duplicate-tokens.gguf")
    engine = ProcessEngine()
    raised: list[BaseException] = []

    def load() -> None:
        try:
            engine.load(LoadConfig(path, 256, 2), lambda _f, _s: None)
        except BaseException as exc:
            raised.append(exc)

    loading = threading.Thread(target=load, daemon=True)
    loading.start()
    loading.join(120)  # a hang guard only: the crash is reported, never waited out
    assert not loading.is_alive(), "a crashed engine left the load waiting"
    assert len(raised) == 1 and isinstance(raised[0], EngineCrashedError)
    message = str(raised[0])
    assert "while loading duplicate-tokens.gguf: it crashed (SIGABRT)" in message
    assert "llama.cpp said: GGML_ASSERT(" in message  # without the build path
    engine.close()


def test_the_child_does_not_outlive_a_killed_app(starter_model: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from desktopchat.core.inference.engine import LoadConfig
        from desktopchat.core.inference.process_engine import ProcessEngine
        engine = ProcessEngine()
        engine.load(LoadConfig(Path({str(starter_model)!r}), 512, 1), lambda f, s: None)
        print(engine.pid, flush=True)
        time.sleep(60)
        """
    )
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as app:
        assert app.stdout is not None
        child = int(app.stdout.readline())
        app.kill()
    assert gone_within(child, 10), f"engine process {child} outlived the app"


COUNTING = (
    "<|im_start|>user\nCount from 1 to 300, separated by commas.<|im_end|>\n"
    "<|im_start|>assistant\n1, 2, 3, 4, 5, 6, 7, 8,"
)
LONG = SamplingConfig(0.0, 40, 0.95, 0.05, 1.0, max_tokens=160, seed=1)


def test_probing_while_a_reply_streams_answers_at_once_and_the_reply_completes(
    engine: ProcessEngine,
) -> None:
    tokens = engine.tokenize(COUNTING, add_bos=False)
    alone = list(engine.generate(tokens, LONG, threading.Event()))
    events: list[object] = []
    first_piece, finished = threading.Event(), threading.Event()

    def consume() -> None:
        for event in engine.generate(tokens, LONG, threading.Event()):
            events.append(event)
            first_piece.set()
        finished.set()

    consumer = threading.Thread(target=consume)
    consumer.start()
    assert first_piece.wait(60)
    answers: list[object] = []
    prober = threading.Thread(target=lambda: answers.append(engine.gpu_devices()))
    prober.start()
    info = engine.backend_info()  # from this thread while the inference thread reads
    prober.join(60)
    mid_reply = not finished.is_set()
    consumer.join(120)
    assert info.backends == ("CPU",) and info.version and answers == [[]]
    assert mid_reply, "the probe waited for the reply to end"
    done = events[-1]
    assert isinstance(done, Done) and done.reason is FinishReason.LENGTH
    assert done.completion_tokens == LONG.max_tokens
    text = "".join(e.text for e in events if isinstance(e, Piece))
    assert text == "".join(e.text for e in alone if isinstance(e, Piece))  # nothing mixed in


def test_a_probe_starts_the_engine_process_when_none_runs(starter_model: Path) -> None:
    engine = ProcessEngine()
    try:
        assert engine.pid is None
        info = engine.backend_info()
        first = engine.pid
        assert first is not None and info.backends == ("CPU",)
        assert info.version == version("llama_cpp_python")
        engine.load(LoadConfig(starter_model, 512, 1), lambda _f, _s: None)
        assert engine.pid == first, "the load used the process the probe started"
        engine.unload()  # ends the child
        assert engine.pid is None
        assert engine.gpu_devices() == [] and engine.pid is not None
    finally:
        engine.close()


def test_probing_never_loads_llama_cpp_into_the_calling_process(starter_model: Path) -> None:
    """A fresh process that only uses ProcessEngine (probes, a load, a reply) maps no
    libllama or libggml and never imports llama_cpp."""
    script = textwrap.dedent(
        f"""
        import sys, threading
        from pathlib import Path
        from desktopchat.core.inference.engine import LoadConfig, SamplingConfig
        from desktopchat.core.inference.process_engine import ProcessEngine
        engine = ProcessEngine()
        print(engine.backend_info().summary(), engine.gpu_devices())
        engine.load(LoadConfig(Path({str(starter_model)!r}), 512, 1), lambda f, s: None)
        tokens = engine.tokenize("Hello", add_bos=False)
        sampling = SamplingConfig(0.0, 40, 0.95, 0.05, 1.0, max_tokens=4, seed=1)
        list(engine.generate(tokens, sampling, threading.Event()))
        engine.backend_info()
        engine.close()
        maps = open("/proc/self/maps").read()
        mapped = sorted({{line.split("/")[-1] for line in maps.splitlines()
                         if "libllama" in line or "libggml" in line}})
        print("imported:", [m for m in sys.modules if m.split(".")[0] == "llama_cpp"])
        print("mapped:", mapped)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    lines = done.stdout.splitlines()
    assert lines[0].startswith("CPU"), done.stdout + done.stderr
    assert "imported: []" in lines and "mapped: []" in lines, done.stdout


def test_a_probe_of_a_crashed_child_fails_and_leaves_the_report_to_the_driving_thread(
    engine: ProcessEngine,
) -> None:
    pid = engine.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert gone_within(pid, 30)
    with pytest.raises(EngineCrashedError, match="asked which backend"):
        engine.backend_info()
    assert engine.pid == pid, "the probe left the dead child for the inference thread"
    with pytest.raises(EngineCrashedError, match="it was killed"):
        engine.tokenize(PROMPT, add_bos=False)
    assert engine.pid is None
    assert engine.backend_info().backends == ("CPU",)  # a fresh child answers
