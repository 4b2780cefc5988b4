"""Generated English prose for the documents benchmarks: sentences from a word-bigram chain
trained on real prose (the Python documentation's topics that ship with CPython, in
``pydoc_data``), so the vocabulary, word lengths and sentence shapes are those of real
text and every file differs. Deterministic for a seed.
"""

from __future__ import annotations

import itertools
import pydoc_data.topics
import random
import re
from collections import defaultdict
from pathlib import Path

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z]|[0-9]+|[.,;:?!]")
_END = {".", "?", "!"}


def _corpus() -> list[str]:
    """The prose lines of the topics (code and tables left out), as tokens."""
    lines = []
    for text in pydoc_data.topics.topics.values():
        for line in text.splitlines():
            stripped = line.strip()
            # Prose is indented at most two spaces in these texts; code and tables deeper.
            if (
                stripped
                and len(line) - len(line.lstrip()) <= 2
                and not stripped.startswith(("*", "+", "|", ">>>", "-", "="))
            ):
                lines.append(stripped)
    return _WORD.findall(" ".join(lines))


class Prose:
    """Sentences, paragraphs and files of generated prose."""

    def __init__(self, seed: int = 1, sentences: int = 20_000) -> None:
        tokens = _corpus()
        following: dict[str, list[str]] = defaultdict(list)
        for a, b in itertools.pairwise(tokens):
            following[a].append(b)
        starts = [b for a, b in itertools.pairwise(tokens) if a in _END and b[0].isupper()]
        rng = random.Random(seed)
        self._rng = rng
        self.sentences = [self._sentence(rng, following, starts) for _ in range(sentences)]

    @staticmethod
    def _sentence(rng: random.Random, following: dict[str, list[str]], starts: list[str]) -> str:
        word = rng.choice(starts)
        words = [word]
        while len(words) < 40:
            nexts = following.get(word)
            if not nexts:
                break
            word = rng.choice(nexts)
            if word in _END:
                break
            words.append(word)
        text = " ".join(words)
        text = re.sub(r" ([,;:])", r"\1", text).rstrip(",;:")
        return text + "."

    def paragraph(self) -> str:
        return " ".join(self._rng.choices(self.sentences, k=self._rng.randint(3, 9)))

    def text(self, size: int, extra: str = "") -> str:
        """About ``size`` characters of paragraphs; ``extra`` goes into the last one."""
        parts: list[str] = []
        total = 0
        while total < size:
            paragraph = self.paragraph()
            parts.append(paragraph)
            total += len(paragraph) + 2
        if extra:
            parts[-1] = f"{parts[-1]} {extra}"
        return "\n\n".join(parts) + "\n"


def marker(index: int) -> str:
    """A word found in one generated file only (letters, so every tokenizer keeps it)."""
    letters = ""
    n = index
    for _ in range(5):
        n, r = divmod(n, 26)
        letters += chr(ord("a") + r)
    return f"quorvex{letters}"


def write_folder(
    folder: Path, files: int, total_bytes: int, seed: int = 1, nested: int = 0
) -> list[Path]:
    """``files`` text files of generated prose, ``total_bytes`` in all; file i holds the
    word ``marker(i)``. ``nested``: spread them over that many subfolders."""
    prose = Prose(seed)
    each = max(1, total_bytes // files)
    paths = []
    for i in range(files):
        parent = folder / f"part-{i % nested:03d}" if nested else folder
        parent.mkdir(parents=True, exist_ok=True)
        path = parent / f"note-{i:05d}.txt"
        path.write_text(prose.text(each, extra=f"The code word is {marker(i)}."), "utf-8")
        paths.append(path)
    return paths
