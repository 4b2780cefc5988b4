"""Why a load failed, read from llama.cpp's log (the only place it says so).

``ran_out_of_memory`` decides whether a failed load is worth retrying with fewer GPU
layers: it recognises the lines ggml and llama.cpp write when a CUDA, Metal, Vulkan or
CPU buffer cannot be allocated. ``explain_load_failure`` turns the log into words for
the user, with what to try.
"""

from __future__ import annotations

import re

_ARCH = re.compile(r"unknown model architecture: '([^']*)'")
# What llama.cpp and ggml write when an allocation fails (lowercased), for example
# "cudaMalloc failed: out of memory", "alloc_tensor_range: failed to allocate CUDA0 buffer
# of size ...", "error loading model: unable to allocate CUDA0 buffer", Metal's "error:
# failed to allocate buffer, size = ...", "mmap failed: Cannot allocate memory",
# Vulkan's "ErrorOutOfDeviceMemory" and ggml's "insufficient memory".
_MEMORY = (
    "failed to allocate",
    "out of memory",
    "unable to allocate",
    "cannot allocate",
    "outofdevicememory",
    "outofhostmemory",
    "insufficient memory",
)
_DATA = ("not within the file bounds", "tensor data", "corrupted", "invalid", "wrong shape")


def ran_out_of_memory(log_lines: list[str]) -> bool:
    lowered = "\n".join(log_lines).lower()
    return any(word in lowered for word in _MEMORY)


def explain_load_failure(file_name: str, log_lines: list[str], error: str) -> str:
    """llama.cpp's reason for a failed load, in the user's words, with what to try."""
    text = "\n".join(log_lines)
    lowered = text.lower()
    arch = _ARCH.search(text)
    if arch:
        return (
            f"{file_name} is a '{arch.group(1)}' model, an architecture this version of "
            "llama.cpp does not support. Choose another model, or update DesktopChat."
        )
    if ran_out_of_memory(log_lines):
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
