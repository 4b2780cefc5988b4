"""Follow-ups and switching back evaluate only new tokens; long prompts go in batches that
report progress and can be cancelled. Real llama.cpp, real model, real database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.history import TOPICS
from bench.history import add_history as history
from desktopchat.core.chat import FinishReason, GenerationParams, MessageStatus
from desktopchat.core.inference.engine import (
    Done,
    LoadConfig,
    Piece,
    PromptProgress,
    SamplingConfig,
)
from desktopchat.core.inference.llama import LlamaEngine
from desktopchat.core.inference.llama.engine import PREFILL_MOST, SAVE_MIN_TOKENS
from desktopchat.core.inference.service import ChatService, ReplyResult
from desktopchat.core.session import Core

pytestmark = pytest.mark.real_model

GREEDY = GenerationParams(temperature=0.0, max_tokens=12, seed=1, n_ctx=4096, n_threads=2)


@pytest.fixture
def engine(starter_model: Path) -> Iterator[LlamaEngine]:
    engine = LlamaEngine()
    engine.load(LoadConfig(starter_model, n_ctx=4096, n_threads=2), lambda _f, _s: None)
    yield engine
    engine.unload()


def add_history(core: Core, exchanges: int, label: str = "") -> int:
    return history(core, exchanges, GREEDY, label or str(time.monotonic_ns()))


def ask(service: ChatService, conversation_id: int, text: str) -> ReplyResult:
    result = service.reply(conversation_id, text, GREEDY, threading.Event())
    assert result.status is MessageStatus.COMPLETE
    return result


def evaluated(result: ReplyResult) -> int:
    assert result.stats.prompt_evaluated is not None
    return result.stats.prompt_evaluated


def test_follow_up_evaluates_only_the_new_turn(core: Core, engine: LlamaEngine) -> None:
    service = ChatService(core.conversations, engine)
    conv = add_history(core, 38)
    first = ask(service, conv, "Which topic came first?")
    assert first.stats.prompt_tokens > 3000
    assert evaluated(first) == first.stats.prompt_tokens  # nothing to reuse yet
    second = ask(service, conv, "And which came last?")
    assert second.stats.prompt_tokens > first.stats.prompt_tokens
    assert evaluated(second) < 60, "only the new message (and the end of the last reply)"


def test_the_next_turn_is_prepared_while_the_user_reads(core: Core, engine: LlamaEngine) -> None:
    service = ChatService(core.conversations, engine)
    plain, prepared = add_history(core, 4, "same"), add_history(core, 4, "same")
    ask(service, plain, "Which topic came first?")
    unprepared = ask(service, plain, "And which came last?")
    ask(service, prepared, "Which topic came first?")
    done = service.prepare_next_turn(prepared, GREEDY)
    assert 0 < done <= PREFILL_MOST, "the template's opening of the next user turn"
    assert engine.prefill(engine.tokenize("Unrelated text", add_bos=True)) == 0
    second = ask(service, prepared, "And which came last?")
    assert evaluated(second) == evaluated(unprepared) - done, "the prefill was a prefix"
    assert second.text == unprepared.text


def test_switching_back_restores_the_saved_context(core: Core, engine: LlamaEngine) -> None:
    service = ChatService(core.conversations, engine)
    a = add_history(core, 38)
    b = add_history(core, 5)
    ask(service, a, "Which topic came first?")
    ask(service, b, "Say one word.")  # overwrites the context: A is saved first
    assert len(engine.states) == 1 and engine.states.size > 0
    back = ask(service, a, "And which came last?")
    assert evaluated(back) < 60
    assert back.stats.prompt_tokens > 3000


def test_a_restored_context_gives_the_same_reply_as_a_kept_one(
    core: Core, engine: LlamaEngine
) -> None:
    """The saved KV state is the context, byte for byte: greedy replies cannot tell."""
    service = ChatService(core.conversations, engine)
    kept, switched = add_history(core, 8, "twin"), add_history(core, 8, "twin")
    other = add_history(core, 3)
    ask(service, kept, "Which topic came first?")
    expected = ask(service, kept, "Name two of the topics.")
    ask(service, switched, "Which topic came first?")
    ask(service, other, "Say one word.")
    restored = ask(service, switched, "Name two of the topics.")
    assert evaluated(restored) < 60
    assert restored.text == expected.text


def test_the_cache_keeps_a_few_recent_conversations(core: Core, engine: LlamaEngine) -> None:
    service = ChatService(core.conversations, engine)
    conversations = [add_history(core, 4) for _ in range(engine.states.max_entries + 2)]
    for conv in conversations:
        ask(service, conv, "Say one word.")
    assert len(engine.states) == engine.states.max_entries
    oldest, recent = conversations[0], conversations[-2]
    assert evaluated(ask(service, recent, "Another word.")) < 60
    assert evaluated(ask(service, oldest, "Another word.")) > SAVE_MIN_TOKENS  # evicted


def long_prompt(engine: LlamaEngine, words: int) -> list[int]:
    text = " ".join(f"{TOPICS[i % len(TOPICS)]}{i}" for i in range(words))
    return engine.tokenize(
        f"<|im_start|>user\n{text}\nSummarize.<|im_end|>\n<|im_start|>assistant\n",
        add_bos=False,
    )


def test_long_prompts_report_progress_in_batches(engine: LlamaEngine) -> None:
    prompt = long_prompt(engine, 600)
    assert len(prompt) > 1200
    sampling = SamplingConfig.from_params(GREEDY, 1, ())
    events = list(engine.generate(prompt, sampling, threading.Event()))
    progress = [e for e in events if isinstance(e, PromptProgress)]
    assert [p.done for p in progress] == [*range(512, len(prompt), 512), len(prompt)]
    assert all(p.total == len(prompt) for p in progress)
    assert any(isinstance(e, Piece) for e in events)
    done = events[-1]
    assert isinstance(done, Done) and done.prompt_evaluated == len(prompt)


def test_a_long_prompt_can_be_cancelled_between_batches(engine: LlamaEngine) -> None:
    prompt = long_prompt(engine, 900)
    cancel = threading.Event()
    events = []
    for event in engine.generate(prompt, SamplingConfig.from_params(GREEDY, 1, ()), cancel):
        events.append(event)
        if isinstance(event, PromptProgress):
            cancel.set()
    done = events[-1]
    assert isinstance(done, Done) and done.reason is FinishReason.CANCELLED
    assert done.completion_tokens == 0 and not any(isinstance(e, Piece) for e in events)
    assert done.prompt_evaluated == 512
    # The next reply starts from what was evaluated, and is not cancelled by the last Stop.
    again = list(
        engine.generate(
            prompt, SamplingConfig.from_params(GREEDY, 1, ()), cancel := threading.Event()
        )
    )
    final = again[-1]
    assert isinstance(final, Done) and final.reason is not FinishReason.CANCELLED
    assert final.prompt_evaluated == len(prompt) - 512


def test_quantized_kv_cache_with_flash_attention(starter_model: Path) -> None:
    engine = LlamaEngine()
    config = LoadConfig(starter_model, 1024, 2, flash_attn=True, kv_cache_type="q8_0")
    engine.load(config, lambda _f, _s: None)
    try:
        prompt = engine.tokenize(
            "<|im_start|>user\nName a color.<|im_end|>\n<|im_start|>assistant\n", add_bos=False
        )
        events = list(
            engine.generate(prompt, SamplingConfig.from_params(GREEDY, 1, ()), threading.Event())
        )
        assert "".join(e.text for e in events if isinstance(e, Piece)).strip()
    finally:
        engine.unload()


def test_this_cpu_build_lists_no_gpu(engine: LlamaEngine) -> None:
    assert engine.gpu_devices() == []
    assert engine.loaded is not None and engine.loaded.n_gpu_layers == 0
    assert engine.loaded.placement.startswith("CPU only")


def test_the_raw_decode_loop_measures(engine: LlamaEngine) -> None:
    prompt = long_prompt(engine, 10)
    seconds = engine.benchmark_decode(prompt, 16, SamplingConfig.from_params(GREEDY, 1, ()))
    assert seconds > 0
