"""The architecture check: a model llama.cpp cannot run is named as such before it is
downloaded (from its remote header) and when it is imported."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktopchat.core.models.architectures import ArchitectureTable, llama_library
from desktopchat.core.models.hub import Hub
from desktopchat.core.models.manager import check_remote
from desktopchat.core.session import Core
from tests.gguf_files import tiny_tensors, write_gguf
from tests.hub_server import HostedFile, HostedRepo, HubState, LocalHub, serve_hub

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])


def future_model(path: Path) -> Path:
    return write_gguf(path, "notarealarch", tiny_tensors())


def test_the_bundled_library_knows_the_families_people_use() -> None:
    table = ArchitectureTable()
    for known in ("llama", "qwen2", "qwen3", "gemma3", "phi3", "mistral3", "smollm3"):
        assert table.is_supported(known), known
    assert table.is_supported("notarealarch") is False
    assert table.unsupported_warning("llama", "x.gguf") == ""
    assert "'notarealarch' model" in table.unsupported_warning("notarealarch", "x.gguf")


def test_each_table_reads_its_own_library_once(tmp_path: Path) -> None:
    """What a table read is its own state: another table (another library file) answers
    from its file, and a table answers from memory once it has read."""
    library = tmp_path / "libllama.so"
    library.write_bytes(b"\0llama\0rwkv6qwen2\0")
    small = ArchitectureTable(library)
    assert small.is_supported("llama") and small.is_supported("qwen2")
    assert small.is_supported("gemma3") is False
    library.unlink()  # read once: the answers stay
    assert small.is_supported("llama") and small.is_supported("gemma3") is False
    assert ArchitectureTable(library).is_supported("llama") is None  # cannot be told
    assert ArchitectureTable(library).unsupported_warning("gemma3", "x.gguf") == ""
    bundled = llama_library()
    assert bundled is not None and ArchitectureTable(bundled).is_supported("gemma3")


def test_an_unsupported_model_is_flagged_at_import(core: Core, tmp_path: Path) -> None:
    model = core.library.import_file(future_model(tmp_path / "future-Q8_0.gguf"))
    assert model.usable  # a valid GGUF: it stays listed, marked
    assert "will not load" in model.warning
    assert model.label().endswith("architecture not supported")
    starter = core.library.find(None)
    assert starter.warning == "" and "not supported" not in starter.label()


@pytest.fixture
def future_hub(tmp_path: Path, starter_model: Path) -> Iterator[LocalHub]:
    state = HubState()
    state.add(
        HostedRepo(
            "test/Future-GGUF",
            [
                HostedFile("future-Q8_0.gguf", future_model(tmp_path / "f.gguf")),
                HostedFile("SmolLM2-Q4_1.gguf", starter_model),
            ],
        )
    )
    with serve_hub(state) as served:
        yield served


def test_an_unsupported_model_is_flagged_before_download(future_hub: LocalHub) -> None:
    hub = Hub(endpoint=future_hub.url)
    listing = hub.files("test/Future-GGUF")
    future, starter = (
        check_remote(hub, listing, listing.find(name), 4096, [], 16 << 30)
        for name in ("future-Q8_0.gguf", "SmolLM2-Q4_1.gguf")
    )
    assert future.architecture == "notarealarch" and "will not load" in future.text
    assert starter.architecture == "llama" and starter.warning == ""
    ranges = [headers.get("range", "") for _, headers in future_hub.requests_to("cdn")]
    assert ranges and all(r.startswith("bytes=0-") for r in ranges)  # headers only
