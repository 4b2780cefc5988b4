"""Finding the files under a collection's roots, and what changed since the store saw them.

``scan`` walks files and folders with ``os.scandir`` (one ``stat`` per file, nothing read),
follows symbolic links but never twice into the same folder (loops are detected by
``(st_dev, st_ino)``), and skips hidden and system folders (``.git``, ``node_modules``, ...).
A root that cannot be reached (an unplugged drive, a network folder gone) is reported as
*unavailable*: the caller keeps its index instead of deleting it.

``diff`` compares what was found with the store's files by size and ``mtime_ns`` alone;
``sha256_of`` (streamed) then decides whether a changed or moved file has new content.
Qt-free and store-free: the indexer applies the result to the store.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from desktopchat.core.documents.types import DocumentFile

# Folders skipped by default: version control, dependency caches, build output, the
# systems' own folders. Names starting with "." (hidden on Unix) are skipped too.
SKIPPED_FOLDERS = frozenset(
    {
        "node_modules",
        "__pycache__",
        "site-packages",
        "venv",
        "bower_components",
        "$RECYCLE.BIN",
        "System Volume Information",
        "lost+found",
        "__MACOSX",
    }
)
# Files that are never documents: editors' and office suites' temporary and lock files.
_SKIPPED_FILE_PREFIXES = ("~$", ".~lock.", ".")
_SKIPPED_FILE_SUFFIXES = ("~", ".swp", ".tmp", ".part", ".crdownload")

_HASH_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FoundFile:
    """A regular file under a root, as one ``stat`` saw it."""

    path: Path
    size: int
    mtime_ns: int


@dataclass
class ScanResult:
    found: dict[Path, FoundFile] = field(default_factory=dict)
    unavailable: list[Path] = field(default_factory=list)  # roots that cannot be reached
    problems: list[tuple[Path, str]] = field(default_factory=list)  # folders not readable
    cancelled: bool = False


@dataclass
class ScanDiff:
    """What ``diff`` found: the store's rows and the files on disk, paired up."""

    new: list[FoundFile] = field(default_factory=list)
    changed: list[tuple[DocumentFile, FoundFile]] = field(default_factory=list)
    gone: list[DocumentFile] = field(default_factory=list)  # under reachable roots only
    unchanged: int = 0


def skipped_name(name: str, *, folder: bool) -> bool:
    """True for hidden and system folders, and for temporary or lock files."""
    if folder:
        return name.startswith(".") or name in SKIPPED_FOLDERS
    return name.startswith(_SKIPPED_FILE_PREFIXES) or name.endswith(_SKIPPED_FILE_SUFFIXES)


def scan(roots: Iterable[Path], cancel: threading.Event | None = None) -> ScanResult:
    """Every regular file under ``roots`` (files or folders), with its size and mtime."""
    result = ScanResult()
    seen_dirs: set[tuple[int, int]] = set()
    for root in roots:
        try:
            st = os.stat(root)
        except OSError:
            result.unavailable.append(root)
            continue
        if stat.S_ISREG(st.st_mode):
            result.found[root] = FoundFile(root, st.st_size, st.st_mtime_ns)
        elif stat.S_ISDIR(st.st_mode):
            try:
                os.listdir(root)  # a mount point whose share is gone raises here
            except OSError:
                result.unavailable.append(root)
                continue
            if not _walk(root, st, seen_dirs, result, cancel):
                result.cancelled = True
                return result
    return result


def _walk(
    root: Path,
    root_stat: os.stat_result,
    seen_dirs: set[tuple[int, int]],
    result: ScanResult,
    cancel: threading.Event | None,
) -> bool:
    """Depth-first, without recursion (deep trees do not hit the recursion limit)."""
    key = (root_stat.st_dev, root_stat.st_ino)
    if key in seen_dirs:
        return True
    seen_dirs.add(key)
    stack = [str(root)]
    found = result.found
    while stack:
        if cancel is not None and cancel.is_set():
            return False
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        is_dir = entry.is_dir()  # follows links; no syscall for plain ones
                    except OSError:
                        continue
                    if is_dir:
                        if skipped_name(entry.name, folder=True):
                            continue
                        try:
                            st = entry.stat()
                        except OSError:
                            continue  # a dangling or looping link
                        key = (st.st_dev, st.st_ino)
                        if key not in seen_dirs:
                            seen_dirs.add(key)
                            stack.append(entry.path)
                        continue
                    if skipped_name(entry.name, folder=False):
                        continue
                    try:
                        st = entry.stat()
                    except OSError:
                        continue  # vanished, dangling link, a link loop (ELOOP)
                    if stat.S_ISREG(st.st_mode):
                        path = Path(entry.path)
                        found[path] = FoundFile(path, st.st_size, st.st_mtime_ns)
        except OSError as exc:
            result.problems.append((Path(folder), exc.strerror or str(exc)))
    return True


def under(path: Path, roots: Sequence[Path]) -> bool:
    """True when ``path`` is one of ``roots`` or inside one of them."""
    return any(path == root or path.is_relative_to(root) for root in roots)


def diff(
    stored: Iterable[DocumentFile],
    result: ScanResult,
    scope: Sequence[Path] | None = None,
) -> ScanDiff:
    """Pair the store's files with what the scan found, by size and mtime only.

    ``scope``: only stored files under these paths are considered (a partial rescan).
    Stored files under an unavailable root are neither gone nor changed: they are kept.
    """
    out = ScanDiff()
    found = dict(result.found)
    unavailable = result.unavailable
    for row in stored:
        if scope is not None and not under(row.path, scope):
            continue
        hit = found.pop(row.path, None)
        if hit is None:
            if result.cancelled or (unavailable and under(row.path, unavailable)):
                continue
            out.gone.append(row)
        elif hit.size != row.size or hit.mtime_ns != row.mtime_ns:
            out.changed.append((row, hit))
        else:
            out.unchanged += 1
    out.new = sorted(found.values(), key=lambda f: (f.size, str(f.path)))
    return out


def sha256_of(path: Path, cancel: threading.Event | None = None) -> str | None:
    """The file's content hash, read in 1 MiB pieces; None if cancelled or unreadable."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while piece := handle.read(_HASH_CHUNK):
                if cancel is not None and cancel.is_set():
                    return None
                digest.update(piece)
    except OSError:
        return None
    return digest.hexdigest()
