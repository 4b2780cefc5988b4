"""A second real embedding model for the tests that change models: all-MiniLM-L6-v2's
pinned safetensors converted again, with q8_0 matrices instead of f16 and without our
embedder id, so llama.cpp embeds with other weights and the vectors carry another model
id (the file's). The Hub is out of reach here; this is a real GGUF all the same, named as
the catalogue's Q8_0 file of that model. Made once per test session (cached in the
session's temporary folder)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

FILE_NAME = "all-MiniLM-L6-v2-Q8_0.gguf"
_made = threading.Lock()


def second_embedder_file(folder: Path) -> Path:
    """The q8_0 GGUF in ``folder`` (converted if it is not there yet)."""
    from desktopchat.core.documents.default_embedder import (
        LICENCE,
        MODEL_NAME,
        SOURCE_URL,
        source_folder,
    )
    from desktopchat.core.models.embedder_convert import BertSource, convert_bert

    path = folder / FILE_NAME
    with _made:
        if not path.is_file():
            convert_bert(
                BertSource(source_folder()),
                path,
                name=MODEL_NAME,
                licence=LICENCE,
                source_url=SOURCE_URL,
                weight_type="q8_0",
            )
    return path


def session_folder(factory: pytest.TempPathFactory) -> Path:
    """Where the session's copy is made (``tmp_path_factory``'s base folder)."""
    return factory.getbasetemp() / "second-embedder"
