"""LlamaEngine: one model loaded with llama.cpp, and its replies.

Generation drives ``Llama.generate``'s machinery directly (llama.cpp's native sampler
chain, one decode per token, prefix reuse of the KV cache) and detokenizes incrementally,
rather than going through the OpenAI-style completion wrappers. Each engine keeps its own
tail of llama.cpp's log, so deciding why its load failed reads only its own lines.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from desktopchat.core.chat import FinishReason
from desktopchat.core.errors import (
    DesktopChatError,
    ModelLoadError,
    ModelTooLargeError,
    NoModelLoadedError,
)
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
from desktopchat.core.inference.llama.backends import BackendProbe
from desktopchat.core.inference.llama.benchmark import time_decode, time_prompt
from desktopchat.core.inference.llama.context import (
    clear_context,
    decode_one,
    restore_state,
    save_state,
)
from desktopchat.core.inference.llama.failures import explain_load_failure, ran_out_of_memory
from desktopchat.core.inference.llama.grammar import JsonGrammars
from desktopchat.core.inference.llama.native import LogTail, NativeLlama
from desktopchat.core.inference.state_cache import StateCache, common_prefix
from desktopchat.core.inference.stops import StopMatcher
from desktopchat.core.models.fit import (
    GpuDevice,
    OffloadPlan,
    available_memory,
    estimate,
    load_with_fallback,
    plan_offload,
)
from desktopchat.core.models.gguf import read_gguf
from desktopchat.core.models.library import human_size

log = logging.getLogger("desktopchat.llama")

N_BATCH = 512
# Save the context before a prompt overwrites it only when that throws away at least this
# many evaluated tokens (another conversation), and restore a saved one only when it
# saves evaluating at least RESTORE_GAIN tokens.
SAVE_MIN_TOKENS = 128
RESTORE_GAIN = 32
PREFILL_MOST = 64  # a prefill adds (and drops) at most this: a turn's opening...
# ...unless its caller can cancel it (a reply asked for stops it between batches): then it
# may evaluate up to this much history in place of what the context holds after the shared
# part, once that is kept in the saved contexts. After a reply with documents the context
# holds the question with its passages, which leave the history; the next prompt has the
# question without them, then the reply.
PREFILL_HISTORY_MOST = 4096
PREFILL_BATCH = 128  # it looks at its cancel flag this often: a reply waits at most that


class LlamaEngine:
    """Holds at most one loaded model. One thread owns it; ``backend_info`` and
    ``gpu_devices`` may also be called from other threads."""

    def __init__(
        self,
        memory_probe: Callable[[], int | None] = available_memory,
        *,
        quiet: bool = True,
        states: StateCache | None = None,
        n_batch: int = N_BATCH,
        native: NativeLlama | None = None,
        gpu_probe: Callable[[], list[GpuDevice]] | None = None,
    ) -> None:
        """``quiet`` silences llama.cpp's own stderr during loads (its log reaches us
        anyway); the engine process turns it off so an abort message is not lost.
        ``states`` keeps recent contexts for switching back (see state_cache).
        ``n_batch``: prompt tokens evaluated per step (the benchmark compares sizes).
        ``gpu_probe`` replaces asking ggml for GPUs (tests of the GPU fallback on a CPU
        build)."""
        self._memory_probe = memory_probe
        self._quiet = quiet
        self._n_batch = n_batch
        self.states = states if states is not None else StateCache()
        self._native = native if native is not None else NativeLlama()
        self._backends = BackendProbe(self._native)
        self._gpu_probe = gpu_probe if gpu_probe is not None else self._backends.gpu_devices
        self._grammars = JsonGrammars(self._native)
        self.log_tail = LogTail()  # llama.cpp's last lines for this engine's loads
        self._llama: Any = None
        self._loaded: LoadedModel | None = None
        self._vocab: Any = None
        self._pieces: dict[tuple[int, bool], bytes] = {}
        self._piece_buffer = ctypes.create_string_buffer(256)

    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    def backend_info(self) -> BackendInfo:
        return self._backends.backend_info()

    def gpu_devices(self) -> list[GpuDevice]:
        return self._backends.gpu_devices()

    @contextlib.contextmanager
    def capture_log(self) -> Iterator[LogTail]:
        """Empty this engine's log tail, then collect in it what llama.cpp logs on this
        thread while inside (one load attempt)."""
        self.log_tail.clear()
        with self._native.router.listen(self.log_tail) as tail:
            yield tail

    def out_of_memory(self, exc: Exception) -> bool:
        """Whether a failed load attempt ran out of memory, by this engine's log tail."""
        return not isinstance(exc, DesktopChatError) and ran_out_of_memory(self.log_tail.lines())

    def load(self, config: LoadConfig, progress: ProgressCallback) -> LoadedModel:
        self.unload()
        started = time.perf_counter()
        progress(0.0, "Checking the model file")
        info = read_gguf(config.path)  # our bounded reader sees the file before llama.cpp
        n_ctx = config.n_ctx
        if info.context_length and n_ctx > info.context_length:
            n_ctx = info.context_length
        needed = estimate(info, n_ctx, config.kv_cache_type)
        llama_cpp = self._native.lib
        devices = self._gpu_probe() if config.n_gpu_layers != 0 else []
        plan = plan_offload(needed, devices, config.n_gpu_layers)
        free = self._memory_probe()
        if free is not None and plan.ram_bytes > free:
            raise ModelTooLargeError(
                f"{info.name} needs about {human_size(plan.ram_bytes)} of memory "
                f"({human_size(needed.weights)} weights + {human_size(needed.kv_cache)} for a "
                f"{n_ctx:,}-token context), but only {human_size(free)} is free. "
                "Choose a smaller context, a smaller quantization, or close other programs."
            )
        log.info("loading %s: %s", config.path.name, plan.describe())

        def attempt(plan: OffloadPlan) -> Any:
            what = f"Loading weights ({plan.describe()})"
            progress(0.05, what)
            with self.capture_log():
                return self._native.construct(
                    str(config.path),
                    n_ctx=n_ctx,
                    n_batch=min(self._n_batch, n_ctx),
                    n_threads=config.n_threads,
                    n_gpu_layers=plan.n_gpu_layers,
                    flash_attn=config.flash_attn,
                    kv_cache_type=config.kv_cache_type,
                    verbose=not self._quiet,
                    progress=lambda fraction: progress(0.05 + 0.85 * fraction, what),
                )

        try:
            llama, plan = load_with_fallback(needed, devices, plan, attempt, self.out_of_memory)
        except DesktopChatError:
            raise
        except (ValueError, RuntimeError, OSError) as exc:
            message = explain_load_failure(config.path.name, self.log_tail.lines(), str(exc))
            raise ModelLoadError(message) from None
        metadata: dict[str, str] = llama.metadata
        model = llama._model
        vocab = llama_cpp.llama_model_get_vocab(model.model)
        add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
        self._llama = llama
        self._vocab = vocab
        self._pieces = {}
        self._loaded = LoadedModel(
            config=config,
            name=info.name,
            architecture=info.architecture,
            n_ctx=llama.n_ctx(),
            n_ctx_train=model.n_ctx_train(),
            chat_template=metadata.get("tokenizer.chat_template") or None,
            bos_text=self._token_text(llama.token_bos()),
            eos_text=self._token_text(llama.token_eos()),
            add_bos=add_bos,
            load_seconds=time.perf_counter() - started,
            placement=plan.describe(),
            n_gpu_layers=plan.n_gpu_layers,
            backend=self.backend_info().accelerator if plan.n_gpu_layers else "CPU",
        )
        progress(1.0, "Ready")
        return self._loaded

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        with contextlib.suppress(Exception):
            text: str = self._llama._model.token_get_text(token)
            return text
        return ""

    def _piece(self, token: int, special: bool = False) -> bytes:
        """The bytes of one token (cached: a vocabulary is small, tokens repeat); a special
        token's text only with ``special``."""
        piece = self._pieces.get((token, special))
        if piece is None:
            llama_cpp = self._native.lib
            buffer = self._piece_buffer
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, special)
            if n < 0:  # the piece is longer than the buffer: -n bytes are needed
                buffer = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(self._vocab, token, buffer, -n, 0, special)
            piece = buffer.raw[: max(n, 0)]
            self._pieces[(token, special)] = piece
        return piece

    def unload(self) -> None:
        if self._llama is not None:
            self._llama.close()
        self._llama = None
        self._loaded = None
        self.states.clear()  # saved contexts belong to the model

    close = unload

    def _require(self) -> Any:
        if self._llama is None:
            raise NoModelLoadedError()
        return self._llama

    def tokenize(self, text: str, *, add_bos: bool) -> list[int]:
        tokens: list[int] = self._require().tokenize(
            text.encode("utf-8"), add_bos=add_bos, special=True
        )
        return tokens

    def generate(
        self, prompt_tokens: list[int], sampling: SamplingConfig, cancel: threading.Event
    ) -> Iterator[GenerationEvent]:
        """llama.cpp's own sampler chain, one decode per token, incremental detokenizing.

        The prompt is evaluated after the longest prefix already in the context (or in a
        saved context of a recent conversation), in batches, with progress, and can be
        cancelled between batches."""
        llama = self._require()
        n_ctx = llama.n_ctx()
        room = n_ctx - len(prompt_tokens)
        if room <= 0 or not prompt_tokens:
            yield Done(FinishReason.CONTEXT, 0, 0)
            return
        limit = min(sampling.max_tokens, room)
        reason = FinishReason.LENGTH if limit == sampling.max_tokens else FinishReason.CONTEXT
        pending = self._prepare_context(llama, prompt_tokens)
        evaluated = len(pending)
        batch = llama.n_batch
        for start in range(0, len(pending), batch):
            if cancel.is_set():
                yield Done(FinishReason.CANCELLED, 0, start)
                return
            llama.eval(pending[start : start + batch])
            if len(pending) > batch:
                yield PromptProgress(min(start + batch, len(pending)), len(pending))
        sampler = self._sampler(llama, sampling)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = StopMatcher(sampling.stop)
        count = 0
        vocab = self._vocab
        is_eog = self._native.lib.llama_vocab_is_eog
        while not cancel.is_set():
            token = sampler.sample(llama._ctx, -1)  # samples and accepts
            if is_eog(vocab, token):
                reason = FinishReason.STOP
                break
            count += 1
            text = decoder.decode(self._piece(token, sampling.special))
            if text:
                visible, hit = stops.feed(text)
                if visible:
                    yield Piece(visible)
                if hit:
                    reason = FinishReason.STOP
                    break
            if count >= limit or cancel.is_set():
                break
            decode_one(llama, token)
        if cancel.is_set() and reason is not FinishReason.STOP:
            reason = FinishReason.CANCELLED
        tail = stops.flush() + decoder.decode(b"", final=True)
        if tail:
            yield Piece(tail)
        yield Done(reason, count, evaluated)

    def _sampler(self, llama: Any, sampling: SamplingConfig) -> Any:
        """llama.cpp's native sampler chain for these settings, seeded; with a JSON
        grammar first in JSON mode, so that only tokens that keep the reply valid JSON
        (valid for the schema, when there is one) can be drawn."""
        llama.set_seed(sampling.seed)
        return llama._init_sampler(
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            temp=sampling.temperature,
            repeat_penalty=sampling.repeat_penalty,
            grammar=self._grammars.get(sampling.json_schema) if sampling.json_mode else None,
        )

    def prefill(self, tokens: list[int], cancel: threading.Event | None = None) -> int:
        llama = self._require()
        current = llama.input_ids[: llama.n_tokens].tolist()
        reuse = common_prefix(current, tokens)
        pending, dropped = len(tokens) - reuse, len(current) - reuse
        if not reuse or pending <= 0 or len(tokens) >= llama.n_ctx():
            return 0
        if pending > PREFILL_MOST or dropped > PREFILL_MOST:  # a history, not an opening
            if cancel is None or cancel.is_set() or pending > PREFILL_HISTORY_MOST:
                return 0
            if dropped >= SAVE_MIN_TOKENS:  # never lose it: a regenerate restores it
                data = save_state(self._native, llama)
                if data is None or not self.states.put(current, data):
                    return 0
        if not llama._ctx.kv_cache_seq_rm(-1, reuse, -1):
            return 0
        llama.n_tokens = reuse
        todo = tokens[reuse:]
        batch = min(llama.n_batch, PREFILL_BATCH)
        for start in range(0, len(todo), batch):
            if cancel is not None and cancel.is_set():
                return start  # what is evaluated stays: a prefix of the next prompt
            llama.eval(todo[start : start + batch])
        return pending

    def _prepare_context(self, llama: Any, prompt: list[int]) -> list[int]:
        """Make the context hold the longest available prefix of ``prompt``; returns the
        tokens still to evaluate (at least one: sampling needs fresh logits)."""
        current = llama.input_ids[: llama.n_tokens].tolist()
        reuse = common_prefix(current, prompt)
        found = self.states.best(prompt)
        if found is not None and found[1] < reuse + RESTORE_GAIN:
            found = None
        if found is not None:
            self.states.take(found[0])  # before saving: the save may need its room
        if len(current) - reuse >= SAVE_MIN_TOKENS:  # leaving a conversation: keep it
            data = save_state(self._native, llama)
            if data is not None:
                kept = self.states.put(current, data)
                log.debug(
                    "saved a %d-token context (%d bytes, kept: %s)", len(current), len(data), kept
                )
        if found is not None:
            entry, shared = found
            reuse = shared if restore_state(self._native, llama, entry.tokens, entry.data) else 0
        reuse = min(reuse, len(prompt) - 1)
        if reuse <= 0 or not llama._ctx.kv_cache_seq_rm(-1, reuse, -1):
            clear_context(llama)
            reuse = 0
        llama.n_tokens = reuse
        return prompt[reuse:]

    def benchmark_prompt(self, prompt_tokens: list[int]) -> float:
        """Seconds to evaluate ``prompt_tokens`` in an empty context, in batches of
        ``n_batch`` (the benchmark's prompt-processing figure)."""
        return time_prompt(self._require(), prompt_tokens)

    def benchmark_decode(
        self, prompt_tokens: list[int], n_tokens: int, sampling: SamplingConfig
    ) -> float:
        """The raw decode loop, for the benchmark's baseline; the seconds taken by
        ``n_tokens`` decodes after the prompt."""
        llama = self._require()
        time_prompt(llama, prompt_tokens)
        return time_decode(llama, self._sampler(llama, sampling), n_tokens)
