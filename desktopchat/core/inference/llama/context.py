"""A loaded model's context (its KV cache): decode one token, empty it, save and restore
the state of a conversation so that switching back costs no prompt evaluation."""

from __future__ import annotations

import ctypes
import logging
from typing import Any

from desktopchat.core.inference.llama.native import NativeLlama

log = logging.getLogger("desktopchat.llama")


def decode_one(llama: Any, token: int) -> None:
    """Evaluate one sampled token (Llama.eval without its per-call bookkeeping)."""
    n_past = llama.n_tokens
    llama._batch.set_batch(batch=[token], n_past=n_past, logits_all=False)
    llama._ctx.decode(llama._batch)
    llama.input_ids[n_past] = token
    llama.n_tokens = n_past + 1


def clear_context(llama: Any) -> None:
    """An empty context: no tokens, nothing in the KV cache."""
    llama.reset()
    llama._ctx.kv_cache_clear()


def save_state(native: NativeLlama, llama: Any) -> Any:
    """The context's state as a ctypes buffer, or None when llama.cpp gives none. The
    buffer itself is kept (no copy): a 3,000-token context of a small model is ~70 MB,
    and each copy costs a noticeable slice of a switch."""
    lib = native.lib
    ctx = llama._ctx.ctx
    size = lib.llama_state_seq_get_size(ctx, 0)
    buffer = (ctypes.c_uint8 * size)()
    written = lib.llama_state_seq_get_data(ctx, buffer, size, 0)
    if not 0 < written <= size:
        return None
    return buffer if written == size else (ctypes.c_uint8 * written).from_buffer_copy(buffer)


def restore_state(native: NativeLlama, llama: Any, tokens: list[int], data: Any) -> bool:
    """Put a saved state back (the context then holds ``tokens``); False if refused."""
    clear_context(llama)
    if native.lib.llama_state_seq_set_data(llama._ctx.ctx, data, len(data), 0) == 0:
        log.warning("could not restore a saved %d-token context", len(tokens))
        clear_context(llama)
        return False
    llama.input_ids[: len(tokens)] = tokens
    llama.n_tokens = len(tokens)
    log.debug("restored a %d-token context", len(tokens))
    return True
