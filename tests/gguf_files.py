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
