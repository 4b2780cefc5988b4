"""Reading a file to import: a JSON file, or a ChatGPT data export .zip exactly as it was
downloaded. Members are read in memory, never extracted to disk; only the conversation
members are read (conversations.json, conversations-000.json, -001.json...), each within
a size limit and a compression-ratio limit against zip bombs (a member's declared size can
lie: Python's reader stops at the declared size and the CRC check then fails, so counting
what comes out holds too). A damaged archive, a member that is not UTF-8 or not JSON,
raises ExchangeError before anything is stored."""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from desktopchat.core.exchange.base import ExchangeError

_CONVERSATIONS = re.compile(r"(?:^|/)conversations(?:-\d+)?\.json$", re.IGNORECASE)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """How much an import reads. The defaults take the largest real exports (a heavy
    user's conversations.json is a few hundred MB) and refuse a bomb before it is read."""

    file_bytes: int = 1 << 30  # one JSON file, or one member of an archive
    total_bytes: int = 4 << 30  # all conversation members of an archive together
    ratio: int = 200  # uncompressed/compressed; JSON text compresses about 5-20 times


@dataclass(frozen=True)
class Source:
    """The decoded JSON documents of a file, with the names they came from, and the
    names of every member of the archive (for images' placeholders)."""

    documents: list[tuple[str, object]]
    members: list[str]


def read_source(path: Path, limits: Limits) -> Source:
    try:
        with path.open("rb") as handle:
            zipped = handle.read(4) == b"PK\x03\x04"
        size = path.stat().st_size
    except OSError as exc:
        raise ExchangeError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if zipped or path.suffix.lower() == ".zip":
        return _read_zip(path, limits)
    if size > limits.file_bytes:
        raise ExchangeError(
            f"{path.name} is {_size(size)}, more than the {_size(limits.file_bytes)} "
            "an import reads."
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ExchangeError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    return Source([(path.name, decode(raw, path.name))], [])


def decode(raw: bytes, name: str) -> object:
    """JSON from bytes that must be UTF-8 (a byte-order mark is allowed)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExchangeError(
            f"{name} is not UTF-8 text (byte {raw[exc.start]:#04x} at position {exc.start}); "
            "exports are UTF-8, so the file is damaged or not an export."
        ) from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ExchangeError(f"{name} is not JSON ({exc}).") from None


def _read_zip(path: Path, limits: Limits) -> Source:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            wanted = sorted(
                (i for i in infos if _is_conversations(i.filename) and not i.is_dir()),
                key=lambda i: i.filename,
            )
            if not wanted:
                raise ExchangeError(
                    f"{path.name} holds no conversations.json nor conversations-000.json: "
                    "it is not a ChatGPT data export."
                )
            total = sum(i.file_size for i in wanted)
            if total > limits.total_bytes:
                raise ExchangeError(
                    f"The conversations in {path.name} are {_size(total)} unpacked, more "
                    f"than the {_size(limits.total_bytes)} an import reads."
                )
            documents = []
            for info in wanted:
                label = f"{info.filename} in {path.name}"
                documents.append((label, decode(_member(archive, info, limits), label)))
            return Source(documents, [i.filename for i in infos])
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise ExchangeError(
            f"{path.name} is not a readable zip archive ({exc}); download the export again."
        ) from None
    except OSError as exc:
        raise ExchangeError(f"Cannot read {path}: {exc.strerror or exc}.") from None


def _is_conversations(name: str) -> bool:
    parts = name.split("/")
    return bool(_CONVERSATIONS.search(name)) and not any(
        p == "__MACOSX" or p.startswith("._") for p in parts
    )


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> bytes:
    """A member's bytes, read in chunks and counted against the limits."""
    name = info.filename
    if info.file_size > limits.file_bytes:
        raise ExchangeError(
            f"{name} in the archive is {_size(info.file_size)} unpacked, more than the "
            f"{_size(limits.file_bytes)} an import reads."
        )
    if info.file_size > _CHUNK and info.file_size > limits.ratio * max(info.compress_size, 1):
        raise ExchangeError(
            f"{name} in the archive unpacks to {info.file_size // max(info.compress_size, 1)} "
            "times its packed size, which no export does: the archive looks like a zip bomb "
            "and is not read."
        )
    chunks: list[bytes] = []
    read = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(_CHUNK):
                read += len(chunk)
                bomb = read > _CHUNK and read > limits.ratio * max(info.compress_size, 1)
                if read > limits.file_bytes or bomb:
                    raise ExchangeError(
                        f"{name} in the archive unpacks to more than it says; it is not read."
                    )
                chunks.append(chunk)
    except RuntimeError as exc:  # encrypted
        raise ExchangeError(f"{name} in the archive cannot be read ({exc}).") from None
    except NotImplementedError as exc:  # a compression method Python lacks (Deflate64)
        raise ExchangeError(
            f"{name} in the archive uses a compression DesktopChat cannot read ({exc}); "
            "unpack the archive and import the conversations file itself."
        ) from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # a bad CRC: a bad download
        raise ExchangeError(
            f"{name} in the archive is damaged ({exc}); download the export again."
        ) from None
    return b"".join(chunks)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    for power, unit in ((3, "GiB"), (2, "MiB"), (1, "KiB")):
        if n >= 1024**power:
            return f"{n / 1024**power:.1f} {unit}"
    return f"{n} bytes"
