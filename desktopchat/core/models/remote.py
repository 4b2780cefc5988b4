"""What the model manager knows about repositories and files on the Hub.

Plain data, filled by the Hub adapter (hub.py) and used by downloads, fit verdicts, the
CLI and the window alike. File names from a listing are checked here: a name that is
absolute or climbs out with ``..`` is refused, so no listing can make us write outside
the models folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from desktopchat.core.errors import DesktopChatError

# model-Q4_K_M-00001-of-00003.gguf: llama.cpp's split naming (gguf-split).
_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<part>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)
_QUANT = re.compile(
    r"(?<![A-Za-z0-9])(I?Q\d(?:_[A-Z0-9]+)*|F16|BF16|F32|MXFP4)(?![A-Za-z0-9])", re.IGNORECASE
)


@dataclass(frozen=True)
class SplitName:
    stem: str  # "model-Q4_K_M"
    part: int  # 1-based
    count: int


def split_name(name: str) -> SplitName | None:
    """The parts of a split GGUF's file name (the last path component of ``name``), or
    None for a file that is not one part of a split model."""
    match = _SPLIT.match(PurePosixPath(name).name)
    if match is None:
        return None
    return SplitName(match["stem"], int(match["part"]), int(match["count"]))


class UnsafeFileNameError(DesktopChatError):
    """A repository listed a file name that would escape the models folder."""


def safe_name(name: str) -> PurePosixPath:
    """``name`` as a relative path inside a repository, or UnsafeFileNameError."""
    path = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or path.is_absolute()
        or re.match(r"^[A-Za-z]:", name)
        or any(part in ("..", ".", "") for part in name.split("/"))
    ):
        raise UnsafeFileNameError(
            f"The repository lists a file named {name!r}, which is not a plain relative "
            "name; it was refused so that nothing is written outside the models folder."
        )
    return path


@dataclass(frozen=True)
class RepoSummary:
    repo_id: str
    downloads: int
    likes: int
    last_modified: str  # ISO 8601, as the Hub gives it ("" when unknown)
    gated: bool
    private: bool = False


@dataclass(frozen=True)
class RemoteFile:
    name: str  # path inside the repository
    size: int
    sha256: str | None  # from the Hub's LFS metadata; None for a small non-LFS file
    blob_id: str | None = None  # git's SHA-1 of the blob: checks a non-LFS file

    @property
    def path(self) -> PurePosixPath:
        return safe_name(self.name)


@dataclass(frozen=True)
class ModelFile:
    """One downloadable model: a single .gguf, or every part of a split one."""

    parts: tuple[RemoteFile, ...]

    @property
    def name(self) -> str:
        """The first part's name (what llama.cpp is given to load a split model)."""
        return self.parts[0].name

    @property
    def label(self) -> str:
        first = self.parts[0].name
        split = split_name(first)
        if split and len(self.parts) > 1:
            return f"{PurePosixPath(first).parent / split.stem}.gguf ({len(self.parts)} parts)"
        return first

    @property
    def size(self) -> int:
        return sum(part.size for part in self.parts)

    @property
    def quantization(self) -> str:
        found = _QUANT.findall(PurePosixPath(self.parts[0].name).name)
        return found[-1].upper() if found else ""

    @property
    def complete(self) -> bool:
        """Whether every part of a split model is listed."""
        split = split_name(self.parts[0].name)
        return split is None or len(self.parts) == split.count


@dataclass(frozen=True)
class RepoFiles:
    repo_id: str
    revision: str  # the commit the listing came from: downloads pin it
    gated: bool
    private: bool
    files: tuple[RemoteFile, ...]  # every file, names checked

    def models(self) -> list[ModelFile]:
        """Every GGUF model in the repository, split parts grouped, smallest first."""
        singles: list[ModelFile] = []
        groups: dict[tuple[str, str], list[RemoteFile]] = {}
        for file in self.files:
            path = PurePosixPath(file.name)
            if path.suffix.lower() != ".gguf":
                continue
            split = split_name(file.name)
            if split:
                groups.setdefault((str(path.parent), split.stem), []).append(file)
            else:
                singles.append(ModelFile((file,)))
        grouped = [
            ModelFile(tuple(sorted(parts, key=lambda f: f.name))) for parts in groups.values()
        ]
        return sorted(singles + grouped, key=lambda m: (m.size, m.name))

    def find(self, name: str) -> ModelFile:
        """The model whose (first) file is ``name``, or whose label or part is."""
        for model in self.models():
            if name in (model.name, model.label) or any(p.name == name for p in model.parts):
                return model
        raise DesktopChatError(f"{self.repo_id} has no GGUF file named {name!r}.")
