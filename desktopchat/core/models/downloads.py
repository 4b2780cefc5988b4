"""Downloads a user can trust: resumable after a crash, checked, and moved into place whole.

Each file is written to a partial file under the cache folder, next to a small JSON note
saying which repository, commit, file, size and checksum it is. Running the same download
again (after a pause, a dropped connection, a closed or crashed app) continues from the
partial file's end with an HTTP Range request. When all bytes are there, their SHA-256 is
compared with the Hub's LFS metadata (git's blob SHA-1 for a small non-LFS file); only a
match is moved into the models folder, atomically, so a file there is always complete and
verified. A mismatch deletes the partial file. A split model is one download of all its
parts. Runs on a worker thread or in the CLI, never on the GUI thread.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from threading import Event
from typing import Any

from desktopchat.core.errors import (
    ChecksumMismatchError,
    DownloadError,
    DownloadStoppedError,
    NetworkError,
    NotEnoughDiskError,
)
from desktopchat.core.models.library import human_size
from desktopchat.core.models.remote import ModelFile, RemoteFile, safe_name

log = logging.getLogger(__name__)

DISK_MARGIN = 256 * 1024 * 1024  # left free after a download
RETRIES = 3  # reconnections within one run after a dropped connection
PROGRESS_INTERVAL = 0.2  # seconds between progress reports

# open_stream(repo_id, revision, file name, start): the file's bytes from ``start`` on.
Opener = Callable[[str, str, str, int], Generator[bytes, None, None]]


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    bytes_per_second: float
    part: str  # the file being written

    @property
    def seconds_left(self) -> float | None:
        if self.bytes_per_second <= 0:
            return None
        return (self.total - self.done) / self.bytes_per_second


@dataclass(frozen=True)
class Pending:
    """A partial download found on disk: what it is and how far it got."""

    repo_id: str
    revision: str
    name: str
    size: int
    done: int


def model_folder(models_dir: Path, repo_id: str) -> Path:
    owner, _, name = repo_id.partition("/")
    return models_dir / safe_name(owner) / safe_name(name)


def installed_path(models_dir: Path, repo_id: str, model: ModelFile) -> Path:
    """Where ``model`` (its first part, for a split model) lives once downloaded."""
    return model_folder(models_dir, repo_id) / model.parts[0].path


class Downloader:
    def __init__(
        self,
        partial_dir: Path,
        models_dir: Path,
        open_stream: Opener,
        *,
        clock: Callable[[], float] = time.monotonic,
        retry_delay: float = 1.0,
    ) -> None:
        self._partial_dir = partial_dir
        self._models_dir = models_dir
        self._open = open_stream
        self._clock = clock
        self._retry_delay = retry_delay

    def download(
        self,
        repo_id: str,
        revision: str,
        model: ModelFile,
        progress: Callable[[Progress], None],
        stop: Event,
    ) -> Path:
        """Download every part of ``model`` (continuing any partial files); returns the
        path to load. Raises DownloadStoppedError when ``stop`` is set (the partial files
        stay, to resume), NetworkError, NotEnoughDiskError, ChecksumMismatchError."""
        folder = model_folder(self._models_dir, repo_id)
        missing = [p for p in model.parts if not self._installed(folder, p)]
        self._check_disk(repo_id, missing)
        done = model.size - sum(p.size for p in missing)
        meter = _Meter(self._clock, model.size, done, progress)
        for part in missing:
            self._download_part(repo_id, revision, part, folder / part.path, meter, stop)
        meter.report(force=True)
        return folder / model.parts[0].path

    def discard(self, repo_id: str, model: ModelFile) -> None:
        """Delete the partial files of ``model`` (a cancelled download)."""
        for part in model.parts:
            data, note = self._partial(repo_id, part)
            data.unlink(missing_ok=True)
            note.unlink(missing_ok=True)

    def pending(self) -> list[Pending]:
        """Partial downloads on disk, to offer resuming them."""
        found = []
        for note in sorted(self._partial_dir.glob("*.json")):
            try:
                meta = json.loads(note.read_text("utf-8"))
                data = note.with_suffix(".part")
                found.append(
                    Pending(
                        str(meta["repo_id"]),
                        str(meta["revision"]),
                        str(meta["name"]),
                        int(meta["size"]),
                        data.stat().st_size if data.exists() else 0,
                    )
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return found

    # -- one part ------------------------------------------------------------------------

    @staticmethod
    def _installed(folder: Path, part: RemoteFile) -> bool:
        target = folder / part.path
        return target.is_file() and target.stat().st_size == part.size

    def _partial(self, repo_id: str, part: RemoteFile) -> tuple[Path, Path]:
        key = hashlib.sha256(f"{repo_id}\n{part.name}".encode()).hexdigest()[:32]
        return self._partial_dir / f"{key}.part", self._partial_dir / f"{key}.json"

    def _check_disk(self, repo_id: str, parts: list[RemoteFile]) -> None:
        if not parts:
            return
        self._partial_dir.mkdir(parents=True, exist_ok=True)
        have = sum(self._resume_offset(repo_id, p, None) for p in parts)
        needed = sum(p.size for p in parts) - have
        free = shutil.disk_usage(self._partial_dir).free
        if needed + DISK_MARGIN > free:
            raise NotEnoughDiskError(
                f"Not enough disk space: the download needs {human_size(needed)} more and "
                f"{human_size(free)} is free in {self._partial_dir} (DesktopChat keeps "
                f"{human_size(DISK_MARGIN)} free). Free some space and try again."
            )

    def _resume_offset(self, repo_id: str, part: RemoteFile, revision: str | None) -> int:
        """Bytes already downloaded of ``part`` that belong to the same file (0 to restart)."""
        data, note = self._partial(repo_id, part)
        try:
            meta = json.loads(note.read_text("utf-8"))
            size = data.stat().st_size
        except (OSError, ValueError):
            return 0
        same = (
            meta.get("size") == part.size
            and meta.get("sha256") == part.sha256
            and meta.get("blob_id") == part.blob_id
            # without a checksum, only the same commit is known to be the same file
            and (part.sha256 or part.blob_id or revision in (None, meta.get("revision")))
        )
        return size if same and size <= part.size else 0

    def _download_part(
        self,
        repo_id: str,
        revision: str,
        part: RemoteFile,
        target: Path,
        meter: _Meter,
        stop: Event,
    ) -> None:
        data, note = self._partial(repo_id, part)
        start = self._resume_offset(repo_id, part, revision)
        if start == 0:
            data.unlink(missing_ok=True)
            _write_json(
                note,
                {
                    "repo_id": repo_id,
                    "revision": revision,
                    "name": part.name,
                    "size": part.size,
                    "sha256": part.sha256,
                    "blob_id": part.blob_id,
                },
            )
        hasher = _Hasher(part)
        data.touch()
        with open(data, "r+b") as out:
            out.truncate(start)
            out.seek(start)
            _hash_existing(data, start, hasher, stop)
            meter.add(start)
            attempt = 0
            while out.tell() < part.size:
                try:
                    self._receive(repo_id, revision, part, out, hasher, meter, stop)
                except NetworkError:
                    attempt += 1
                    if attempt > RETRIES:
                        raise
                    log.info("connection lost at %d of %d bytes; retrying", out.tell(), part.size)
                    if stop.wait(self._retry_delay * 2 ** (attempt - 1)):
                        raise DownloadStoppedError("The download was paused.") from None
                else:
                    if out.tell() < part.size:  # the server closed cleanly, but early
                        attempt += 1
                        if attempt > RETRIES:
                            raise NetworkError(
                                f"The server ended {part.name} after {human_size(out.tell())} "
                                f"of {human_size(part.size)}. Run the download again to "
                                "continue where it stopped."
                            )
            out.flush()
            os.fsync(out.fileno())
        if not hasher.matches():
            data.unlink(missing_ok=True)
            note.unlink(missing_ok=True)
            raise ChecksumMismatchError(
                f"{part.name} was downloaded but its bytes do not match the checksum the "
                "Hub lists for it, so it was deleted and not installed. Download it again; "
                "if this repeats, the file on the Hub or a proxy in between is at fault."
            )
        _move_into_place(data, target)
        note.unlink(missing_ok=True)

    def _receive(
        self,
        repo_id: str,
        revision: str,
        part: RemoteFile,
        out: Any,
        hasher: _Hasher,
        meter: _Meter,
        stop: Event,
    ) -> None:
        meter.part = part.name
        stream = self._open(repo_id, revision, part.name, out.tell())
        with contextlib.closing(stream):
            for received in stream:
                chunk = received[: part.size - out.tell()]  # more than listed: cut, then check
                try:
                    out.write(chunk)
                except OSError as exc:
                    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                        raise NotEnoughDiskError(
                            "The disk filled up during the download. What was downloaded "
                            "is kept: free some space and run the download again to continue."
                        ) from None
                    raise
                hasher.update(chunk)
                meter.add(len(chunk))
                if stop.is_set():
                    out.flush()
                    raise DownloadStoppedError("The download was paused.")
                if out.tell() >= part.size:
                    break


class _Hasher:
    """SHA-256 for LFS files, git's blob SHA-1 for small ones, nothing when neither is
    listed (then only the size is checked)."""

    def __init__(self, part: RemoteFile) -> None:
        self._expected = (part.sha256 or part.blob_id or "").lower()
        if part.sha256:
            self._hash: Any = hashlib.sha256()
        elif part.blob_id:
            self._hash = hashlib.sha1(usedforsecurity=False)
            self._hash.update(f"blob {part.size}\0".encode())
        else:
            self._hash = None

    def update(self, chunk: bytes) -> None:
        if self._hash is not None:
            self._hash.update(chunk)

    def matches(self) -> bool:
        return self._hash is None or self._hash.hexdigest() == self._expected


class _Meter:
    def __init__(
        self, clock: Callable[[], float], total: int, done: int, report: Callable[[Progress], None]
    ) -> None:
        self._clock = clock
        self._report = report
        self.total = total
        self.done = done
        self.part = ""
        self._last = clock()
        self._window: list[tuple[float, int]] = [(self._last, done)]

    def add(self, count: int) -> None:
        self.done += count
        self.report()

    def report(self, *, force: bool = False) -> None:
        now = self._clock()
        if not force and now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        self._window.append((now, self.done))
        self._window = [(t, d) for t, d in self._window if now - t <= 5.0] or [(now, self.done)]
        (t0, d0), (t1, d1) = self._window[0], self._window[-1]
        speed = (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0
        self._report(Progress(self.done, self.total, speed, self.part))


def _hash_existing(path: Path, size: int, hasher: _Hasher, stop: Event) -> None:
    """Feed the first ``size`` bytes of a partial file to ``hasher`` (on resuming)."""
    with open(path, "rb") as handle:
        left = size
        while left > 0:
            chunk = handle.read(min(left, 4 * 1024 * 1024))
            if not chunk:
                break
            hasher.update(chunk)
            left -= len(chunk)
            if stop.is_set():
                raise DownloadStoppedError("The download was paused.")


def _write_json(path: Path, value: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(value), "utf-8")
    os.replace(temporary, path)


def _move_into_place(source: Path, target: Path) -> None:
    """Atomically: the target is absent or complete, never half-written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise DownloadError(
                f"The download could not be moved into {target.parent}: {exc.strerror}"
            ) from None
    # Another file system: copy beside the target, then rename there.
    incoming = target.with_name(target.name + ".incoming")
    try:
        with open(source, "rb") as src, open(incoming, "wb") as dst:
            shutil.copyfileobj(src, dst, 4 * 1024 * 1024)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(incoming, target)
    except OSError as exc:
        incoming.unlink(missing_ok=True)
        raise DownloadError(
            f"The download could not be moved into {target.parent}: {exc.strerror}"
        ) from None
    source.unlink(missing_ok=True)
