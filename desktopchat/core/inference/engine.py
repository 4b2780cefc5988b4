"""The inference engine protocol and the types that cross it.

The GUI worker, the CLI and the tests talk to an Engine; only the package llama/ knows
llama.cpp. The CLI runs a LlamaEngine in its own process; the GUI runs a ProcessEngine,
which keeps a LlamaEngine in a supervised child process (see process_engine.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from desktopchat.core.chat import FinishReason, GenerationParams
from desktopchat.core.models.fit import GpuDevice

ProgressCallback = Callable[[float, str], None]  # fraction 0..1, what is happening


@dataclass(frozen=True)
class LoadConfig:
    path: Path
    n_ctx: int
    n_threads: int
    n_gpu_layers: int = 0
    flash_attn: bool = False
    kv_cache_type: str = "f16"

    @classmethod
    def from_params(cls, path: Path, params: GenerationParams) -> LoadConfig:
        return cls(
            path,
            params.n_ctx,
            params.threads,
            params.n_gpu_layers,
            params.flash_attn,
            params.kv_cache_type,
        )


@dataclass(frozen=True)
class LoadedModel:
    config: LoadConfig
    name: str
    architecture: str
    n_ctx: int  # what the context really is (may be less than asked for)
    n_ctx_train: int
    chat_template: str | None
    bos_text: str
    eos_text: str
    add_bos: bool
    load_seconds: float
    placement: str = "CPU only"  # where the weights went, in words (see OffloadPlan)
    n_gpu_layers: int = 0  # what llama.cpp was given
    backend: str = "CPU"  # what runs it: "CPU", or the GPU backend ("CUDA", "Metal", ...)


CPU_BACKENDS = ("CPU", "BLAS")  # ggml backends that compute on the CPU


@dataclass(frozen=True)
class BackendInfo:
    """The llama.cpp build this app runs: its compiled-in backends and what they found."""

    backends: tuple[str, ...]  # ggml's registry: ("CPU",), ("CUDA", "CPU"), ...
    gpus: tuple[str, ...]  # GPU devices it can use
    cpu_features: tuple[str, ...]  # the instruction sets it was built for (AVX2, NEON, ...)
    version: str = ""  # llama-cpp-python's version (it pins the llama.cpp it bundles)

    @property
    def accelerator(self) -> str:
        """The GPU backend compiled in ("CUDA", "Metal", "Vulkan", ...), or ""."""
        return next((b for b in self.backends if b not in CPU_BACKENDS), "")

    def summary(self) -> str:
        cpu = "CPU" + (f" ({' '.join(self.cpu_features)})" if self.cpu_features else "")
        if not self.accelerator:
            return cpu
        if not self.gpus:
            return f"{self.accelerator} build, but no usable GPU was found: {cpu}"
        return f"{self.accelerator} on {', '.join(self.gpus)}, and {cpu}"


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float
    top_k: int
    top_p: float
    min_p: float
    repeat_penalty: float
    max_tokens: int
    seed: int
    stop: tuple[str, ...] = ()
    # Constrain the reply to JSON (to this JSON Schema when not empty) with a grammar.
    json_mode: bool = False
    json_schema: str = ""
    # Special tokens of the reply shown as their text (<|channel|>, [TOOL_CALLS]): formats
    # whose reasoning or tool calls are written with them need it (the output parser).
    special: bool = False

    @classmethod
    def from_params(
        cls, params: GenerationParams, seed: int, stop: tuple[str, ...]
    ) -> SamplingConfig:
        return cls(
            temperature=params.temperature,
            top_k=params.top_k,
            top_p=params.top_p,
            min_p=params.min_p,
            repeat_penalty=params.repeat_penalty,
            max_tokens=params.max_tokens,
            seed=seed,
            stop=stop,
            json_mode=params.json_mode,
            json_schema=params.json_schema.strip() if params.json_mode else "",
        )


@dataclass(frozen=True)
class Piece:
    """Some new text of the reply (one token, or a few when UTF-8 spans tokens)."""

    text: str


@dataclass(frozen=True)
class PromptProgress:
    """Prompt evaluation went one batch further (only sent for multi-batch prompts)."""

    done: int
    total: int


@dataclass(frozen=True)
class Done:
    reason: FinishReason
    completion_tokens: int
    prompt_evaluated: int | None = None  # prompt tokens evaluated (the rest were reused)


GenerationEvent = Piece | PromptProgress | Done


class Engine(Protocol):
    @property
    def loaded(self) -> LoadedModel | None: ...

    def load(self, config: LoadConfig, progress: ProgressCallback) -> LoadedModel:
        """Load a model (unloading any other). Raises ModelError subclasses."""

    def unload(self) -> None: ...

    def close(self) -> None:
        """Free everything; the engine is not used again."""

    def tokenize(self, text: str, *, add_bos: bool) -> list[int]: ...

    def generate(
        self, prompt_tokens: list[int], sampling: SamplingConfig, cancel: threading.Event
    ) -> Iterator[GenerationEvent]:
        """Stream the reply; the last event is always Done. Checks ``cancel`` between
        prompt batches and after every token."""
        ...

    def prefill(self, tokens: list[int], cancel: threading.Event | None = None) -> int:
        """Evaluate ``tokens``, the likely start of the next prompt, ahead of time, when
        they extend the context by a little, or (with ``cancel``, which stops it between
        batches) when they replace what follows the shared part with up to a history's
        worth, the context kept in the saved contexts first; returns how many were
        evaluated (0: none)."""
        ...

    def backend_info(self) -> BackendInfo:
        """The llama.cpp build that runs models (its backends, GPUs, CPU features).
        Answered by the process llama.cpp lives in: a ProcessEngine asks its engine process
        and never loads llama.cpp into the caller's. Slow at first: call it off the GUI
        thread. Safe to call from any thread, also while a reply streams."""
        ...

    def gpu_devices(self) -> list[GpuDevice]:
        """The GPUs the engine can offload to, with their memory (empty on a CPU build).
        Same rules as ``backend_info``."""
        ...
