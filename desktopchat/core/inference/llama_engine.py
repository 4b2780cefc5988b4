"""The llama.cpp engine: the only module that imports llama_cpp.

Generation drives ``Llama.generate`` directly (llama.cpp's native sampler chain, one decode
per token, prefix reuse of the KV cache) and detokenizes incrementally, rather than going
through the OpenAI-style completion wrappers. llama.cpp's log is routed to our logger and
its last lines are kept, because the reason a load failed is only ever in the log.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import ctypes
import functools
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from desktopchat.core.chat import FinishReason
from desktopchat.core.errors import (
    DesktopChatError,
    GenerationError,
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
PREFILL_MOST = 64  # a prefill adds (and drops) at most this: a turn's opening, never a history
_KV_TYPES = {"f16": "GGML_TYPE_F16", "q8_0": "GGML_TYPE_Q8_0", "q4_0": "GGML_TYPE_Q4_0"}
_LOG_TAIL: collections.deque[str] = collections.deque(maxlen=40)
# ggml_log_level: 1 debug, 2 info, 3 warn, 4 error, 5 "continue the previous line"
_LOG_LEVELS = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_last_level = [logging.DEBUG]
_llama_cpp: Any = None
_log_callback: Any = None  # keep the ctypes callback alive for the process
_load_lock = threading.Lock()
_import_lock = threading.Lock()  # the engine process probes from a second thread


def _import_llama() -> Any:
    """Import llama_cpp on first use (it costs ~0.2 s) and route its log to ours."""
    with _import_lock:
        return _import_llama_locked()


def _import_llama_locked() -> Any:
    global _llama_cpp, _log_callback  # noqa: PLW0603 - one process-wide native hook
    if _llama_cpp is None:
        import llama_cpp

        @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
        def on_log(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
            line = text.decode("utf-8", "replace").rstrip()
            if level != 5:
                _last_level[0] = _LOG_LEVELS.get(level, logging.DEBUG)
            if line:
                _LOG_TAIL.append(line)
                log.log(_last_level[0], "%s", line)

        llama_cpp.llama_log_set(on_log, ctypes.c_void_p(0))
        _log_callback = on_log
        _llama_cpp = llama_cpp
    return _llama_cpp


_ARCH = re.compile(r"unknown model architecture: '([^']*)'")
_MEMORY = ("failed to allocate", "out of memory", "unable to allocate", "cannot allocate")
_DATA = ("not within the file bounds", "tensor data", "corrupted", "invalid", "wrong shape")


def _ran_out_of_memory(log_lines: list[str]) -> bool:
    lowered = "\n".join(log_lines).lower()
    return any(word in lowered for word in _MEMORY)


def explain_load_failure(file_name: str, log_lines: list[str], error: str) -> str:
    """llama.cpp's reason for a failed load (only ever in its log), in the user's words,
    with what to try."""
    text = "\n".join(log_lines)
    lowered = text.lower()
    arch = _ARCH.search(text)
    if arch:
        return (
            f"{file_name} is a '{arch.group(1)}' model, an architecture this version of "
            "llama.cpp does not support. Choose another model, or update DesktopChat."
        )
    if _ran_out_of_memory(log_lines):
        return (
            f"There is not enough memory to load {file_name}. Try a smaller quantization, a "
            "shorter context length, or fewer GPU layers, or close other programs."
        )
    if any(word in lowered for word in _DATA):
        return (
            f"The tensor data in {file_name} is damaged or does not match its header. "
            "Download the file again."
        )
    errors = [
        line for line in log_lines if any(w in line.lower() for w in ("error", "fail", "invalid"))
    ]
    detail = "; ".join(errors[-3:]) or error
    return (
        f"llama.cpp could not load {file_name} ({detail}). The file may be damaged, or made "
        "for a model type this version of llama.cpp does not support."
    )


# ggml_backend_dev_type: CPU, GPU, integrated GPU, accelerator
_GPU_DEVICE_TYPES = (1, 2)


@functools.lru_cache(maxsize=8)
def json_grammar(schema: str) -> Any:
    """llama.cpp's grammar for any JSON object, or for JSON matching ``schema``."""
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    try:
        if not schema:
            return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        return LlamaGrammar.from_json_schema(schema, verbose=False)
    except Exception as exc:  # the converter raises many kinds for unsupported schemas
        raise GenerationError(
            f"The JSON Schema cannot be used to constrain the reply: {exc}"
        ) from None


def gpu_devices() -> list[GpuDevice]:
    """The GPUs this build of llama.cpp can use, with their free memory. Empty for a CPU
    build (what pip installs by default) or a machine without a GPU. Asks ggml's device
    registry directly: llama-cpp-python does not bind it."""
    llama_cpp = _import_llama()
    if not llama_cpp.llama_supports_gpu_offload():
        return []
    try:
        ggml = _ggml_library(llama_cpp)
    except (OSError, AttributeError) as exc:
        log.warning("cannot list GPU devices: %s", exc)
        return []
    devices = []
    for index in range(ggml.ggml_backend_dev_count()):
        device = ggml.ggml_backend_dev_get(index)
        if ggml.ggml_backend_dev_type(device) not in _GPU_DEVICE_TYPES:
            continue
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        ggml.ggml_backend_dev_memory(device, ctypes.byref(free), ctypes.byref(total))
        name = (ggml.ggml_backend_dev_description(device) or b"GPU").decode("utf-8", "replace")
        devices.append(GpuDevice(name, int(free.value), int(total.value)))
    return devices


def engine_version() -> str:
    """llama-cpp-python's version (it pins the llama.cpp it bundles)."""
    version: str = _import_llama().__version__
    return version


# The instruction sets worth naming from llama_print_system_info (it lists many more).
_CPU_FEATURES = ("AVX", "AVX2", "AVX512", "AVX_VNNI", "FMA", "F16C", "NEON", "SVE", "DOTPROD")


@functools.lru_cache(maxsize=1)
def backend_info() -> BackendInfo:
    """Which llama.cpp build this is (CPU, CUDA, Metal, Vulkan, ...) and the GPUs it can
    use. Loads the library: call it off the GUI thread."""
    llama_cpp = _import_llama()
    system = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    flags = {
        part.split("=")[0].strip() for part in system.split("|") if part.strip().endswith("= 1")
    }
    features = tuple(f for f in _CPU_FEATURES if f in flags)
    try:
        ggml = _ggml_library(llama_cpp)
        names = [
            ggml.ggml_backend_reg_name(ggml.ggml_backend_reg_get(i)).decode("utf-8", "replace")
            for i in range(ggml.ggml_backend_reg_count())
        ]
    except (OSError, AttributeError) as exc:
        log.warning("cannot list llama.cpp backends: %s", exc)
        names = ["CPU"]
    gpus = tuple(d.name for d in gpu_devices())
    return BackendInfo(tuple(names), gpus, features, llama_cpp.__version__)


def _ggml_library(llama_cpp: Any) -> Any:
    """The ggml library llama.cpp already loaded. By its SONAME first: in a PyInstaller
    bundle llama_cpp/lib/libggml.so is a copy, not a link, of the file the loader chose,
    and opening it by path would load a second ggml with its own device registry."""
    ggml = None
    if hasattr(os, "RTLD_NOLOAD"):
        try:
            ggml = ctypes.CDLL("libggml.so.0", mode=os.RTLD_NOLOAD)
        except OSError:
            ggml = None
    if ggml is None:
        folder = Path(llama_cpp.__file__).parent / "lib"
        names = ("libggml.so", "libggml.dylib", "ggml.dll")
        path = next((folder / n for n in names if (folder / n).exists()), None)
        if path is None:
            raise OSError(f"no ggml library in {folder}")
        ggml = ctypes.CDLL(str(path))
    ggml.ggml_backend_reg_count.restype = ctypes.c_size_t
    ggml.ggml_backend_reg_get.restype = ctypes.c_void_p
    ggml.ggml_backend_reg_get.argtypes = [ctypes.c_size_t]
    ggml.ggml_backend_reg_name.restype = ctypes.c_char_p
    ggml.ggml_backend_reg_name.argtypes = [ctypes.c_void_p]
    ggml.ggml_backend_dev_count.restype = ctypes.c_size_t
    ggml.ggml_backend_dev_get.restype = ctypes.c_void_p
    ggml.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    ggml.ggml_backend_dev_type.restype = ctypes.c_int
    ggml.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
    ggml.ggml_backend_dev_description.restype = ctypes.c_char_p
    ggml.ggml_backend_dev_description.argtypes = [ctypes.c_void_p]
    ggml.ggml_backend_dev_memory.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_size_t),
        ctypes.POINTER(ctypes.c_size_t),
    ]
    return ggml


class LlamaEngine:
    """Holds at most one loaded model. Not thread-safe: one thread owns it."""

    def __init__(
        self,
        memory_probe: Callable[[], int | None] = available_memory,
        *,
        quiet: bool = True,
        states: StateCache | None = None,
        n_batch: int = N_BATCH,
    ) -> None:
        """``quiet`` silences llama.cpp's own stderr during loads (its log reaches us
        anyway); the engine process turns it off so an abort message is not lost.
        ``states`` keeps recent contexts for switching back (see state_cache).
        ``n_batch``: prompt tokens evaluated per step (the benchmark compares sizes)."""
        self._memory_probe = memory_probe
        self._quiet = quiet
        self._n_batch = n_batch
        self.states = states if states is not None else StateCache()
        self._llama: Any = None
        self._loaded: LoadedModel | None = None
        self._vocab: Any = None
        self._pieces: dict[int, bytes] = {}
        self._piece_buffer = ctypes.create_string_buffer(256)

    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    def backend_info(self) -> BackendInfo:
        return backend_info()

    def gpu_devices(self) -> list[GpuDevice]:
        return gpu_devices()

    def load(self, config: LoadConfig, progress: ProgressCallback) -> LoadedModel:
        self.unload()
        started = time.perf_counter()
        progress(0.0, "Checking the model file")
        info = read_gguf(config.path)  # our bounded reader sees the file before llama.cpp
        n_ctx = config.n_ctx
        if info.context_length and n_ctx > info.context_length:
            n_ctx = info.context_length
        needed = estimate(info, n_ctx, config.kv_cache_type)
        llama_cpp = _import_llama()
        devices = gpu_devices() if config.n_gpu_layers != 0 else []
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
            _LOG_TAIL.clear()
            what = f"Loading weights ({plan.describe()})"
            progress(0.05, what)
            return self._construct(llama_cpp, config, n_ctx, plan.n_gpu_layers, progress, what)

        def out_of_memory(exc: Exception) -> bool:
            return not isinstance(exc, DesktopChatError) and _ran_out_of_memory(list(_LOG_TAIL))

        try:
            llama, plan = load_with_fallback(needed, devices, plan, attempt, out_of_memory)
        except DesktopChatError:
            raise
        except (ValueError, RuntimeError, OSError) as exc:
            message = explain_load_failure(config.path.name, list(_LOG_TAIL), str(exc))
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
            backend=backend_info().accelerator if plan.n_gpu_layers else "CPU",
        )
        progress(1.0, "Ready")
        return self._loaded

    def _construct(
        self,
        llama_cpp: Any,
        config: LoadConfig,
        n_ctx: int,
        n_gpu_layers: int,
        progress: ProgressCallback,
        what: str,
    ) -> Any:
        # Llama() has no load-progress hook, but it reads its model parameters from
        # llama_model_default_params(): hand it parameters that report progress.
        @llama_cpp.llama_progress_callback  # type: ignore[untyped-decorator]
        def on_progress(fraction: float, _user_data: ctypes.c_void_p) -> bool:
            progress(0.05 + 0.85 * float(fraction), what)
            return True

        bindings = llama_cpp.llama_cpp  # the module Llama() calls into
        original = bindings.llama_model_default_params

        def params_with_progress() -> Any:
            params = original()
            params.progress_callback = on_progress
            return params

        kv_type = getattr(llama_cpp, _KV_TYPES.get(config.kv_cache_type, "GGML_TYPE_F16"))
        with _load_lock:
            bindings.llama_model_default_params = params_with_progress
            try:
                return llama_cpp.Llama(
                    model_path=str(config.path),
                    n_ctx=n_ctx,
                    n_batch=min(self._n_batch, n_ctx),
                    n_ubatch=min(self._n_batch, n_ctx),
                    n_threads=config.n_threads,
                    n_threads_batch=config.n_threads,
                    n_gpu_layers=n_gpu_layers,
                    flash_attn=config.flash_attn,
                    type_k=kv_type,
                    type_v=kv_type,
                    use_mmap=True,
                    verbose=not self._quiet,
                )
            finally:
                bindings.llama_model_default_params = original

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        with contextlib.suppress(Exception):
            text: str = self._llama._model.token_get_text(token)
            return text
        return ""

    def _piece(self, token: int) -> bytes:
        """The bytes of one token (cached: a vocabulary is small, tokens repeat)."""
        piece = self._pieces.get(token)
        if piece is None:
            llama_cpp = _import_llama()
            buffer = self._piece_buffer
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, False)
            if n < 0:  # the piece is longer than the buffer: -n bytes are needed
                buffer = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(self._vocab, token, buffer, -n, 0, False)
            piece = buffer.raw[: max(n, 0)]
            self._pieces[token] = piece
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
        llama_cpp = _import_llama()
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
        is_eog = llama_cpp.llama_vocab_is_eog
        while not cancel.is_set():
            token = sampler.sample(llama._ctx, -1)  # samples and accepts
            if is_eog(vocab, token):
                reason = FinishReason.STOP
                break
            count += 1
            text = decoder.decode(self._piece(token))
            if text:
                visible, hit = stops.feed(text)
                if visible:
                    yield Piece(visible)
                if hit:
                    reason = FinishReason.STOP
                    break
            if count >= limit or cancel.is_set():
                break
            self._decode_one(llama, token)
        if cancel.is_set() and reason is not FinishReason.STOP:
            reason = FinishReason.CANCELLED
        tail = stops.flush() + decoder.decode(b"", final=True)
        if tail:
            yield Piece(tail)
        yield Done(reason, count, evaluated)

    @staticmethod
    def _sampler(llama: Any, sampling: SamplingConfig) -> Any:
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
            grammar=json_grammar(sampling.json_schema) if sampling.json_mode else None,
        )

    @staticmethod
    def _decode_one(llama: Any, token: int) -> None:
        """Evaluate one sampled token (Llama.eval without its per-call bookkeeping)."""
        n_past = llama.n_tokens
        llama._batch.set_batch(batch=[token], n_past=n_past, logits_all=False)
        llama._ctx.decode(llama._batch)
        llama.input_ids[n_past] = token
        llama.n_tokens = n_past + 1

    def prefill(self, tokens: list[int]) -> int:
        llama = self._require()
        current = llama.input_ids[: llama.n_tokens].tolist()
        reuse = common_prefix(current, tokens)
        pending, dropped = len(tokens) - reuse, len(current) - reuse
        if not reuse or not 0 < pending <= PREFILL_MOST or len(tokens) >= llama.n_ctx():
            return 0
        if dropped > PREFILL_MOST:  # the context holds something else: never lose it
            return 0
        if not llama._ctx.kv_cache_seq_rm(-1, reuse, -1):
            return 0
        llama.n_tokens = reuse
        llama.eval(tokens[reuse:])
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
            self._save(llama, current)
        if found is not None:
            entry, shared = found
            reuse = shared if self._restore(llama, entry.tokens, entry.data) else 0
        reuse = min(reuse, len(prompt) - 1)
        if reuse <= 0 or not llama._ctx.kv_cache_seq_rm(-1, reuse, -1):
            self._clear_context(llama)
            reuse = 0
        llama.n_tokens = reuse
        return prompt[reuse:]

    def _save(self, llama: Any, tokens: list[int]) -> None:
        llama_cpp = _import_llama()
        ctx = llama._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        if 0 < written <= size:
            # The ctypes buffer itself is kept (no copy): a 3,000-token context of a small
            # model is ~70 MB, and each copy costs a noticeable slice of a switch.
            data = (
                buffer if written == size else (ctypes.c_uint8 * written).from_buffer_copy(buffer)
            )
            kept = self.states.put(tokens, data)
            log.debug("saved a %d-token context (%d bytes, kept: %s)", len(tokens), written, kept)

    @staticmethod
    def _clear_context(llama: Any) -> None:
        """An empty context: no tokens, nothing in the KV cache."""
        llama.reset()
        llama._ctx.kv_cache_clear()

    def _restore(self, llama: Any, tokens: list[int], data: Any) -> bool:
        llama_cpp = _import_llama()
        self._clear_context(llama)
        if llama_cpp.llama_state_seq_set_data(llama._ctx.ctx, data, len(data), 0) == 0:
            log.warning("could not restore a saved %d-token context", len(tokens))
            self._clear_context(llama)
            return False
        llama.input_ids[: len(tokens)] = tokens
        llama.n_tokens = len(tokens)
        log.debug("restored a %d-token context", len(tokens))
        return True

    def benchmark_prompt(self, prompt_tokens: list[int]) -> float:
        """Seconds to evaluate ``prompt_tokens`` in an empty context, in batches of
        ``n_batch`` (the benchmark's prompt-processing figure)."""
        llama = self._require()
        self._clear_context(llama)
        started = time.perf_counter()
        llama.eval(prompt_tokens)
        return time.perf_counter() - started

    def benchmark_decode(
        self, prompt_tokens: list[int], n_tokens: int, sampling: SamplingConfig
    ) -> float:
        """The raw decode loop, for the benchmark's baseline: llama.cpp's sampler chain and
        one decode per token, nothing else (no text, no stops, no events). Returns the
        seconds taken by ``n_tokens`` decodes after the prompt."""
        llama = self._require()
        self.benchmark_prompt(prompt_tokens)
        sampler = self._sampler(llama, sampling)
        started = time.perf_counter()
        for _ in range(n_tokens):
            self._decode_one(llama, sampler.sample(llama._ctx, -1))
        return time.perf_counter() - started
