"""The architecture, enforced: a Qt-free core and one adapter module per library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "desktopchat"

# third-party library -> the only modules allowed to import it
ADAPTERS = {
    "llama_cpp": {"core/inference/llama/native.py"},
    "huggingface_hub": {"core/models/hub.py"},
    "httpx2": {"core/models/hub.py"},  # huggingface_hub's HTTP client
    "keyring": {"core/secrets.py"},
    "platformdirs": {"core/paths.py"},
    "packaging": {"core/notices.py"},
    "jinja2": {"core/inference/template.py"},
    "markdown_it": {"ui/markdown.py"},
    "pygments": {"ui/markdown.py"},
    # Local documents: one parser adapter per library.
    "pypdfium2": {"core/documents/parsers/pdf.py"},
    "docx": {"core/documents/parsers/word.py"},
    "selectolax": {"core/documents/parsers/web.py"},
    "charset_normalizer": {"core/documents/parsers/text.py"},
    "odf": {"core/documents/parsers/opendocument.py"},
    "pptx": {"core/documents/parsers/slides.py"},
    "openpyxl": {"core/documents/parsers/sheets.py"},
    "ebooklib": {"core/documents/parsers/epub.py"},
    "watchdog": {"core/documents/watch.py"},
    # The default embedder's conversion to GGUF, and its tokenizer in the engine process.
    "gguf": {"core/models/embedder_convert.py"},
    "safetensors": {"core/models/embedder_convert.py"},
    "tokenizers": {"core/inference/llama/embedding.py"},
    # Tools from MCP servers: the official SDK, and anyio, the async library it runs on.
    "mcp": {"core/tools/mcp.py"},
    "anyio": {"core/tools/mcp.py"},
    # Measured in bench/ only (vectors are searched with numpy): never in the app.
    "apsw": set(),
    "sqlite_vec": set(),
}
# libraries whose adapter is a package: only modules under this folder may import them
ADAPTER_PACKAGES = {"sqlite3": "core/storage/"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # "from desktopchat import app" imports the module desktopchat.app
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules() -> dict[str, set[str]]:
    return {
        path.relative_to(PACKAGE).as_posix(): imports_of(path) for path in PACKAGE.rglob("*.py")
    }


def test_core_imports_no_qt_ui_or_app() -> None:
    for module, names in modules().items():
        if module.startswith("core/"):
            bad = {
                n
                for n in names
                if n.split(".")[0] in ("PySide6", "shiboken6")
                or n.startswith(("desktopchat.ui", "desktopchat.app", "desktopchat.cli"))
            }
            assert not bad, f"{module} imports {bad}"


def test_only_ui_imports_pyside6() -> None:
    for module, names in modules().items():
        if any(n.split(".")[0] == "PySide6" for n in names):
            assert module.startswith("ui/"), f"{module} imports PySide6"


def test_ui_never_talks_to_llama_or_the_hub_directly() -> None:
    for module, names in modules().items():
        if module.startswith("ui/"):
            bad = {n for n in names if n.split(".")[0] in ("llama_cpp", "huggingface_hub")}
            assert not bad, f"{module} imports {bad}"


def test_each_library_has_one_adapter() -> None:
    for module, names in modules().items():
        for library, allowed in ADAPTERS.items():
            if any(n.split(".")[0] == library for n in names):
                assert module in allowed, f"{module} imports {library}; only {allowed} may"
        for library, folder in ADAPTER_PACKAGES.items():
            if any(n.split(".")[0] == library for n in names):
                assert module.startswith(folder), f"{module} imports {library}; only {folder}"


# what the window process must never import: the composition root (it is built by it),
# the CLI, and anything that loads llama.cpp (that lives in the engine process only)
UI_FORBIDDEN = (
    "desktopchat.app",
    "desktopchat.cli",
    "desktopchat.core.inference.llama",
    "desktopchat.core.inference.engine_host",
)


def test_ui_never_imports_the_composition_root_or_the_llama_adapter() -> None:
    for module, names in modules().items():
        if module.startswith("ui/"):
            bad = {n for n in names if n.startswith(UI_FORBIDDEN)}
            assert not bad, f"{module} imports {bad}"


def test_nothing_below_the_composition_root_imports_it() -> None:
    for module, names in modules().items():
        if module not in ("app.py", "__main__.py") and not module.startswith("cli"):
            bad = {n for n in names if n == "desktopchat.app"}
            assert not bad, f"{module} imports {bad}"


def test_the_layering_check_sees_the_real_imports() -> None:
    found = modules()
    assert "llama_cpp" in found["core/inference/llama/native.py"]
    assert any(n.startswith("PySide6") for n in found["ui/main_window.py"])


def test_the_window_and_the_cli_load_huggingface_hub_only_when_they_connect() -> None:
    """Importing it costs ~0.35 s: never at start, never on the GUI thread by a side door
    (the model manager's delete or fit code importing the Hub client's module)."""
    code = (
        "import sys\n"
        "import desktopchat.cli, desktopchat.ui.main_window, desktopchat.core.models.manager\n"
        "print(sorted(m for m in ('huggingface_hub', 'httpx2', 'llama_cpp') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
