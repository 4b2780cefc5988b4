"""Chunks that follow a document's structure, within a token budget, with overlap and anchors.

``chunk(extracted)`` cuts ``Extracted.text`` (the block texts joined by "\\n\\n") into
passages for the index:

- A chunk never crosses a page, nor a heading of the same or a higher level than the
  section it is in (a subsection may share its parent's chunk when both fit).
- Blocks are packed whole up to the budget; a block over the budget is cut at its own
  seams: prose at sentence ends (also 。！？ and the spaces between Thai phrases), then
  line ends, then spaces, then characters; code at blank lines, then line ends; tables
  at rows.
- The next chunk of the same section starts with the tail of the previous one
  (``overlap_tokens``, at a word boundary; whole lines for code; none for tables, whose
  continuation chunks repeat the table's first row, its header, instead).
- ``start``/``end`` is the chunk's span in ``Extracted.text``; ``text`` is that span, with
  the table header in front for a table's continuation chunks, so ``text`` always ends
  with ``Extracted.text[start:end]``. The spans are ordered and cover every non-space
  character of the text.
- Each chunk carries its anchor: the page, the heading path where it starts, and for
  text files the line range its span covers.

Tokens are counted with ``count_tokens`` (the indexer passes the embedder's own
tokenizer); the default, ``approx_tokens``, is a deliberate over-estimate of a BERT
WordPiece count (see there), so the default budget of 256 keeps chunks inside
all-MiniLM-L6-v2's 256-token window.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from desktopchat.core.documents.types import Anchor, Block, BlockKind, ChunkText, Extracted

TokenCounter = Callable[[str], int]
_SEPARATOR = "\n\n"  # Extracted.text joins the block texts with it

# Scripts written without spaces, or split by WordPiece into about one token a character.
_CJK = (
    "\u1100-\u11ff\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\u3200-\u33ff"
    "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff00-\uffef"
    "\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff"  # Thai, Lao, Myanmar, Khmer
)
_UNIT = re.compile(rf"([{_CJK}])|([A-Za-z]+)|(\d+)|([^\W\d_]+)|[^\w\s]|_")
_HANGUL = re.compile(r"[\uac00-\ud7af]")


def _latin(word: str) -> str | None:
    """The word without its accents if it is Latin script ("größere" -> "großere")."""
    bare = "".join(ch for ch in unicodedata.normalize("NFD", word) if not unicodedata.combining(ch))
    return bare if all(ch.isascii() or ch == "ß" for ch in bare) else None


def _letters(size: int) -> int:
    return 1 if size <= 6 else 2 if size <= 8 else 1 + size // 3


def approx_tokens(text: str) -> int:
    """About how many WordPiece tokens ``text`` is, rounded up on purpose.

    Each CJK, kana, Hangul, Thai (and similar script) character counts 1 (a Hangul
    syllable 3: WordPiece splits it into jamo), and so does each punctuation mark; a
    Latin word counts 1 up to 6 letters and one more for every 4 letters beyond; a number
    2 for every 3 digits; a word in another alphabet (Cyrillic, Greek, Devanagari...) 1 a
    letter. Letters, digits and underscores are counted apart ("max_len2" is 4 units);
    the sum gets a tenth on top, and 2 for [CLS] and [SEP]. Measured against
    all-MiniLM-L6-v2's tokenizer (tests/core/documents/test_chunking.py), chunks of 256 of
    these hold fewer than 256 real tokens in English prose, code, tables of numbers,
    Russian, Japanese, Chinese and Korean; Thai is over-counted about tenfold (the model
    reads a Thai phrase as one unknown token), so Thai chunks stay small.
    """
    total = 0
    for found in _UNIT.finditer(text):
        cjk, ascii_letters, digits, word = found.groups()
        if cjk is not None:
            total += 3 if _HANGUL.match(cjk) else 1
        elif ascii_letters is not None:
            total += _letters(len(ascii_letters))
        elif digits is not None:
            total += (2 * len(digits) + 2) // 3
        elif word is not None:
            bare = _latin(word)
            total += _letters(len(bare)) if bare is not None else len(word)
        else:
            total += 1
    return total + (total + 9) // 10 + 2


# Where a block may be cut, by kind, finest last. Each pattern's match END is a cut.
_SENTENCE_END = re.compile(
    r"[.!?…]+[\"'”’»)\]]*\s+"  # Latin-style: a mark and the space after it
    r"|[。！？｡︒！？؟।॥۔]+[\"'」』”’)）]*\s*"  # CJK, Arabic, Devanagari: no space needed
    r"|(?<=[\u0e00-\u0e7f])[ \u00a0]+(?=[\u0e00-\u0e7f])"  # Thai: a space ends a phrase
    r"|\n[ \t]*\n\s*"
)
_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")
_LINE_END = re.compile(r"\n")
_SPACE = re.compile(r"\s+")
_CELL = re.compile(r" \| ")
_LEVELS: dict[BlockKind, tuple[re.Pattern[str], ...]] = {
    BlockKind.PARAGRAPH: (_SENTENCE_END, _LINE_END, _SPACE),
    BlockKind.HEADING: (_SENTENCE_END, _SPACE),
    BlockKind.CODE: (_BLANK_LINE, _LINE_END, _SPACE),
    BlockKind.TABLE: (_LINE_END, _CELL, _SPACE),
}
_WORD_START = re.compile(rf"(?<=\s)\S|[{_CJK}]")


@dataclass(frozen=True)
class _Placed:
    """A block with its span in Extracted.text."""

    block: Block
    start: int
    end: int
    section: int  # the level of the heading whose section this block is in (0: none)

    def line_at(self, offset: int) -> int | None:
        """The file line of ``offset`` (inside this block), for blocks with a line range."""
        first = self.block.anchor.line_start
        if first is None:
            return None
        if offset >= self.end:
            return self.block.anchor.line_end or first
        return first + self.block.text.count("\n", 0, offset - self.start)


@dataclass(frozen=True)
class _Piece:
    """A part of one block that is packed whole: [start, end) in Extracted.text."""

    placed: _Placed
    start: int
    end: int
    tokens: int  # without the counter's fixed cost (its count of "")
    overlap: bool = False  # the tail of the previous chunk


def _cuts(pattern: re.Pattern[str], text: str, start: int, end: int) -> list[int]:
    return [m.end() for m in pattern.finditer(text, start, end) if start < m.end() < end]


def _hard_cut(text: str, start: int, end: int, count: TokenCounter, budget: int) -> int:
    """The furthest cut after ``start`` whose part fits the budget (at least one char)."""
    low, high = start + 1, end
    while low < high:
        middle = (low + high + 1) // 2
        if count(text[start:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def _split(
    text: str,
    start: int,
    end: int,
    levels: tuple[re.Pattern[str], ...],
    count: TokenCounter,
    budget: int,
) -> Iterator[tuple[int, int, int]]:
    """(start, end, tokens) parts of text[start:end] that each fit the budget."""
    tokens = count(text[start:end])
    if tokens <= budget:
        yield start, end, tokens
        return
    for depth, pattern in enumerate(levels):
        cuts = _cuts(pattern, text, start, end)
        if cuts:
            bounds = [start, *cuts, end]
            for a, b in itertools.pairwise(bounds):
                yield from _split(text, a, b, levels[depth + 1 :], count, budget)
            return
    while start < end:
        cut = _hard_cut(text, start, end, count, budget)
        yield start, cut, count(text[start:cut])
        start = cut


def _runs(placed: list[_Placed]) -> Iterator[list[_Placed]]:
    """The blocks of one page each (chunks never cross a page)."""
    run: list[_Placed] = []
    for item in placed:
        if run and item.block.anchor.page != run[0].block.anchor.page:
            yield run
            run = []
        run.append(item)
    if run:
        yield run


class _Chunker:
    def __init__(
        self, extracted: Extracted, budget: int, overlap: int, count: TokenCounter
    ) -> None:
        self.text = extracted.text
        self.budget = budget
        self.overlap = overlap
        self.count = count
        self.base = count("")  # what every count includes ([CLS] and [SEP])
        self.out: list[ChunkText] = []
        self.placed: list[_Placed] = []
        offset = 0
        section = 0
        for block in extracted.blocks:
            if block.kind is BlockKind.HEADING:
                section = max(block.level, 1)
            if block.text:
                self.placed.append(_Placed(block, offset, offset + len(block.text), section))
                offset += len(block.text) + len(_SEPARATOR)

    def cost(self, text: str) -> int:
        return max(0, self.count(text) - self.base)

    def first_row(self, placed: _Placed) -> str:
        """A table's first row (its header), if it is short enough to repeat."""
        if placed.block.kind is not BlockKind.TABLE:
            return ""
        first = placed.block.text.split("\n", 1)[0]
        return first if self.cost(first) <= self.budget // 4 else ""

    def pieces(self, run: list[_Placed]) -> Iterator[_Piece]:
        for item in run:
            levels = _LEVELS.get(item.block.kind, _LEVELS[BlockKind.PARAGRAPH])
            room = self.budget - self.cost(self.first_row(item) + "\n")  # header repeated
            for a, b, tokens in _split(self.text, item.start, item.end, levels, self.count, room):
                if self.text[a:b].strip():
                    yield _Piece(item, a, b, max(0, tokens - self.base))

    def header(self, piece: _Piece) -> str:
        """The table's header row, when ``piece`` continues a table in a new chunk."""
        if piece.start == piece.placed.start:
            return ""
        row = self.first_row(piece.placed)
        return row + "\n" if row else ""

    def tail(self, last: _Piece, start: int, end: int) -> int | None:
        """Where the overlap that the next chunk starts with begins, or None."""
        kind = last.placed.block.kind
        if self.overlap <= 0 or kind is BlockKind.TABLE:
            return None
        lo = max(start, last.placed.start)  # the overlap stays inside one block
        if kind is BlockKind.CODE:
            candidates = [m.end() for m in _LINE_END.finditer(self.text, lo, end)]
        else:
            candidates = [m.start() for m in _WORD_START.finditer(self.text, lo, end)]
        best: int | None = None
        for position in reversed(candidates):
            if position <= start or position >= end:
                continue
            if self.cost(self.text[position:end]) > self.overlap:
                break
            best = position
        return best

    def emit(self, pieces: list[_Piece], header: str) -> None:
        start, end = pieces[0].start, pieces[-1].end
        while start < end and self.text[start].isspace():
            start += 1
        while end > start and self.text[end - 1].isspace():
            end -= 1
        body = header + self.text[start:end]
        opening, closing = pieces[0].placed, pieces[-1].placed
        line_start = opening.line_at(start)
        line_end = closing.line_at(end) if end >= closing.end else closing.line_at(end - 1)
        anchor = Anchor(
            page=opening.block.anchor.page,
            headings=opening.block.anchor.headings,
            line_start=line_start,
            line_end=line_end if line_start is not None else None,
        )
        self.out.append(
            ChunkText(
                ordinal=len(self.out),
                text=body,
                anchor=anchor,
                tokens=self.count(body),
                start=start,
                end=end,
            )
        )

    def close(self, current: list[_Piece], header: str, queue: list[_Piece]) -> list[_Piece]:
        """Emit ``current``; while its exact count is over the budget (a counter that is
        not additive), drop the overlap, then give pieces back to ``queue``."""
        while len(current) > 1:
            body = header + self.text[current[0].start : current[-1].end].strip()
            if self.count(body) <= self.budget:
                break
            if current[0].overlap:
                current = current[1:]
                header = self.header(current[0])
            else:
                queue.append(current.pop())
        self.emit(current, header)
        return current

    def reopen(self, closed: list[_Piece], queue: list[_Piece]) -> list[_Piece]:
        """The overlap the next chunk starts with: the tail of the closed chunk, when the
        next piece continues the same section (not a heading, same heading path)."""
        if not queue:
            return []
        last, following = closed[-1], queue[-1]
        if (
            following.placed.block.kind is BlockKind.HEADING
            or following.placed.block.anchor.headings != last.placed.block.anchor.headings
        ):
            return []
        chunk = self.out[-1]
        position = self.tail(last, chunk.start, chunk.end)
        if position is None:
            return []
        tokens = self.cost(self.text[position : chunk.end])
        if self.base + tokens + following.tokens > self.budget:
            return []
        return [_Piece(last.placed, position, chunk.end, tokens, overlap=True)]

    @staticmethod
    def joins(current: list[_Piece], piece: _Piece) -> bool:
        """Whether ``piece`` may join the chunk: not a heading of the chunk's own section
        level or higher (text before the first heading takes no heading at all)."""
        block = piece.placed.block
        if block.kind is not BlockKind.HEADING or piece.start != piece.placed.start:
            return True
        level = current[0].placed.section
        return level > 0 and max(block.level, 1) > level

    def run(self, run: list[_Placed]) -> None:
        queue = list(self.pieces(run))
        queue.reverse()  # the next piece is queue[-1]
        current: list[_Piece] = []
        header = ""
        used = 0
        while True:
            if queue and not current:
                piece = queue.pop()
                header = self.header(piece)
                current = [piece]
                used = self.base + (self.cost(header) if header else 0) + piece.tokens
                continue
            if queue and used + queue[-1].tokens <= self.budget and self.joins(current, queue[-1]):
                piece = queue.pop()
                current.append(piece)
                used += piece.tokens
                continue
            if not current:
                return
            closed = self.close(current, header, queue)
            current = self.reopen(closed, queue)
            header = ""
            used = self.base + sum(p.tokens for p in current)

    def chunks(self) -> list[ChunkText]:
        for run in _runs(self.placed):
            self.run(run)
        return self.out


def chunk(
    extracted: Extracted,
    *,
    budget_tokens: int = 256,
    overlap_tokens: int = 32,
    count_tokens: TokenCounter | None = None,
) -> list[ChunkText]:
    """The chunks of a parsed document, in order (see the module's docstring)."""
    if budget_tokens < 8:
        raise ValueError("budget_tokens must be at least 8")
    overlap = max(0, min(overlap_tokens, budget_tokens // 2))
    counter = count_tokens or approx_tokens
    return _Chunker(extracted, budget_tokens, overlap, counter).chunks()
