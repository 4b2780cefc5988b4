"""Timings for ``python -m bench``: prompt evaluation, and the raw decode loop (llama.cpp's
sampler chain and one decode per token, nothing else: no text, no stops, no events), the
baseline the engine's own generation is compared with."""

from __future__ import annotations

import time
from typing import Any

from desktopchat.core.inference.llama.context import clear_context, decode_one


def time_prompt(llama: Any, prompt_tokens: list[int]) -> float:
    """Seconds to evaluate ``prompt_tokens`` in an empty context, in batches."""
    clear_context(llama)
    started = time.perf_counter()
    llama.eval(prompt_tokens)
    return time.perf_counter() - started


def time_decode(llama: Any, sampler: Any, n_tokens: int) -> float:
    """Seconds taken by ``n_tokens`` raw decodes from the context as it is."""
    started = time.perf_counter()
    for _ in range(n_tokens):
        decode_one(llama, sampler.sample(llama._ctx, -1))
    return time.perf_counter() - started
