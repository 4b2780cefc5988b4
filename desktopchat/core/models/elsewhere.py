"""GGUF models the user already has from other apps, to use in place (no second copy).

Looked for where those apps keep them: the Hugging Face cache (``HF_HUB_CACHE``,
``HF_HOME/hub`` or ``~/.cache/huggingface/hub``: models--OWNER--NAME/snapshots/REV/FILE),
LM Studio (``~/.lmstudio/models`` and the older ``~/.cache/lm-studio/models``) and GPT4All
(its data folder per platform). Only reads folder listings; runs off the GUI thread.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from desktopchat.core.models.remote import split_name

HF_CACHE = "Hugging Face cache"
LM_STUDIO = "LM Studio"
GPT4ALL = "GPT4All"
MOST_FILES = 2000  # per folder: a scan of a huge tree stops here
MOST_DEPTH = 6


@dataclass(frozen=True)
class FoundModel:
    path: Path  # as the other app names it (a Hugging Face snapshot link, not its blob)
    app: str
    size: int


def other_app_folders(
    home: Path, env: Mapping[str, str] = os.environ, platform: str = sys.platform
) -> list[tuple[str, Path]]:
    """Where other apps keep models on this system, whether or not they exist."""
    if env.get("HF_HUB_CACHE"):
        hf = Path(env["HF_HUB_CACHE"])
    elif env.get("HF_HOME"):
        hf = Path(env["HF_HOME"]) / "hub"
    else:
        cache = Path(env.get("XDG_CACHE_HOME") or home / ".cache")
        hf = cache / "huggingface" / "hub"
    folders = [
        (HF_CACHE, hf),
        (LM_STUDIO, home / ".lmstudio" / "models"),
        (LM_STUDIO, home / ".cache" / "lm-studio" / "models"),
    ]
    if platform == "darwin":
        gpt4all = home / "Library" / "Application Support" / "nomic.ai" / "GPT4All"
    elif platform == "win32":
        local = env.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        gpt4all = Path(local) / "nomic.ai" / "GPT4All"
    else:
        data = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
        gpt4all = data / "nomic.ai" / "GPT4All"
    folders.append((GPT4ALL, gpt4all))
    return folders


def find_elsewhere(folders: list[tuple[str, Path]], known: set[Path]) -> list[FoundModel]:
    """Chat models (GGUF files; a split model once, by its first part; no vision
    projectors) in ``folders`` that are not among ``known`` (resolved paths)."""
    found: dict[Path, FoundModel] = {}
    for app, folder in folders:
        for path in _gguf_files(folder):
            name = path.name.lower()
            split = split_name(path.name)
            if name.startswith("mmproj") or (split is not None and split.part > 1):
                continue
            try:
                real = path.resolve()
                size = real.stat().st_size
            except OSError:
                continue  # a dangling link: a download the other app never finished
            if real in known or real in found:
                continue
            found[real] = FoundModel(path, app, size)
    return sorted(found.values(), key=lambda m: (m.app, str(m.path).lower()))


def _gguf_files(folder: Path) -> Iterator[Path]:
    """``*.gguf`` under ``folder`` (links followed, depth and count bounded)."""
    count = 0
    for root, dirs, files in os.walk(folder, followlinks=True):
        depth = len(Path(root).relative_to(folder).parts)
        if depth >= MOST_DEPTH:
            dirs[:] = []
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "blobs"]
        for name in sorted(files):
            if name.lower().endswith(".gguf"):
                count += 1
                if count > MOST_FILES:
                    return
                yield Path(root) / name
