"""Our bounded GGUF reader against real models and a corpus of broken and hostile files.

The corpus follows the categories of llama.cpp's own malformed-file tests: bad magic, bad
version, absurd counts, bad key sizes, duplicate keys, bad alignment, bad dims and shapes,
bad types, bad offsets, not enough data, truncation at many offsets, a renamed file.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from pathlib import Path

import gguf
import numpy as np
import pytest

from desktopchat.core.errors import InvalidModelFileError
from desktopchat.core.models.gguf import (
    FILE_TYPES,
    GGML_TYPES,
    HeaderIncompleteError,
    parse_header,
    read_gguf,
)
from tests.gguf_files import write_gguf

U32, U64, STR, ARR = 4, 10, 8, 9


def s(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def kv(key: str | bytes, kind: int, payload: bytes) -> bytes:
    return s(key) + struct.pack("<I", kind) + payload


def tensor(name: str, dims: list[int], ggml_type: int, offset: int) -> bytes:
    return (
        s(name)
        + struct.pack("<I", len(dims))
        + b"".join(struct.pack("<Q", d) for d in dims)
        + struct.pack("<II", ggml_type, 0)[:4]
        + struct.pack("<Q", offset)
    )


def build(
    *,
    magic: bytes = b"GGUF",
    version: int = 3,
    kvs: list[bytes] | None = None,
    tensors: list[bytes] | None = None,
    n_kv: int | None = None,
    n_tensors: int | None = None,
    data: bytes | None = None,
) -> bytes:
    kvs = (
        kvs
        if kvs is not None
        else [
            kv("general.architecture", STR, s("llama")),
            kv("llama.block_count", U32, b"\1\0\0\0"),
        ]
    )
    tensors = tensors if tensors is not None else [tensor("w", [32], 0, 0)]
    header = (
        magic
        + struct.pack("<I", version)
        + struct.pack("<Q", len(tensors) if n_tensors is None else n_tensors)
        + struct.pack("<Q", len(kvs) if n_kv is None else n_kv)
        + b"".join(kvs)
        + b"".join(tensors)
    )
    header += b"\0" * (-len(header) % 32)
    return header + (data if data is not None else b"\0" * 128)


@pytest.fixture
def write(tmp_path: Path) -> Callable[[bytes, str], Path]:
    def _write(content: bytes, name: str = "model.gguf") -> Path:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return _write


@pytest.fixture
def valid_file(tmp_path: Path) -> Path:
    """A small valid GGUF written by the reference writer (the gguf package)."""

    def metadata(writer: gguf.GGUFWriter) -> None:
        writer.add_context_length(256)
        writer.add_name("tiny test model")
        writer.add_chat_template("{{ messages[0]['content'] }}")
        writer.add_file_type(7)

    tensors = {
        "token_embd.weight": np.zeros((8, 32), dtype=np.float32),
        "output.weight": np.ones((4, 32), dtype=np.float16),
    }
    return write_gguf(tmp_path / "tiny-Q8_0.gguf", "llama", tensors, metadata)


def test_reads_real_models(starter_model: Path, gemma_model: Path) -> None:
    smol = read_gguf(starter_model)
    assert (smol.architecture, smol.quantization, smol.context_length) == ("llama", "Q4_1", 8192)
    assert smol.name == "SmolLM2-135M-Instruct"
    assert 130e6 < smol.parameter_count < 140e6
    assert smol.chat_template is not None and "<|im_start|>" in smol.chat_template
    assert smol.block_count == 30
    gemma = read_gguf(gemma_model)
    assert (gemma.architecture, gemma.quantization) == ("gemma3", "Q4_K_M")
    assert gemma.chat_template is None  # a base model: the fallback path
    assert 260e6 < gemma.parameter_count < 280e6


def test_the_header_is_read_without_the_weights(starter_model: Path, gemma_model: Path) -> None:
    """The reader needs the header's bytes and nothing after them: given exactly the
    bytes before the tensor data (a small part of the file), it reads the same model, and
    any read past what it was given would raise HeaderIncompleteError."""
    for model in (starter_model, gemma_model):
        whole = read_gguf(model)
        size = model.stat().st_size
        assert whole.data_offset * 20 < size  # the header is a small part of the file
        with model.open("rb") as handle:
            header = handle.read(whole.data_offset)
        bounded = parse_header(header, size, model.name)
        assert bounded.metadata == whole.metadata and bounded.tensors == whole.tensors


def test_reads_a_file_from_the_reference_writer(valid_file: Path) -> None:
    info = read_gguf(valid_file)
    assert info.name == "tiny"
    assert info.quantization == "Q8_0"
    assert info.context_length == 256
    assert [t.shape for t in info.tensors] == [(32, 8), (32, 4)]
    assert info.parameter_count == 32 * 12


def test_type_tables_match_the_reference_package() -> None:
    for type_id, (name, block, size) in GGML_TYPES.items():
        reference = gguf.GGMLQuantizationType(type_id)
        assert reference.name == name
        assert gguf.GGML_QUANT_SIZES[reference] == (block, size)
    for file_type, name in FILE_TYPES.items():
        assert gguf.LlamaFileType(file_type).name.endswith(name)


HOSTILE: dict[str, tuple[bytes, str]] = {
    "bad magic": (build(magic=b"GGML"), "not a GGUF model"),
    "version 1": (build(version=1), "version 1 is not supported"),
    "version 4": (build(version=4), "version 4 is not supported"),
    "absurd tensor count": (build(n_tensors=2**63), "more than the file can hold"),
    "absurd kv count": (build(n_kv=2**62), "more than the file can hold"),
    "huge key length": (build(kvs=[struct.pack("<Q", 2**63) + b"abc"]), "truncated|more than"),
    "empty key": (build(kvs=[kv("", U32, b"\0\0\0\0")]), "key is empty"),
    "duplicate key": (
        build(
            kvs=[kv("general.name", STR, s("a")), kv("general.name", STR, s("b"))],
        ),
        "appears twice",
    ),
    "unknown value type": (build(kvs=[kv("x", 99, b"\0" * 8)]), "unknown value type"),
    "array of arrays": (
        build(kvs=[kv("x", ARR, struct.pack("<IQ", ARR, 1) + struct.pack("<IQ", U32, 0))]),
        "array of arrays",
    ),
    "absurd array length": (
        build(kvs=[kv("x", ARR, struct.pack("<IQ", U32, 2**61))]),
        "more than the file can hold",
    ),
    "string array overruns": (
        build(kvs=[kv("x", ARR, struct.pack("<IQ", STR, 20) + s("a") * 2)], data=b""),
        "truncated or damaged|more than the file",
    ),
    "string not utf-8": (build(kvs=[kv("general.name", STR, s(b"\xff\xfe"))]), "UTF-8"),
    "alignment zero": (
        build(kvs=[kv("general.alignment", U32, struct.pack("<I", 0))]),
        "power of two",
    ),
    "alignment three": (
        build(kvs=[kv("general.alignment", U32, struct.pack("<I", 3))]),
        "power of two",
    ),
    "zero dims": (build(tensors=[tensor("w", [], 0, 0)]), "0 dimensions"),
    "five dims": (build(tensors=[tensor("w", [1, 1, 1, 1, 1], 0, 0)]), "5 dimensions"),
    "zero-sized dim": (build(tensors=[tensor("w", [32, 0], 0, 0)]), "invalid shape"),
    "overflowing shape": (
        build(tensors=[tensor("w", [2**40, 2**40], 0, 0)]),
        "impossibly large",
    ),
    "unknown tensor type": (build(tensors=[tensor("w", [32], 99, 0)]), "unknown type 99"),
    "row not a block multiple": (build(tensors=[tensor("w", [33], 2, 0)]), "block size"),
    "long tensor name": (build(tensors=[tensor("w" * 65, [32], 0, 0)]), "more than the 64"),
    "duplicate tensor": (
        build(tensors=[tensor("w", [32], 0, 0), tensor("w", [32], 0, 128)]),
        "appears twice",
    ),
    "bad first offset": (build(tensors=[tensor("w", [32], 0, 64)]), "expected 0"),
    "overlapping offsets": (
        build(tensors=[tensor("a", [32], 0, 0), tensor("b", [32], 0, 0)]),
        "expected 128",
    ),
    "not enough data": (build(data=b"\0" * 100), "truncated"),
    "tensor beyond the file": (
        build(tensors=[tensor("w", [2**30], 0, 0)]),
        "truncated",
    ),
}


# Cases whose fault is where the file ends: at the start of a huge file they are not faults.
ABOUT_THE_END = {"string array overruns", "not enough data", "tensor beyond the file"}
HUGE = 64 << 30  # 64 GiB, sparse: it takes no disk space


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_headers_are_refused(case: str, write: Callable[[bytes, str], Path]) -> None:
    content, message = HOSTILE[case]
    path = write(content, "model.gguf")
    with pytest.raises(InvalidModelFileError, match=message):
        read_gguf(path)


@pytest.mark.parametrize("case", sorted(set(HOSTILE) - ABOUT_THE_END))
def test_a_hostile_header_on_a_huge_file_is_refused_from_its_first_bytes(
    case: str, write: Callable[[bytes, str], Path]
) -> None:
    """Absurd counts and lengths are checked against the bytes left before anything is
    read or allocated: the refusal needs only the header's own bytes of a 64 GiB file
    (parse_header raises HeaderIncompleteError for any read past what it is given)."""
    content, message = HOSTILE[case]
    assert len(content) < 4096
    with pytest.raises(InvalidModelFileError, match=message):
        parse_header(content, HUGE, "model.gguf")


@pytest.mark.skipif(sys.platform == "win32", reason="NTFS allocates a file's whole length")
@pytest.mark.parametrize("case", sorted(set(HOSTILE) - ABOUT_THE_END))
def test_a_hostile_header_on_a_huge_file_on_disk_is_refused(
    case: str, write: Callable[[bytes, str], Path]
) -> None:
    content, message = HOSTILE[case]
    path = write(content, "model.gguf")
    with path.open("r+b") as handle:
        handle.truncate(HUGE)
    with pytest.raises(InvalidModelFileError, match=message):
        read_gguf(path)


def test_a_string_value_longer_than_any_header_is_refused_before_it_is_read() -> None:
    """A header claiming a 16 GiB name in a 64 GiB file once made read_gguf allocate
    16 GiB (string values had no bound; keys had 65,535 bytes)."""
    content = build(kvs=[kv("general.name", STR, struct.pack("<Q", 16 << 30))])
    with pytest.raises(InvalidModelFileError, match="more than the"):
        parse_header(content, HUGE, "model.gguf")  # not HeaderIncompleteError(16 GiB)


def test_the_minimal_builder_makes_a_valid_file(write: Callable[[bytes, str], Path]) -> None:
    read_gguf(write(build(), "model.gguf"))  # so each hostile case breaks exactly one thing


def test_truncation_at_every_header_offset(valid_file: Path, tmp_path: Path) -> None:
    content = valid_file.read_bytes()
    info = read_gguf(valid_file)
    cut_points = [*range(0, info.data_offset + 1), *range(info.data_offset, len(content), 97)]
    target = tmp_path / "cut.gguf"
    for cut in cut_points:
        if cut >= len(content):
            continue
        target.write_bytes(content[:cut])
        with pytest.raises(InvalidModelFileError):
            read_gguf(target)


def test_a_renamed_file_and_an_empty_file(write: Callable[[bytes, str], Path]) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 200
    with pytest.raises(InvalidModelFileError, match="not a GGUF model"):
        read_gguf(write(png, "picture.gguf"))
    with pytest.raises(InvalidModelFileError, match="only 0 bytes"):
        read_gguf(write(b"", "empty.gguf"))
    with pytest.raises(InvalidModelFileError, match="Cannot read"):
        read_gguf(Path("/nonexistent/model.gguf"))


def test_a_header_is_read_from_the_start_of_a_remote_file(
    starter_model: Path, gemma_model: Path
) -> None:
    """As the model manager does over HTTP Range: the first bytes and the file's size."""
    for path in (starter_model, gemma_model):
        whole = read_gguf(path)
        size = path.stat().st_size
        data = path.read_bytes()[: 8 << 20]
        have = 4096
        while True:
            try:
                remote = parse_header(data[:have], size, path.name)
                break
            except HeaderIncompleteError as more:
                assert more.needed > have
                assert more.needed < 8 << 20  # a header, not the weights
                have = more.needed * 2
        assert remote.metadata == whole.metadata and remote.tensors == whole.tensors
        assert remote.file_size == size and remote.data_offset == whole.data_offset
    with pytest.raises(InvalidModelFileError, match="not a GGUF"):
        parse_header(b"PK\x03\x04" + bytes(60), 1000, "x.gguf")
    with pytest.raises(InvalidModelFileError, match="truncated"):  # the size says so
        parse_header(starter_model.read_bytes()[: 8 << 20], 8 << 20, "x.gguf")
