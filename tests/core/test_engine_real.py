"""Real llama.cpp on real GGUF models from the package index."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from desktopchat.core.chat import FinishReason, GenerationParams, MessageStatus, Role
from desktopchat.core.errors import (
    ContextOverflowError,
    EmptyPromptError,
    GenerationError,
    InvalidModelFileError,
    ModelLoadError,
    ModelTooLargeError,
    NoModelLoadedError,
    NotFoundError,
    TemplateError,
)
from desktopchat.core.inference.engine import (
    Done,
    LoadConfig,
    Piece,
    PromptProgress,
    SamplingConfig,
)
from desktopchat.core.inference.llama import LlamaEngine
from desktopchat.core.inference.llama.native import LogRouter, NativeLlama
from desktopchat.core.inference.service import ChatService, ReplyStarted, ResumeMode
from desktopchat.core.models.fit import GpuDevice
from desktopchat.core.session import Core
from tests.gguf_files import copy_gguf, tiny_tensors, write_gguf

pytestmark = pytest.mark.real_model

HANG_GUARD = 120  # seconds: only a hang takes this long, on any machine

GREEDY = GenerationParams(temperature=0.0, max_tokens=24, seed=1, n_ctx=2048, n_threads=2)


def sampling(max_tokens: int = 24) -> SamplingConfig:
    return SamplingConfig.from_params(GREEDY.with_changes(max_tokens=max_tokens), 1, ())


class Recorder:
    def __init__(self) -> None:
        self.started: ReplyStarted | None = None
        self.pieces: list[str] = []
        self.progress: list[tuple[int, int]] = []

    def on_reply_started(self, started: ReplyStarted) -> None:
        self.started = started

    def on_reply_piece(self, text: str) -> None:
        self.pieces.append(text)

    def on_prompt_progress(self, done: int, total: int) -> None:
        self.progress.append((done, total))


def test_streams_tokens(loaded_engine: LlamaEngine) -> None:
    prompt = loaded_engine.tokenize(
        "<|im_start|>user\nName three colors.<|im_end|>\n<|im_start|>assistant\n", add_bos=False
    )
    events = list(loaded_engine.generate(prompt, sampling(), threading.Event()))
    pieces = [e.text for e in events if isinstance(e, Piece)]
    done = events[-1]
    assert isinstance(done, Done)
    assert len(pieces) >= 3
    assert done.reason in (FinishReason.STOP, FinishReason.LENGTH)
    assert "".join(pieces).strip()
    assert "\x00" not in "".join(pieces)


def test_greedy_is_repeatable(loaded_engine: LlamaEngine) -> None:
    """Same prompt, same cache state, same reply. (A cold prompt and a prompt replayed from
    the KV cache decode in different batch sizes, so llama.cpp's logits may differ in the
    last bits and a near-tie can flip, as llama.cpp's server documents for cache_prompt.)"""
    prompt = loaded_engine.tokenize(
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", add_bos=False
    )

    def run() -> str:
        events = loaded_engine.generate(prompt, sampling(16), threading.Event())
        return "".join(e.text for e in events if isinstance(e, Piece))

    run()
    assert run() == run()


def test_stop_takes_effect_within_one_token(loaded_engine: LlamaEngine) -> None:
    prompt = loaded_engine.tokenize(
        "<|im_start|>user\nWrite a long story about a cat.<|im_end|>\n<|im_start|>assistant\n",
        add_bos=False,
    )
    cancel = threading.Event()
    pieces = 0
    done: Done | None = None
    for event in loaded_engine.generate(prompt, sampling(400), cancel):
        if isinstance(event, Done):
            done = event
        else:
            pieces += 1
            if pieces == 5:
                cancel.set()
    assert done is not None and done.reason is FinishReason.CANCELLED
    assert done.completion_tokens <= 6


def test_chat_service_saves_and_continues_history(core: Core, loaded_engine: LlamaEngine) -> None:
    service = ChatService(core.conversations, loaded_engine, flush_interval=0.0)
    conv = core.conversations.create(params=GREEDY)
    recorder = Recorder()
    first = service.reply(
        conv.id, "My name is Ada. Say hello.", GREEDY, threading.Event(), recorder
    )
    assert recorder.started is not None
    assert first.status is MessageStatus.COMPLETE and first.text == "".join(recorder.pieces)
    second = service.plan(conv.id, "What is my name?", GREEDY)
    assert "My name is Ada" in second.text and first.text.strip()[:10] in second.text
    result = service.reply(conv.id, "What is my name?", GREEDY, threading.Event())
    path = core.conversations.active_path(conv.id)
    assert [m.role for m in path] == [Role.USER, Role.ASSISTANT] * 2
    assert path[-1].content == result.text
    assert path[-1].stats is not None and path[-1].stats.prompt_tokens == second.n_tokens
    assert result.stats.time_to_first_token is not None


def test_partial_reply_is_flushed_while_streaming(core: Core, loaded_engine: LlamaEngine) -> None:
    service = ChatService(core.conversations, loaded_engine, flush_interval=0.0)
    conv = core.conversations.create()
    seen: list[str] = []

    class Peek(Recorder):
        def on_reply_piece(self, text: str) -> None:
            super().on_reply_piece(text)
            if len(self.pieces) == 6:
                assert self.started is not None
                stored = core.conversations.get_message(self.started.assistant_message.id)
                seen.append(stored.content)
                assert stored.status is MessageStatus.PARTIAL

    service.reply(conv.id, "Count from one to twenty.", GREEDY, threading.Event(), Peek())
    assert seen and seen[0]  # the partial text was already in the database


def test_stopped_reply_is_kept_and_marked(core: Core, loaded_engine: LlamaEngine) -> None:
    service = ChatService(core.conversations, loaded_engine)
    conv = core.conversations.create()
    cancel = threading.Event()

    class StopAfterThree(Recorder):
        def on_reply_piece(self, text: str) -> None:
            super().on_reply_piece(text)
            if len(self.pieces) == 3:
                cancel.set()

    recorder = StopAfterThree()
    params = GREEDY.with_changes(max_tokens=300)
    result = service.reply(conv.id, "Tell me a long story.", params, cancel, recorder)
    assert result.status is MessageStatus.STOPPED
    stored = core.conversations.get_message(result.assistant_message_id)
    assert stored.status is MessageStatus.STOPPED
    assert stored.content == "".join(recorder.pieces) and stored.content


def test_long_history_is_trimmed_with_notice(core: Core, loaded_engine: LlamaEngine) -> None:
    service = ChatService(core.conversations, loaded_engine)
    conv = core.conversations.create()
    parent = None
    for i in range(30):
        user = core.conversations.add_message(
            conv.id, Role.USER, f"Question {i}: " + "lorem ipsum " * 40, parent_id=parent
        )
        answer = core.conversations.add_message(
            conv.id, Role.ASSISTANT, "dolor sit amet " * 40, parent_id=user.id
        )
        parent = answer.id
    recorder = Recorder()
    params = GREEDY.with_changes(max_tokens=8)
    service.reply(conv.id, "Last question?", params, threading.Event(), recorder)
    assert recorder.started is not None
    assert recorder.started.dropped_messages > 0
    assert recorder.started.prompt_tokens <= 2048 - 8


def test_too_long_prompt_is_refused_before_anything_is_stored(
    core: Core, loaded_engine: LlamaEngine
) -> None:
    service = ChatService(core.conversations, loaded_engine)
    conv = core.conversations.create()
    with pytest.raises(ContextOverflowError, match="too long"):
        service.reply(conv.id, "word " * 5000, GREEDY, threading.Event())
    with pytest.raises(EmptyPromptError):
        service.reply(conv.id, "  \n ", GREEDY, threading.Event())
    assert core.conversations.all_messages(conv.id) == []


def test_gemma_base_model_uses_the_fallback_template(core: Core, gemma_model: Path) -> None:
    engine = LlamaEngine()
    loaded = engine.load(LoadConfig(gemma_model, n_ctx=1024, n_threads=2), lambda _f, _s: None)
    try:
        assert loaded.architecture == "gemma3"
        assert loaded.chat_template is None
        service = ChatService(core.conversations, engine)
        conv = core.conversations.create()
        recorder = Recorder()
        result = service.reply(
            conv.id, "The capital of France is", GREEDY, threading.Event(), recorder
        )
        assert recorder.started is not None and "fallback" in recorder.started.template
        assert result.text.strip()
        assert "\nUser:" not in result.text  # the fallback's stop strings end the turn
        plan = service.plan(conv.id, "And of Spain?", GREEDY)
        assert plan.text.startswith("User: The capital of France is\nAssistant:")
    finally:
        engine.unload()


def test_load_progress_and_errors(starter_model: Path, tmp_path: Path) -> None:
    engine = LlamaEngine()
    progress: list[float] = []
    engine.load(LoadConfig(starter_model, 512, 2), lambda f, _s: progress.append(f))
    assert progress[0] == 0.0 and progress[-1] == 1.0 and len(progress) > 3
    assert progress == sorted(progress)
    engine.unload()
    assert engine.loaded is None
    with pytest.raises(NoModelLoadedError):
        engine.tokenize("x", add_bos=False)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(starter_model.read_bytes()[:5_000_000])
    fresh = LlamaEngine()
    with pytest.raises(InvalidModelFileError, match="truncated"):
        fresh.load(LoadConfig(truncated, 512, 2), lambda _f, _s: None)
    assert fresh.log_tail.lines() == [], "our reader refused it before llama.cpp saw it"
    small_machine = LlamaEngine(memory_probe=lambda: 50_000_000)
    with pytest.raises(ModelTooLargeError, match="needs about"):
        small_machine.load(LoadConfig(starter_model, 8192, 2), lambda _f, _s: None)


def test_context_is_capped_at_the_training_length(starter_model: Path) -> None:
    engine = LlamaEngine()
    loaded = engine.load(LoadConfig(starter_model, 100_000, 2), lambda _f, _s: None)
    try:
        assert loaded.n_ctx == loaded.n_ctx_train == 8192
    finally:
        engine.unload()


def test_model_switch(starter_model: Path, gemma_model: Path) -> None:
    engine = LlamaEngine()
    first = engine.load(LoadConfig(starter_model, 512, 2), lambda _f, _s: None)
    second = engine.load(LoadConfig(gemma_model, 512, 2), lambda _f, _s: None)
    assert (first.architecture, second.architecture) == ("llama", "gemma3")
    assert engine.loaded is second
    tokens = engine.tokenize("Hello", add_bos=True)
    events = list(engine.generate(tokens, sampling(4), threading.Event()))
    assert isinstance(events[-1], Done)
    engine.unload()


def test_load_failures_are_explained(tmp_path: Path) -> None:
    engine = LlamaEngine()
    unknown = write_gguf(tmp_path / "strange.gguf", "nonsense-arch", tiny_tensors())
    with pytest.raises(ModelLoadError, match="'nonsense-arch' model, an architecture"):
        engine.load(LoadConfig(unknown, 256, 2), lambda _f, _s: None)
    # a valid header, but not the tensors a llama model needs
    incomplete = write_gguf(tmp_path / "incomplete.gguf", "llama", tiny_tensors())
    with pytest.raises(ModelLoadError, match=r"could not load incomplete\.gguf"):
        engine.load(LoadConfig(incomplete, 256, 2), lambda _f, _s: None)
    assert engine.loaded is None


def test_explanations_for_llama_cpp_log_lines() -> None:
    from desktopchat.core.inference.llama.failures import explain_load_failure

    memory = explain_load_failure(
        "big.gguf", ["ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer"], "x"
    )
    assert "not enough memory" in memory and "smaller quantization" in memory
    damaged = explain_load_failure(
        "bad.gguf", ["llama_model_load: error: tensor 'x' data is not within the file bounds"], ""
    )
    assert "damaged" in damaged and "Download the file again" in damaged
    generic = explain_load_failure("odd.gguf", ["something else"], "Failed to load model")
    assert "Failed to load model" in generic


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{% include '/etc/passwd' %}{{ lipsum.__globals__['os'].system('touch {marker}') }}",
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
    ],
    ids=["mro walk", "file read and shell", "endless loop"],
)
def test_a_model_file_with_a_hostile_chat_template_cannot_run_or_hang(
    template: str, starter_model: Path, tmp_path: Path, core: Core
) -> None:
    marker = tmp_path / "pwned"
    path = copy_gguf(
        starter_model,
        tmp_path / "hostile.gguf",
        {"tokenizer.chat_template": template.replace("{marker}", str(marker))},
    )
    engine = LlamaEngine()
    try:
        loaded = engine.load(LoadConfig(path, 1024, 2), lambda _f, _s: None)
        assert loaded.chat_template == template.replace("{marker}", str(marker))
        conv = core.conversations.create()
        # No clock here: the render deadline must hold whatever the template does, and
        # how fast the refusal comes is measured in bench/.
        with pytest.raises(TemplateError, match="chat template"):
            ChatService(core.conversations, engine).reply(
                conv.id, "Hello", GREEDY, threading.Event()
            )
    finally:
        engine.unload()
    assert core.conversations.all_messages(conv.id) == []  # nothing stored
    assert not marker.exists()


def interrupted_chat(core: Core) -> tuple[int, int, int]:
    conv = core.conversations.create()
    user = core.conversations.add_message(
        conv.id, Role.USER, "Tell me a story about a fox.", parent_id=None
    )
    reply = core.conversations.add_message(
        conv.id,
        Role.ASSISTANT,
        "Once upon a time, a fox",
        parent_id=user.id,
        status=MessageStatus.PARTIAL,
    )  # what a crash in the middle of a reply leaves behind
    return conv.id, user.id, reply.id


def test_an_interrupted_reply_can_be_continued_where_it_ended(
    core: Core, loaded_engine: LlamaEngine
) -> None:
    conv, user, reply = interrupted_chat(core)
    service = ChatService(core.conversations, loaded_engine)
    recorder = Recorder()
    result = service.resume(conv, reply, ResumeMode.CONTINUE, GREEDY, threading.Event(), recorder)
    assert result.assistant_message_id == reply and result.status is MessageStatus.COMPLETE
    assert result.text.startswith("Once upon a time, a fox") and len(result.text) > 24
    assert recorder.started is not None and recorder.started.resumed
    assert "".join(recorder.pieces) == result.text.removeprefix("Once upon a time, a fox")
    path = core.conversations.active_path(conv)
    assert [m.id for m in path] == [user, reply] and path[-1].content == result.text


def test_an_interrupted_reply_can_be_regenerated_beside_the_old_one(
    core: Core, loaded_engine: LlamaEngine
) -> None:
    conv, user, reply = interrupted_chat(core)
    service = ChatService(core.conversations, loaded_engine)
    result = service.resume(conv, reply, ResumeMode.REGENERATE, GREEDY, threading.Event())
    assert result.assistant_message_id != reply and result.text
    path = core.conversations.active_path(conv)
    assert [m.id for m in path] == [user, result.assistant_message_id]
    old = core.conversations.get_message(reply)
    assert old.parent_id == user and old.content == "Once upon a time, a fox"  # kept


def test_only_a_reply_can_be_resumed(core: Core, loaded_engine: LlamaEngine) -> None:
    conv, user, _ = interrupted_chat(core)
    service = ChatService(core.conversations, loaded_engine)
    with pytest.raises(GenerationError, match="Only an answer"):
        service.resume(conv, user, ResumeMode.CONTINUE, GREEDY, threading.Event())
    other = core.conversations.create()
    with pytest.raises(NotFoundError):
        service.resume(other.id, user, ResumeMode.REGENERATE, GREEDY, threading.Event())


def test_a_prompt_cancelled_between_batches_stops_before_its_end(
    loaded_engine: LlamaEngine,
) -> None:
    words = " the" * 1300
    prompt = loaded_engine.tokenize(f"<|im_start|>user\n{words}<|im_end|>\n", add_bos=False)
    assert 1100 < len(prompt) < 1900  # three batches of 512 in a 2,048-token context
    cancel = threading.Event()
    events = []
    for event in loaded_engine.generate(prompt, sampling(8), cancel):
        events.append(event)
        if isinstance(event, PromptProgress):
            cancel.set()  # after the first batch
    done = events[-1]
    assert isinstance(done, Done) and done.reason is FinishReason.CANCELLED
    progress = [e for e in events if isinstance(e, PromptProgress)]
    assert len(progress) == 1 and progress[0].total > 2 * progress[0].done
    assert done.prompt_evaluated == progress[0].done < progress[0].total
    assert done.completion_tokens == 0 and not any(isinstance(e, Piece) for e in events)


FAKE_GPU = [GpuDevice("Fake GPU", 8 << 30, 8 << 30)]  # the planner's view; llama.cpp uses CPU


def weights_attempts(steps: list[str]) -> list[str]:
    """One entry per load attempt (each reports its plan first, then its progress)."""
    attempts: list[str] = []
    for step in steps:
        if step.startswith("Loading weights") and (not attempts or attempts[-1] != step):
            attempts.append(step)
    return attempts


def overcommit_refuses_huge_allocations() -> bool:
    try:
        mode = Path("/proc/sys/vm/overcommit_memory").read_text().strip()
    except OSError:
        return False
    return mode in ("0", "2")  # 1 would grant 440 GB and let the kernel kill us touching it


@pytest.fixture
def huge_context_model(starter_model: Path, tmp_path: Path) -> Path:
    """The starter model claiming a 200M-token context: a 20M-token KV cache is 440 GB, an
    allocation the CPU backend really fails (checked against the machine's RAM)."""
    if not overcommit_refuses_huge_allocations():
        pytest.skip("needs Linux with vm.overcommit_memory 0 or 2 to fail an allocation safely")
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert ram < 200 << 30, "the KV cache must be more than this machine has"
    return copy_gguf(
        starter_model, tmp_path / "huge-context.gguf", {"llama.context_length": 200_000_000}
    )


def test_running_out_of_memory_in_llama_cpp_retries_with_fewer_gpu_layers(
    huge_context_model: Path,
) -> None:
    """A real allocation failure in llama.cpp, read from its real log by the engine's own
    classifier: every attempt fails for memory, so it goes down to the CPU, then says so."""
    engine = LlamaEngine(lambda: None, gpu_probe=lambda: FAKE_GPU)
    steps: list[str] = []
    config = LoadConfig(huge_context_model, 20_000_000, 2, n_gpu_layers=16)
    with pytest.raises(ModelLoadError, match=r"not enough memory to load huge-context\.gguf"):
        engine.load(config, lambda _f, what: steps.append(what))
    attempts = weights_attempts(steps)
    assert [a.split(":")[1].split(" of ")[0].strip() for a in attempts[:-1]] == [
        "16",
        "8",
        "4",
        "2",
        "1",
    ]
    assert len(attempts) == 6 and attempts[-1].startswith("Loading weights (CPU only")
    lines = engine.log_tail.lines()
    assert any("failed to allocate" in line for line in lines), lines
    assert engine.out_of_memory(ValueError("Failed to create llama_context"))


@pytest.mark.parametrize("kind", ["unknown architecture", "missing key"])
def test_a_load_that_fails_for_another_reason_is_not_retried(kind: str, tmp_path: Path) -> None:
    architecture = "nonsense-arch" if kind == "unknown architecture" else "llama"
    path = write_gguf(tmp_path / "odd.gguf", architecture, tiny_tensors())
    engine = LlamaEngine(lambda: None, gpu_probe=lambda: FAKE_GPU)
    steps: list[str] = []
    with pytest.raises(ModelLoadError) as caught:
        engine.load(LoadConfig(path, 256, 2, n_gpu_layers=-1), lambda _f, w: steps.append(w))
    assert len(weights_attempts(steps)) == 1, steps
    assert "not enough memory" not in str(caught.value)
    assert any("error loading model" in line for line in engine.log_tail.lines())


def test_each_engine_reads_only_its_own_llama_cpp_log(
    huge_context_model: Path, starter_model: Path
) -> None:
    """Two engines in one process: one runs out of memory, the other's decisions do not
    see those lines (the log tail was once shared by every engine in the process)."""
    starving = LlamaEngine(lambda: None)
    other = LlamaEngine()
    other.load(LoadConfig(starter_model, 512, 2), lambda _f, _s: None)
    try:
        with pytest.raises(ModelLoadError, match="not enough memory"):
            starving.load(LoadConfig(huge_context_model, 20_000_000, 2), lambda _f, _s: None)
        assert starving.out_of_memory(ValueError("Failed to create llama_context"))
        assert not other.out_of_memory(ValueError("Failed to create llama_context"))
        assert not any("failed to allocate" in line for line in other.log_tail.lines())
        assert other.log_tail.lines(), "the other engine kept the lines of its own load"
    finally:
        other.unload()


def test_the_log_router_gives_each_thread_s_lines_to_the_engine_listening_there() -> None:
    router = LogRouter()
    first = LlamaEngine(native=NativeLlama(router))
    second = LlamaEngine(native=NativeLlama(router))
    oom = b"alloc_tensor_range: failed to allocate CUDA0 buffer of size 4616880128\n"
    ready, logged = threading.Barrier(2), threading.Event()

    def load_first() -> None:
        with first.capture_log():
            ready.wait(HANG_GUARD)
            router.receive(4, oom)
            router.receive(5, b" (continued)\n")
            logged.set()

    thread = threading.Thread(target=load_first, daemon=True)
    thread.start()
    with second.capture_log():
        ready.wait(HANG_GUARD)
        assert logged.wait(HANG_GUARD)
        router.receive(4, b"llama_model_load: error loading model: missing tensor 'x'\n")
    thread.join(HANG_GUARD)
    router.receive(4, oom)  # nobody listens on this thread now: only our logger sees it
    assert first.log_tail.lines() == [oom.decode().strip(), " (continued)"]
    assert second.log_tail.lines() == ["llama_model_load: error loading model: missing tensor 'x'"]
    assert first.out_of_memory(ValueError()) and not second.out_of_memory(ValueError())
