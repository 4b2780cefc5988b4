"""How much memory a model needs, and whether this machine has it.

A first, honest estimate: the weights (tensor data as stored), the KV cache for the chosen
context (f16 K and V for every layer and KV head), and a fixed overhead for compute
buffers. plan_offload splits that between the GPU and RAM by layers.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from desktopchat.core.models.gguf import GGUFInfo
from desktopchat.core.models.library import human_size

log = logging.getLogger(__name__)

OVERHEAD_BYTES = 160 * 1024 * 1024
GPU_RESERVE_BYTES = 384 * 1024 * 1024  # per device: compute buffers, the driver's share
# Bytes per cached value for each KV cache type (ggml block sizes: 34 bytes hold 32 q8_0
# values, 18 bytes hold 32 q4_0 values).
KV_BYTES_PER_VALUE = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}
AUTO_GPU_LAYERS = -2  # n_gpu_layers: let the planner choose from free VRAM
ALL_GPU_LAYERS = -1


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    kv_cache: int
    overhead: int
    layers: int = 0
    layer_weights: tuple[int, ...] = ()  # the bytes of each repeating layer (blk.N.*)

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.overhead


def estimate(info: GGUFInfo, n_ctx: int, kv_cache_type: str = "f16") -> MemoryEstimate:
    weights = info.file_size - info.data_offset
    arch = info.architecture
    meta = info.metadata
    layers = info.block_count
    heads = _int(meta.get(f"{arch}.attention.head_count"), 1)
    kv_heads = _int(meta.get(f"{arch}.attention.head_count_kv"), heads)
    embedding = _int(meta.get(f"{arch}.embedding_length"), 0)
    head_dim = embedding // heads if heads else 0
    key_length = _int(meta.get(f"{arch}.attention.key_length"), head_dim)
    value_length = _int(meta.get(f"{arch}.attention.value_length"), head_dim)
    per_value = KV_BYTES_PER_VALUE.get(kv_cache_type, 2.0)
    kv = int(layers * n_ctx * kv_heads * (key_length + value_length) * per_value)
    per_layer = [0] * layers
    for tensor in info.tensors:
        parts = tensor.name.split(".")
        if len(parts) > 2 and parts[0] == "blk" and parts[1].isdigit():
            index = int(parts[1])
            if index < layers:
                per_layer[index] += tensor.n_bytes
    return MemoryEstimate(weights, kv, OVERHEAD_BYTES, layers, tuple(per_layer))


@dataclass(frozen=True)
class GpuDevice:
    name: str
    free: int
    total: int


@dataclass(frozen=True)
class OffloadPlan:
    """How many layers go to the GPU, and what that costs on each side."""

    n_gpu_layers: int  # what llama.cpp is given (0: none; layers + 1: all, with the output)
    layers: int
    gpu_bytes: int
    ram_bytes: int
    device: str = ""

    @property
    def full(self) -> bool:
        return self.layers > 0 and self.n_gpu_layers > self.layers

    def describe(self) -> str:
        if self.n_gpu_layers == 0:
            return f"CPU only: {human_size(self.ram_bytes)} of RAM"
        where = f" on {self.device}" if self.device else ""
        if self.full:
            return f"fits fully on the GPU{where}: {human_size(self.gpu_bytes)} of VRAM"
        return (
            f"partly on the GPU{where}: {self.n_gpu_layers} of {self.layers} layers, "
            f"{human_size(self.gpu_bytes)} of VRAM and {human_size(self.ram_bytes)} of RAM"
        )


def plan_offload(
    needed: MemoryEstimate, devices: list[GpuDevice], requested: int = AUTO_GPU_LAYERS
) -> OffloadPlan:
    """Choose ``n_gpu_layers``: everything when it fits in free VRAM, else as many layers
    (weights plus their share of the KV cache) as fit, else none. An explicit request
    (0, N, or -1 for all) is kept, and costed the same way."""
    layers = needed.layers
    per_layer = list(needed.layer_weights) or [needed.weights // max(layers, 1)] * layers
    kv_per_layer = needed.kv_cache // max(layers, 1)
    rest = max(needed.weights - sum(per_layer), 0)  # embeddings, output, norms
    device = max(devices, key=lambda d: d.free) if devices else None
    budget = sum(max(d.free - GPU_RESERVE_BYTES, 0) for d in devices)
    if device is None or layers == 0 or requested == 0:
        count = 0
    elif requested == ALL_GPU_LAYERS:
        count = layers + 1
    elif requested > 0:
        count = min(requested, layers + 1)
    else:
        count = 0
        used = 0
        # llama.cpp offloads the last layers first; the output layer only with all of them.
        for weight in reversed(per_layer):
            if used + weight + kv_per_layer > budget:
                break
            used += weight + kv_per_layer
            count += 1
        if count == layers and used + rest <= budget:
            count = layers + 1
    on_gpu = per_layer[layers - min(count, layers) :] if count else []
    gpu = sum(on_gpu) + kv_per_layer * len(on_gpu) + (rest if count > layers else 0)
    total = needed.weights + needed.kv_cache
    return OffloadPlan(
        count,
        layers,
        gpu,
        total - gpu + needed.overhead,
        device.name if device is not None and count else "",
    )


T = TypeVar("T")


def load_with_fallback(
    needed: MemoryEstimate,
    devices: list[GpuDevice],
    first: OffloadPlan,
    load: Callable[[OffloadPlan], T],
    out_of_memory: Callable[[Exception], bool],
) -> tuple[T, OffloadPlan]:
    """Load with ``first``; when that fails for memory while layers are on the GPU (a
    device had less room than it said, or another program took some), try again with
    half the layers, down to none. Returns what ``load`` returned and the plan that
    worked; any other failure, or one with nothing left to take off the GPU, is raised."""
    plan = first
    while True:
        try:
            return load(plan), plan
        except Exception as exc:
            if plan.n_gpu_layers <= 0 or not out_of_memory(exc):
                raise
            log.warning("loading with %d GPU layers ran out of memory", plan.n_gpu_layers)
            plan = plan_offload(needed, devices, plan.n_gpu_layers // 2)


# Without a header, the KV cache is guessed per 4,096 tokens of context as this share of the
# weights (grouped-query models of 1-8B parameters at f16 measure 1/16 to 1/6).
SIZE_ONLY_KV_SHARE = 1 / 8


def size_only_estimate(file_size: int, n_ctx: int) -> MemoryEstimate:
    """A rough estimate from the file size alone (when the header cannot be read)."""
    kv = int(file_size * SIZE_ONLY_KV_SHARE * n_ctx / 4096)
    return MemoryEstimate(file_size, kv, OVERHEAD_BYTES)


@dataclass(frozen=True)
class FitVerdict:
    fits: bool
    text: str  # "fits fully on the GPU … / partly (N of M layers) … / CPU only … / won't fit …"
    needed: MemoryEstimate
    plan: OffloadPlan
    from_size_only: bool = False


def verdict(
    needed: MemoryEstimate,
    free_ram: int | None,
    devices: list[GpuDevice],
    *,
    from_size_only: bool = False,
) -> FitVerdict:
    """Whether a model fits this machine (free RAM now, and free VRAM when a GPU build is
    installed), in words with the numbers."""
    plan = plan_offload(needed, devices)
    free = f", {human_size(free_ram)} free" if free_ram is not None else ""
    guess = (
        " (estimated from the file size: its header could not be read)" if from_size_only else ""
    )
    if free_ram is not None and plan.ram_bytes > free_ram:
        gpu = f" plus {human_size(plan.gpu_bytes)} of VRAM" if plan.gpu_bytes else ""
        text = f"won't fit: needs {human_size(plan.ram_bytes)} of RAM{gpu}{free}{guess}"
        return FitVerdict(False, text, needed, plan, from_size_only)
    return FitVerdict(True, f"{plan.describe()}{free}{guess}", needed, plan, from_size_only)


def _int(value: object, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return int(max(value))  # per-layer values: plan for the largest
    return default


def available_memory() -> int | None:
    """Bytes of RAM available to a new allocation right now, or None if unknown."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/meminfo", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
    if sys.platform == "win32":
        return _windows_available()
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _windows_available() -> int | None:  # pragma: no cover - Windows only
    class MemoryStatus(ctypes.Structure):
        _fields_ = [
            ("dwLength", ctypes.c_ulong),
            ("dwMemoryLoad", ctypes.c_ulong),
            ("ullTotalPhys", ctypes.c_ulonglong),
            ("ullAvailPhys", ctypes.c_ulonglong),
            ("ullTotalPageFile", ctypes.c_ulonglong),
            ("ullAvailPageFile", ctypes.c_ulonglong),
            ("ullTotalVirtual", ctypes.c_ulonglong),
            ("ullAvailVirtual", ctypes.c_ulonglong),
            ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
        ]

    status = MemoryStatus()
    status.dwLength = ctypes.sizeof(MemoryStatus)
    windll = getattr(ctypes, "windll", None)
    if windll is None or not windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
        return None
    return int(status.ullAvailPhys)
