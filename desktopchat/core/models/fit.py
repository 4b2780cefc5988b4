"""How much memory a model needs, and whether this machine has it.

A first, honest estimate: the weights (tensor data as stored), the KV cache for the chosen
context (f16 K and V for every layer and KV head), and a fixed overhead for compute
buffers. The model manager issue refines this into a full RAM/VRAM planner.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass

from desktopchat.core.models.gguf import GGUFInfo

OVERHEAD_BYTES = 160 * 1024 * 1024
KV_BYTES_PER_VALUE = 2  # f16 cache


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    kv_cache: int
    overhead: int

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.overhead


def estimate(info: GGUFInfo, n_ctx: int) -> MemoryEstimate:
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
    kv = layers * n_ctx * kv_heads * (key_length + value_length) * KV_BYTES_PER_VALUE
    return MemoryEstimate(weights, kv, OVERHEAD_BYTES)


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
