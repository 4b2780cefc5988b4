"""The read_file tool: a text file (or a folder's listing) from the folders the user chose.

A path is resolved first (symlinks followed, ``..`` taken away) and only then checked: the
real path must be one of the chosen folders or inside one, so a symlink inside a folder
that points outside is refused like the outside path itself. Only regular files are read
(FIFOs, devices and sockets are refused from their ``stat``, and the file is opened
non-blocking and checked again from the open descriptor, so nothing can make a read wait
forever); a folder gives the list of its entries. Files are read up to MAX_READ_BYTES and
the text is cut to the caller's limit, with a note saying so.
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from desktopchat.core.tools.types import MAX_TOOL_OUTPUT_CHARS

MAX_READ_BYTES = 2 * 1024 * 1024  # read from one file at most
BINARY_PROBE_BYTES = 8 * 1024  # NUL bytes in these mean "not a text file"
MAX_LISTED_ENTRIES = 500

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


class FileAccessError(ValueError):
    """The path cannot be read by the tool; the message names it and says why."""


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _real_folders(folders: Sequence[Path]) -> list[Path]:
    real = []
    for folder in folders:
        try:
            real.append(Path(os.path.realpath(Path(folder).expanduser())))
        except (OSError, ValueError):
            continue
    return real


def _within(path: Path, folder: Path) -> bool:
    """``path`` is ``folder`` or inside it (both real; case-blind where the system is)."""
    return Path(os.path.normcase(path)).is_relative_to(Path(os.path.normcase(folder)))


def resolve_inside(path: str, folders: Sequence[Path]) -> Path:
    """The real path of ``path`` (relative ones start at the first folder), if it is one of
    ``folders`` or inside one; FileAccessError otherwise."""
    if not folders:
        raise FileAccessError("No folders were chosen for reading files.")
    if not path.strip():
        raise FileAccessError("No path was given.")
    if "\x00" in path:
        raise FileAccessError(f"The path {path!r} is not valid.")
    asked = Path(path.strip()).expanduser()
    if not asked.is_absolute():
        asked = Path(folders[0]).expanduser() / asked
    try:
        real = Path(os.path.realpath(asked))
    except (OSError, ValueError) as error:
        raise FileAccessError(f"The path {path!r} cannot be resolved: {error}.") from None
    if not any(_within(real, folder) for folder in _real_folders(folders)):
        raise FileAccessError(
            f"{path!r} is outside the folders the user chose; only files inside them can be read."
        )
    return real


def read_file(path: str, folders: Sequence[Path], limit_chars: int = MAX_TOOL_OUTPUT_CHARS) -> str:
    """The text of the file at ``path`` (or the list of a folder's entries), with a first
    line saying what it is; at most about ``limit_chars`` characters. Raises
    FileAccessError (a ValueError) with a message naming the path."""
    real = resolve_inside(path, folders)
    try:
        info = os.stat(real)
    except FileNotFoundError:
        raise FileAccessError(f"There is no file or folder at {path!r}.") from None
    except OSError as error:
        raise FileAccessError(f"{path!r} cannot be read: {error.strerror or error}.") from None
    if stat.S_ISDIR(info.st_mode):
        return _listing(real, path, limit_chars)
    if not stat.S_ISREG(info.st_mode):
        raise FileAccessError(f"{path!r} is {_kind(info.st_mode)}, not a file that can be read.")
    return _read_text(real, path, limit_chars)


def _read_text(real: Path, path: str, limit_chars: int) -> str:
    try:
        fd = os.open(real, _OPEN_FLAGS)
    except OSError as error:
        raise FileAccessError(f"{path!r} cannot be opened: {error.strerror or error}.") from None
    try:
        info = os.fstat(fd)  # what was opened, not what the path named a moment before
        if not stat.S_ISREG(info.st_mode):
            raise FileAccessError(
                f"{path!r} is {_kind(info.st_mode)}, not a file that can be read."
            )
        # Enough bytes for limit_chars characters of UTF-8, within MAX_READ_BYTES.
        wanted = min(MAX_READ_BYTES, max(limit_chars, 1) * 4 + 4)
        chunks: list[bytes] = []
        size = 0
        while size < wanted:
            chunk = os.read(fd, min(wanted - size, 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
        more = size >= wanted and bool(os.read(fd, 1))
    except OSError as error:
        raise FileAccessError(f"{path!r} cannot be read: {error.strerror or error}.") from None
    finally:
        os.close(fd)
    text, note = _decode(data, path, whole=not more)
    header = f"File {real} ({info.st_size:,} bytes){note}:"
    if not text:
        return f"{header}\n(the file is empty)"
    room = max(limit_chars - len(header) - 200, 0)  # the header and the note fit the limit
    if len(text) > room or more:
        shown = text[:room]
        return (
            f"{header}\n{shown}\n[… the file goes on: only its first {len(shown):,}"
            f" characters are shown, of {info.st_size:,} bytes]"
        )
    return f"{header}\n{text}"


def _decode(data: bytes, path: str, *, whole: bool) -> tuple[str, str]:
    """The text of a file's first bytes, and a note about its encoding (empty: UTF-8)."""
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
            return decoder.decode(data[len(bom) :], final=whole), " (UTF-16)"
    if b"\x00" in data[:BINARY_PROBE_BYTES]:
        raise FileAccessError(f"{path!r} is not a text file (it holds binary data).")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    try:
        return decoder.decode(data, final=whole), ""
    except UnicodeDecodeError:
        pass
    replacing = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = replacing.decode(data, final=whole)
    return text, " (not valid UTF-8: undecodable bytes are shown as \ufffd)"


def _listing(real: Path, path: str, limit_chars: int) -> str:
    try:
        with os.scandir(real) as entries:
            names = []
            for entry in entries:
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                names.append(entry.name + ("/" if is_dir else ""))
    except OSError as error:
        raise FileAccessError(
            f"The folder {path!r} cannot be listed: {error.strerror or error}."
        ) from None
    names.sort(key=lambda name: (not name.endswith("/"), name.casefold()))
    header = f"Folder {real} ({len(names):,} entries; folders end with '/'):"
    if not names:
        return f"{header}\n(the folder is empty)"
    lines = [header]
    used = len(header)
    for count, name in enumerate(names):
        if count >= MAX_LISTED_ENTRIES or used + len(name) + 1 > limit_chars - 100:
            lines.append(f"[… {len(names) - count:,} more entries left out]")
            break
        lines.append(name)
        used += len(name) + 1
    return "\n".join(lines)
