"""Which model architectures the bundled llama.cpp can run.

llama.cpp does not export its list of architectures, but every name it knows
is in its library's table of names (``LLM_ARCH_NAMES``: "llama", "qwen3", "gemma3", …). A
GGUF whose ``general.architecture`` is not among them fails to load with "unknown model
architecture". We look the name up in the library file that will load the model, so the
answer is right for whichever build is installed (CPU, CUDA, Metal) and never needs a
hand-kept list. The library is found without importing llama_cpp (that costs ~0.2 s and
belongs to the engine's process). An ``ArchitectureTable`` holds what was read; whoever
needs one is given it (the model library, the model manager, the CLI).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)

LIBRARY_NAMES = ("libllama.so", "libllama.dylib", "llama.dll")


def llama_library() -> Path | None:
    """The bundled llama.cpp library file, or None when it cannot be found."""
    try:
        spec = importlib.util.find_spec("llama_cpp")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for name in LIBRARY_NAMES:
            path = Path(folder) / "lib" / name
            if path.is_file():
                return path
    return None


class ArchitectureTable:
    """The names the bundled llama.cpp knows, read from its library file on first use
    (~4 MB, once per table; call off the GUI thread the first time). Thread-safe: a table
    can be shared by every part of the process that asks."""

    def __init__(self, library: Path | None = None) -> None:
        self._library = library  # None: the bundled library, found on first use
        self._lock = threading.Lock()
        self._read = False
        self._strings: bytes | None = None

    def load(self) -> None:
        """Read the library's names now (they are then answered from memory)."""
        with self._lock:
            if self._read:
                return
            path = self._library or llama_library()
            if path is not None:
                try:
                    self._strings = path.read_bytes()
                except OSError as exc:
                    log.warning("cannot read %s: %s", path, exc)
            self._read = True

    def is_supported(self, architecture: str) -> bool | None:
        """Whether llama.cpp knows ``architecture``; None when that cannot be told."""
        self.load()
        strings = self._strings
        if strings is None or not architecture:
            return None
        # The linker shares string tails ("qwen2" is stored as the end of "rwkv6qwen2"), so
        # a name is looked for as the end of a string. A name that only ends another string
        # is taken as known: the check may miss an unknown model (the load then explains),
        # but never warns about one that runs.
        return architecture.encode("utf-8", "replace") + b"\0" in strings

    def unsupported_warning(self, architecture: str, what: str) -> str:
        """A warning for a model (``what``: its name) whose architecture llama.cpp does not
        know; empty when it is known, or when that cannot be told."""
        if self.is_supported(architecture) is not False:
            return ""
        return (
            f"{what} is a '{architecture}' model, an architecture the bundled llama.cpp does "
            "not support: it will not load. Choose another model, or update DesktopChat."
        )
