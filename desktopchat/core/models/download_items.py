"""One model download as the download queue tracks it: what it fetches, how far it got,
its state; and the items for downloads an earlier session left unfinished on disk.
Qt-free: the queue (ui/downloads.py) and the jobs it runs (core/models/manager.py) share
it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from desktopchat.core.models.downloads import Pending, Progress
from desktopchat.core.models.remote import ModelFile, split_name


class DownloadState(Enum):
    QUEUED = "Queued"
    DOWNLOADING = "Downloading"
    PAUSED = "Paused"
    FAILED = "Failed"
    DONE = "Done"
    CANCELLED = "Cancelled"


@dataclass
class DownloadItem:
    repo_id: str
    revision: str
    name: str  # the model's (first) file name in the repository
    model: ModelFile | None  # None for a download found on disk, until it is listed again
    total: int
    done: int = 0
    bytes_per_second: float = 0.0
    state: DownloadState = DownloadState.QUEUED
    message: str = ""
    page_url: str = ""  # a gated model's page, when access was refused
    path: Path | None = None  # once installed
    pending_parts: tuple[str, ...] = ()  # a download found on disk: its parts' names
    stop: threading.Event = field(default_factory=threading.Event)
    cancel_requested: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.repo_id, self.name)

    @property
    def label(self) -> str:
        return f"{self.repo_id} · {self.model.label if self.model else self.name}"

    @property
    def seconds_left(self) -> float | None:
        if self.bytes_per_second <= 0:
            return None
        return (self.total - self.done) / self.bytes_per_second

    def part_names(self) -> set[str]:
        return {part.name for part in self.model.parts} if self.model else set(self.pending_parts)


def items_from_pending(pending: list[Pending]) -> list[DownloadItem]:
    """Unfinished downloads found on disk, one item per model (a split model's parts
    together), to be listed as paused."""
    items: dict[tuple[str, str], DownloadItem] = {}
    for part in pending:
        split = split_name(part.name)
        group = f"{split.stem}\0split" if split else part.name
        key = (part.repo_id, group)
        item = items.get(key)
        if item is None:
            item = items[key] = DownloadItem(
                part.repo_id, part.revision, part.name, None, 0, state=DownloadState.PAUSED
            )
            item.message = "Unfinished from an earlier session: resume to continue."
        item.total += part.size
        item.done += part.done
        item.pending_parts += (part.name,)
    return list(items.values())


# download(item, progress, stop) -> the installed path; runs on the download thread.
DownloadJob = Callable[[DownloadItem, Callable[[Progress], None], threading.Event], Path]
# discard(item): delete what was downloaded of an item (its partial files).
DiscardJob = Callable[[DownloadItem], None]
