"""Small GGUF files for tests, written by the reference writer (the gguf package)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gguf
import numpy as np


def write_gguf(
    path: Path,
    architecture: str,
    tensors: dict[str, Any],
    metadata: Callable[[Any], None] | None = None,
) -> Path:
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_block_count(1)
    if metadata is not None:
        metadata(writer)
    for name, data in tensors.items():
        writer.add_tensor(name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def tiny_tensors() -> dict[str, Any]:
    return {"token_embd.weight": np.zeros((8, 32), dtype=np.float32)}


def aborting_gguf(path: Path) -> Path:
    """A file our header check accepts but llama.cpp aborts on (GGML_ASSERT in its vocab
    loader): a llama model whose tokenizer lists the same token eight times."""

    def metadata(writer: Any) -> None:
        writer.add_context_length(256)
        writer.add_embedding_length(32)
        writer.add_feed_forward_length(64)
        writer.add_head_count(4)
        writer.add_head_count_kv(4)
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_tokenizer_model("llama")
        writer.add_token_list(["a"] * 8)
        writer.add_token_scores([0.0] * 8)
        writer.add_token_types([1] * 8)

    return write_gguf(path, "llama", tiny_tensors(), metadata)


def copy_gguf(source: Path, target: Path, overrides: dict[str, Any]) -> Path:
    """Rewrite a real model file with some metadata values replaced (same tensors)."""
    reader = gguf.GGUFReader(str(source))
    architecture = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(str(target), architecture)
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        kind = field.types[0]
        sub_type = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        value = overrides.get(name, field.contents())
        writer.add_key_value(name, value, kind, sub_type=sub_type)
    for name, value in overrides.items():
        if name not in reader.fields:
            writer.add_key_value(name, value, gguf.GGUFValueType.STRING)
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target
