"""A small, bounded GGUF header reader of our own.

llama.cpp must never see a file we have not checked: a truncated or hostile header can
make native code abort the process. Every length and count is checked against the bytes
left before it is used, tensor shapes and offsets are validated, and the tensor data must
end inside the file. Reading the SmolLM2 header (49k-token vocabulary) takes a few ms.
"""

from __future__ import annotations

import math
import mmap
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktopchat.core.errors import InvalidModelFileError

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_KEY_LENGTH = 65_535
# A string value longer than this is refused before it is read: the longest real ones are
# whole tokenizer.json files that some converters embed (about 17 MB for a 262k vocabulary),
# and without a bound a header claiming a 16 GiB name makes the reader allocate 16 GiB.
MAX_STRING_VALUE = 64 << 20
MAX_TENSOR_NAME = 64  # GGML_MAX_NAME
MAX_DIMS = 4  # GGML_MAX_DIMS
KEPT_ARRAY_LENGTH = 64  # longer arrays (vocabularies) are summarised, not kept

# GGUF value types: id -> (struct format, size) for scalars.
_SCALARS: dict[int, tuple[str, int]] = {
    0: ("<B", 1),
    1: ("<b", 1),
    2: ("<H", 2),
    3: ("<h", 2),
    4: ("<I", 4),
    5: ("<i", 4),
    6: ("<f", 4),
    7: ("<?", 1),
    10: ("<Q", 8),
    11: ("<q", 8),
    12: ("<d", 8),
}
_STRING = 8
_ARRAY = 9

# ggml tensor types: id -> (name, elements per block, bytes per block).
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
}

# general.file_type -> the quantization name people know (llama_ftype).
FILE_TYPES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
    39: "NVFP4",
    40: "Q1_0",
}
_QUANT_IN_NAME = re.compile(
    r"(?<![A-Za-z0-9])(I?Q\d(?:_[A-Z0-9]+)+|BF16|F16|F32)(?=[.\-_ ]|$)", re.IGNORECASE
)


@dataclass(frozen=True)
class ArraySummary:
    """A long array (a vocabulary, say) that the header holds but we do not keep."""

    element_type: int
    length: int


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int
    n_bytes: int

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class GGUFInfo:
    path: Path
    file_size: int
    version: int
    metadata: dict[str, Any]
    tensors: tuple[TensorInfo, ...] = field(repr=False)
    data_offset: int = 0

    def _arch_value(self, suffix: str) -> Any:
        return self.metadata.get(f"{self.architecture}.{suffix}")

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def name(self) -> str:
        """The file's name without the quantization suffix: what people recognise
        (``general.name`` is often a training-run label such as "Smollm2 135M 8k Lc100K")."""
        stem = self.path.name.removesuffix(".gguf")
        match = _QUANT_IN_NAME.search(stem)
        if match and match.start() > 0:
            stem = stem[: match.start()].rstrip(".-_ ")
        return stem or str(self.metadata.get("general.name", self.path.stem))

    @property
    def parameter_count(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def quantization(self) -> str:
        file_type = self.metadata.get("general.file_type")
        if isinstance(file_type, int) and file_type in FILE_TYPES:
            return FILE_TYPES[file_type]
        match = _QUANT_IN_NAME.search(self.path.name)
        return match.group(1).upper() if match else "unknown"

    @property
    def context_length(self) -> int:
        value = self._arch_value("context_length")
        return int(value) if isinstance(value, int) else 0

    @property
    def block_count(self) -> int:
        value = self._arch_value("block_count")
        return int(value) if isinstance(value, int) else 0

    @property
    def chat_template(self) -> str | None:
        template = self.metadata.get("tokenizer.chat_template")
        return template if isinstance(template, str) and template.strip() else None


class HeaderIncompleteError(Exception):
    """Only the start of the file was given, and the header goes on past it."""

    def __init__(self, needed: int) -> None:
        super().__init__(f"the header needs at least {needed} bytes")
        self.needed = needed


class _Reader:
    def __init__(self, buffer: mmap.mmap | bytes, size: int, path: Path) -> None:
        self.buf = buffer
        self.size = size  # of the whole file
        self.available = min(len(buffer), size)  # what we have of it
        self.pos = 0
        self.path = path

    def _check(self, end: int, what: str) -> None:
        if end > self.size:
            raise self.fail(f"the file ends inside {what}; it is truncated or damaged")
        if end > self.available:
            raise HeaderIncompleteError(end)

    def fail(self, what: str) -> InvalidModelFileError:
        return InvalidModelFileError(
            f"{self.path.name} is not a usable GGUF model: {what} (at byte {self.pos})."
        )

    def need(self, n: int, what: str) -> None:
        if n < 0:
            raise self.fail(f"the file ends inside {what}; it is truncated or damaged")
        self._check(self.pos + n, what)

    def scalar(self, kind: int, what: str) -> Any:
        fmt, n = _SCALARS[kind]
        self.need(n, what)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return value

    def u32(self, what: str) -> int:
        return int(self.scalar(4, what))

    def u64(self, what: str) -> int:
        return int(self.scalar(10, what))

    def string(self, what: str, limit: int | None = None) -> str:
        length = self.u64(f"the length of {what}")
        if limit is not None and length > limit:
            raise self.fail(f"{what} is {length} bytes long, more than the {limit} allowed")
        self.need(length, what)
        raw = bytes(self.buf[self.pos : self.pos + length])
        self.pos += length
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not valid UTF-8") from None

    def skip_strings(self, count: int, key: str) -> None:
        """Skip ``count`` strings: the hot loop for vocabularies, kept tight."""
        unpack, buf, available, pos = struct.unpack_from, self.buf, self.available, self.pos
        for _ in range(count):
            if pos + 8 > available:
                self.pos = pos
                self._check(pos + 8, key)
            pos += 8 + unpack("<Q", buf, pos)[0]
        self._check(pos, key)
        self.pos = pos

    def value(self, kind: int, key: str) -> Any:
        if kind in _SCALARS:
            return self.scalar(kind, f"the value of {key}")
        if kind == _STRING:
            return self.string(f"the value of {key}", limit=MAX_STRING_VALUE)
        if kind == _ARRAY:
            element = self.u32(f"the element type of {key}")
            length = self.u64(f"the length of {key}")
            if element == _ARRAY:
                raise self.fail(f"{key} is an array of arrays, which GGUF readers refuse")
            if element in _SCALARS:
                width = _SCALARS[element][1]
            elif element == _STRING:
                width = 8  # at least the length prefix
            else:
                raise self.fail(f"{key} has an unknown element type {element}")
            if length > (self.size - self.pos) // width:
                raise self.fail(f"{key} claims {length} elements, more than the file can hold")
            if length > KEPT_ARRAY_LENGTH:
                if element == _STRING:
                    self.skip_strings(length, key)
                else:
                    self.pos += width * length
                return ArraySummary(element, length)
            return [self.value(element, key) for _ in range(length)]
        raise self.fail(f"{key} has an unknown value type {kind}")


def read_gguf(path: Path) -> GGUFInfo:
    """Read and validate the header of ``path``; raise InvalidModelFileError if it is bad."""
    try:
        with path.open("rb") as handle:
            size = path.stat().st_size
            if size < 24:
                raise InvalidModelFileError(
                    f"{path.name} is not a GGUF model: it is only {size} bytes long."
                )
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
                return _parse(_Reader(buffer, size, path))
    except OSError as exc:
        raise InvalidModelFileError(f"Cannot read {path}: {exc.strerror or exc}.") from None


def parse_header(start: bytes, file_size: int, name: str) -> GGUFInfo:
    """The header of a file of ``file_size`` bytes from its first bytes (``start``), as
    read from a server with a Range request. Raises HeaderIncompleteError(needed) when
    more bytes are needed, InvalidModelFileError when the header is bad."""
    if len(start) < 24:
        raise HeaderIncompleteError(24)
    return _parse(_Reader(start, file_size, Path(name)))


def _parse(r: _Reader) -> GGUFInfo:
    magic = bytes(r.buf[0:4])
    if magic != MAGIC:
        raise InvalidModelFileError(
            f"{r.path.name} is not a GGUF model (it starts with {magic!r}, not b'GGUF'). "
            "DesktopChat runs GGUF files, as published for llama.cpp."
        )
    r.pos = 4
    version = r.u32("the version")
    if version not in SUPPORTED_VERSIONS:
        raise r.fail(f"GGUF version {version} is not supported (only 2 and 3)")
    tensor_count = r.u64("the tensor count")
    kv_count = r.u64("the metadata count")
    # Smallest possible entries: a KV is a length, one byte of key, a type and a byte of
    # value; a tensor info is a length, a byte of name, n_dims, one dim, a type, an offset.
    if kv_count > (r.size - r.pos) // 14:
        raise r.fail(f"it claims {kv_count} metadata entries, more than the file can hold")
    if tensor_count > (r.size - r.pos) // 33:
        raise r.fail(f"it claims {tensor_count} tensors, more than the file can hold")

    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = r.string("a metadata key", limit=MAX_KEY_LENGTH)
        if not key:
            raise r.fail("a metadata key is empty")
        if key in metadata:
            raise r.fail(f"the metadata key {key!r} appears twice")
        kind = r.u32(f"the type of {key}")
        metadata[key] = r.value(kind, key)

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise r.fail(f"general.alignment {alignment!r} is not a power of two")

    tensors: list[TensorInfo] = []
    names: set[str] = set()
    expected_offset = 0
    for index in range(tensor_count):
        name = r.string(f"the name of tensor {index}", limit=MAX_TENSOR_NAME)
        if name in names:
            raise r.fail(f"tensor {name!r} appears twice")
        names.add(name)
        n_dims = r.u32(f"the dimension count of {name}")
        if not 1 <= n_dims <= MAX_DIMS:
            raise r.fail(f"tensor {name!r} has {n_dims} dimensions (1 to {MAX_DIMS} allowed)")
        shape = tuple(r.u64(f"a dimension of {name}") for _ in range(n_dims))
        if any(d <= 0 or d >= 2**62 for d in shape):
            raise r.fail(f"tensor {name!r} has an invalid shape {shape}")
        ggml_type = r.u32(f"the type of {name}")
        type_info = GGML_TYPES.get(ggml_type)
        if type_info is None:
            raise r.fail(f"tensor {name!r} has an unknown type {ggml_type}")
        _, block, block_bytes = type_info
        if shape[0] % block:
            raise r.fail(
                f"tensor {name!r} has a row of {shape[0]} elements, "
                f"not a multiple of its block size {block}"
            )
        n_elements = math.prod(shape)
        if n_elements >= 2**62:
            raise r.fail(f"tensor {name!r} is impossibly large")
        n_bytes = n_elements // block * block_bytes
        offset = r.u64(f"the offset of {name}")
        if offset != expected_offset:
            raise r.fail(
                f"tensor {name!r} starts at offset {offset}, expected {expected_offset} "
                "(tensors must follow each other, aligned)"
            )
        expected_offset = offset + _padded(n_bytes, alignment)
        tensors.append(TensorInfo(name, shape, ggml_type, offset, n_bytes))

    data_offset = _padded(r.pos, alignment)
    data_end = data_offset + (tensors[-1].offset + tensors[-1].n_bytes if tensors else 0)
    if data_end > r.size:
        missing = data_end - r.size
        raise InvalidModelFileError(
            f"{r.path.name} is truncated: its tensors need {data_end:,} bytes but the file has "
            f"{r.size:,} ({missing:,} missing). Download it again."
        )
    return GGUFInfo(r.path, r.size, version, metadata, tuple(tensors), data_offset)


def _padded(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment
