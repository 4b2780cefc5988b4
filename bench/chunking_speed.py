"""The chunker's speed before and after it was made faster, in one run: characters per
second of ``chunk`` (the default budget, overlap and counter) on real text, the AWS CLI's
.rst documentation that the venv ships (read by the real parser), and on generated prose,
against the frozen reference implementation (tests/core/documents/chunking_reference.py).

    python -m bench.chunking_speed [MEGABYTES]
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

from bench.prose import Prose
from desktopchat.core.documents import chunking
from desktopchat.core.documents.parsers import extract
from desktopchat.core.documents.types import Anchor, Block, BlockKind, Extracted
from tests.core.documents import chunking_reference


def awscli_documents(megabytes: float) -> list[Extracted]:
    spec = importlib.util.find_spec("awscli")
    assert spec is not None and spec.origin is not None
    out: list[Extracted] = []
    total = 0
    for path in sorted((Path(spec.origin).parent / "examples").rglob("*.rst")):
        extracted = extract(path)
        out.append(extracted)
        total += len(extracted.text)
        if total >= megabytes * 1e6:
            break
    return out


def prose_documents(megabytes: float, each: int = 50_000) -> list[Extracted]:
    """Files of generated prose of ``each`` characters (the keyword bench's 50 KB files)."""
    prose = Prose(1)
    out = []
    for _ in range(max(1, int(megabytes * 1e6) // each)):
        blocks = []
        line = 1
        for paragraph in prose.text(each).strip().split("\n\n"):
            anchor = Anchor(line_start=line, line_end=line)
            blocks.append(Block(BlockKind.PARAGRAPH, paragraph, anchor))
            line += 2
        out.append(Extracted(tuple(blocks)))
    return out


def rate(documents: list[Extracted], reference: bool) -> float:
    chars = sum(len(d.text) for d in documents)
    start = time.perf_counter()
    for d in documents:
        if reference:
            chunking_reference.chunk(d)
        else:
            chunking.chunk(d)
    return chars / (time.perf_counter() - start)


def main() -> None:
    megabytes = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    sets = {"awscli .rst": awscli_documents(megabytes), "prose": prose_documents(megabytes)}
    for name, documents in sets.items():
        chars = sum(len(d.text) for d in documents)
        for _ in range(3):  # alternated: a busy machine slows both alike
            before, after = rate(documents, True), rate(documents, False)
            print(
                f"{name} ({chars / 1e6:.1f} M chars, {len(documents)} files):"
                f" before {before / 1e6:.2f} M chars/s, after {after / 1e6:.2f} M chars/s,"
                f" x{after / before:.2f}"
            )


if __name__ == "__main__":
    main()
