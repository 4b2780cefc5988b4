"""Grammars that constrain a reply to JSON (to a JSON Schema, when given).

Building a grammar from a schema takes a while, and a chat sends the same schema with
every reply, so each engine keeps its last few.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

from desktopchat.core.errors import GenerationError
from desktopchat.core.inference.llama.native import NativeLlama

KEPT = 8


class JsonGrammars:
    """One engine's JSON grammars, the most recently used ``KEPT`` kept."""

    def __init__(self, native: NativeLlama, kept: int = KEPT) -> None:
        self._native = native
        self._kept = kept
        self._grammars: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, schema: str) -> Any:
        """The grammar for any JSON object (``schema`` empty) or for JSON matching it."""
        with self._lock:
            if schema in self._grammars:
                self._grammars.move_to_end(schema)
                return self._grammars[schema]
        try:
            grammar = self._native.json_grammar(schema)
        except Exception as exc:  # the converter raises many kinds for unsupported schemas
            raise GenerationError(
                f"The JSON Schema cannot be used to constrain the reply: {exc}"
            ) from None
        with self._lock:
            self._grammars[schema] = grammar
            while len(self._grammars) > self._kept:
                self._grammars.popitem(last=False)
        return grammar
