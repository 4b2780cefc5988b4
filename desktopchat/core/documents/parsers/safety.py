"""The checks every parser shares: what may be read, how it is read, and clean output text.

- ``read_document``: one stat-checked read of a regular file into memory (never blocks on a
  FIFO or a device, refuses a file over the size limit, notices a file that changed or
  was deleted while it was read). Parsers work on these bytes, never on the path again,
  so what is parsed is exactly what was checked.
- ``check_zip``: a zip container (docx, odt, pptx, xlsx, epub) is measured *before* a
  library opens it: total unpacked size and each member's compression ratio.
- ``clean``: the text that leaves a parser has no NUL, no lone surrogates, no stray
  control characters, and ``\\n`` line ends (DESIGN.md section 5).
- ``TextCap``: extracted text is capped at ``ParseLimits.max_text_chars``.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from desktopchat.core.documents.types import DocumentError, ParseLimits, UnsupportedDocumentError

# A zip member this small may be very compressible (a run of spaces) without being a bomb.
_RATIO_FLOOR_BYTES = 1024 * 1024
_READ_CHUNK = 1024 * 1024

_SURROGATES = re.compile(r"[\ud800-\udfff]")
# C0 controls except tab and newline, DEL, and the C1 controls; form feed becomes a newline.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffe\uffff]")


def human_size(n: int) -> str:
    """1536 -> "1.5 KB" (decimal units, as file managers show them)."""
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class FileSnapshot:
    """A file's bytes as read, with the stat they were checked against."""

    path: Path
    data: bytes
    size: int
    mtime_ns: int
    sha256: str


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "cannot be read: permission denied"
    if exc.errno == errno.ELOOP:
        return "cannot be read: a symbolic link loop"
    if exc.errno in (errno.EIO, errno.ENXIO, errno.ENODEV, errno.ESTALE, errno.EHOSTDOWN):
        return f"cannot be read: {exc.strerror} (is its disk or network folder gone?)"
    return f"cannot be read: {exc.strerror or exc}"


def _stat(path: Path) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise DocumentError("cannot be read: a link to a file that does not exist") from None
        raise DocumentError("cannot be read: the file does not exist (moved or deleted)") from None
    except OSError as exc:
        raise DocumentError(_os_reason(exc)) from exc


def check_size(size: int, limits: ParseLimits) -> None:
    if size > limits.max_file_bytes:
        raise DocumentError(
            f"too large: {human_size(size)}, over the {human_size(limits.max_file_bytes)} limit "
            "(the limit can be raised in the settings)"
        )


def read_chunks(fd: int, size: int) -> bytes:
    """All of an open file (a seam the tests use to change a file while it is read)."""
    parts: list[bytes] = []
    left = size + 1  # one byte more than the stat said: a file that grew is noticed
    while left > 0:
        part = os.read(fd, min(_READ_CHUNK, left))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_document(path: Path, limits: ParseLimits) -> FileSnapshot:
    """The file's bytes, or a DocumentError saying in words why it cannot be read."""
    before = _stat(path)
    if not stat.S_ISREG(before.st_mode):
        raise UnsupportedDocumentError(f"not a document: {_kind_of(before.st_mode)}")
    check_size(before.st_size, limits)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise DocumentError("changed while it was read; it will be read again") from None
    except OSError as exc:
        raise DocumentError(_os_reason(exc)) from exc
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):  # swapped for a pipe between stat and open
            raise UnsupportedDocumentError(f"not a document: {_kind_of(opened.st_mode)}")
        check_size(opened.st_size, limits)
        try:
            data = read_chunks(fd, opened.st_size)
        except OSError as exc:
            raise DocumentError(_os_reason(exc)) from exc
    finally:
        os.close(fd)
    try:
        after = os.stat(path)
    except FileNotFoundError:
        raise DocumentError("changed while it was read; it will be read again") from None
    except OSError as exc:
        raise DocumentError(_os_reason(exc)) from exc
    same = (after.st_size, after.st_mtime_ns, after.st_ino) == (
        opened.st_size,
        opened.st_mtime_ns,
        opened.st_ino,
    ) and len(data) == opened.st_size
    if not same:
        raise DocumentError("changed while it was read; it will be read again")
    return FileSnapshot(
        path=path,
        data=data,
        size=len(data),
        mtime_ns=after.st_mtime_ns,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def check_zip(data: bytes, limits: ParseLimits, what: str) -> zipfile.ZipFile:
    """The zip container, measured before any library unpacks it; ``what``: "a Word file"."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise DocumentError(f"damaged: not a valid {what} (the zip container is broken)") from exc
    total = 0
    for info in members:
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_FLOOR_BYTES and ratio > limits.max_compression_ratio:
            raise DocumentError(
                f"looks like a zip bomb: {info.filename!r} would unpack {ratio:,.0f} times "
                f"its size, to {human_size(info.file_size)}"
            )
    if total > limits.max_uncompressed_bytes:
        raise DocumentError(
            f"looks like a zip bomb: it would unpack to {human_size(total)}, over the "
            f"{human_size(limits.max_uncompressed_bytes)} limit"
        )
    return archive


def clean(text: str) -> str:
    """Text fit to store: ``\\n`` line ends, no NUL, controls or lone surrogates."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\f" in text:
        text = text.replace("\f", "\n")
    text = _CONTROLS.sub("", text)
    return _SURROGATES.sub("\ufffd", text)


class TextCap:
    """Counts the characters a parser has produced and cuts at the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.cut = False

    def take(self, text: str) -> str:
        """``text`` or the part of it that still fits ("" once the cap is reached)."""
        room = self.limit - self.used
        if len(text) > room:
            self.cut = True
            text = text[: max(room, 0)]
        self.used += len(text)
        return text

    @property
    def full(self) -> bool:
        return self.cut or self.used >= self.limit

    def warning(self) -> str:
        return f"text cut at {self.limit:,} characters (the limit for one file)"
