"""Shared by the indexer, watch and library tests: real folders, waiting with a hang guard,
the session's real embedder lent to one library at a time, and fault injection in the
extract worker's processes."""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pytest import MonkeyPatch

from desktopchat.core.documents.types import Embedder

HANG_GUARD = 120.0  # seconds: only so that a broken test ends; never a speed check


class LentEmbedder:
    """The session's embedder behind the Embedder protocol; ``close`` leaves it open for
    the next test (the library closes what its factory made)."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self.closed = False
        self.calls = 0

    @property
    def model_id(self) -> str:
        return self._embedder.model_id

    @property
    def dimensions(self) -> int:
        return self._embedder.dimensions

    @property
    def max_tokens(self) -> int:
        return self._embedder.max_tokens

    def embed(
        self, texts: Sequence[str], cancel: threading.Event | None = None
    ) -> list[list[float]]:
        self.calls += 1
        return self._embedder.embed(texts, cancel)

    def count_tokens(self, text: str) -> int:
        return self._embedder.count_tokens(text)

    def close(self) -> None:
        self.closed = True


def lend(embedder: Embedder) -> Callable[[Path | None], Embedder]:
    def factory(path: Path | None) -> Embedder:
        return LentEmbedder(embedder)

    return factory


def eventually(check: Callable[[], bool], what: str, guard: float = HANG_GUARD) -> None:
    """Poll ``check`` until it holds; fail after ``guard`` seconds (a hang guard)."""
    deadline = time.monotonic() + guard
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.05)


def write_corpus(folder: Path) -> dict[str, Path]:
    """A small real folder: text in several formats, an unsupported file, a bad one."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "notes": folder / "notes.md",
        "manual": folder / "sub" / "manual.txt",
        "page": folder / "page.html",
        "table": folder / "prices.csv",
        "latin1": folder / "legacy.txt",
        "image": folder / "photo.jpg",
        "binary": folder / "fake.txt",
    }
    files["manual"].parent.mkdir(parents=True, exist_ok=True)
    files["notes"].write_text(
        "# Warranty\n\nThe warranty period is two years from the date of purchase.\n\n"
        "## Returns\n\nReturns are accepted within thirty days with the receipt.\n",
        encoding="utf-8",
    )
    files["manual"].write_text(
        "Setting up the espresso machine\n\nFill the water tank and press the power "
        "button. The boiler heats for five minutes before the first shot.\n",
        encoding="utf-8",
    )
    files["page"].write_text(
        "<html><head><script>var tracking = 1;</script></head><body><nav>Menu</nav>"
        "<main><h1>Gardening</h1><p>Tomatoes need full sun and regular watering.</p>"
        "</main></body></html>",
        encoding="utf-8",
    )
    files["table"].write_text("item,price\nkettle,30\ntoaster,25\n", encoding="utf-8")
    files["latin1"].write_bytes("Café crème brûlée: a façade of naïve déjà vu.\n".encode("latin-1"))
    files["image"].write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    files["binary"].write_bytes(b"\x7fELF" + bytes(range(256)) * 8)
    return files


def worker_hook(monkeypatch: MonkeyPatch, folder: Path, code: str) -> Path:
    """Fault injection in the extract worker: ``code`` runs in each worker process at its
    start (``DESKTOPCHAT_EXTRACT_WORKER_HOOK``), before it reads a file."""
    from desktopchat.core.documents.extract_worker import HOOK_ENVIRONMENT

    folder.mkdir(parents=True, exist_ok=True)
    hook = folder / "extract_worker_hook.py"
    hook.write_text(textwrap.dedent(code), encoding="utf-8")
    monkeypatch.setenv(HOOK_ENVIRONMENT, str(hook))
    return hook
