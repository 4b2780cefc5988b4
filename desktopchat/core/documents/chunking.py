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
  text files the line range its span covers. ``tokens`` is the count of ``text`` (with
  the default counter, the sum of its parts: never less than ``approx_tokens(text)``).

Tokens are counted with ``count_tokens`` (the indexer passes the embedder's own
tokenizer); the default, ``approx_tokens``, is a deliberate over-estimate of a BERT
WordPiece count (see there), so the default budget of 256 keeps chunks inside
all-MiniLM-L6-v2's 256-token window. With it, the spans of an ASCII text (up to
_SPANS_MAX_CHARS) are counted from prefix sums made once (``_AsciiSpans``), not by
reading each span again; other counters' counts of one document are remembered.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from desktopchat.core.documents.types import Anchor, Block, BlockKind, ChunkText, Extracted

TokenCounter = Callable[[str], int]
SpanCounter = Callable[[int, int], int]  # the count of Extracted.text[start:end]
_SEPARATOR = "\n\n"  # Extracted.text joins the block texts with it

# Scripts written without spaces, or split by WordPiece into about one token a character.
_CJK = (
    "\u1100-\u11ff\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\u3200-\u33ff"
    "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff00-\uffef"
    "\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff"  # Thai, Lao, Myanmar, Khmer
)
# The units counted: a CJK-like character, a run of ASCII letters, of digits, of letters of
# another alphabet, a punctuation mark or an underscore.
_UNITS = re.compile(rf"[{_CJK}]|[A-Za-z]+|\d+|[^\W\d_A-Za-z{_CJK}]+|[^\w\s]|_")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_LONG_ASCII = re.compile(r"[A-Za-z]{7,}")
# _UNITS for ASCII text (no CJK, no other alphabets; "_" is one of the marks): one pass
# with fewer alternatives. \s without re.ASCII, as in _UNITS (it takes \x1c-\x1f too).
_ASCII_UNITS = re.compile(r"[A-Za-z]+|[0-9]+|[^A-Za-z0-9\s]")
_SEVEN_OR_MORE = (7).__le__
_NINE_OR_MORE = (9).__le__
_DIGIT = re.compile(r"\d")
_LONG_DIGITS = re.compile(r"\d{3,}")
_OTHER_WORDS = re.compile(rf"[^\W\d_A-Za-z{_CJK}]{{2,}}")


def approx_tokens(text: str) -> int:
    """About how many WordPiece tokens ``text`` is, rounded up on purpose.

    Each CJK, kana, Thai (and similar script) character counts 1, a Hangul syllable 3
    (WordPiece splits it into jamo), each punctuation mark 1; a run of ASCII letters 1 up
    to 6 letters, 2 up to 8, then a third of its letters; a number 2 for every 3 digits;
    letters of any other alphabet (Cyrillic, Greek, Devanagari, accented Latin) 1 each.
    The sum gets a tenth on top, and 2 for [CLS] and [SEP]. Counted with a few regular
    expression passes (no Python loop over the words of English text).

    Measured against all-MiniLM-L6-v2's tokenizer (tests/core/documents/test_chunking.py),
    chunks of 256 of these hold fewer than 256 real tokens in English prose, code,
    tables of numbers, Russian, Japanese, Chinese and Korean; Thai is over-counted about
    tenfold (the model reads a Thai phrase as one unknown token), so Thai chunks stay small.
    """
    if text.isascii():
        return _approx_ascii(text)
    total = len(_UNITS.findall(text))
    total += 2 * len(_HANGUL.findall(text))
    others = _OTHER_WORDS.findall(text)
    total += sum(map(len, others)) - len(others)
    # sums of lengths rounded up, not per-word roundings: no Python loop, never less, and
    # text cut at spaces never counts more whole than in parts
    long = _LONG_ASCII.findall(text)  # 7 letters and more: 2
    total += len(long)
    if long:  # 9 and more (among those): 1 + a third of the letters
        lengths = list(map(len, long))
        longer = list(map(_NINE_OR_MORE, lengths))
        total += -(-sum(itertools.compress(lengths, longer)) // 3) - sum(longer)
    if _DIGIT.search(text) is not None:
        numbers = _LONG_DIGITS.findall(text)  # 2 for every 3 digits
        total += -(-(2 * sum(map(len, numbers)) + 2 * len(numbers)) // 3) - len(numbers)
    return total + -(-total // 10) + 2


def _approx_ascii(text: str) -> int:
    """approx_tokens of ASCII text, from one pass over it (and one more if it has digits)."""
    return _finish(*_ascii_parts(text))


def _finish(linear: int, nine_letters: int, digits: int) -> int:
    """approx_tokens from the sums of _ascii_parts."""
    total = linear + -(-nine_letters // 3) + -(-digits // 3)
    return total + -(-total // 10) + 2


def _ascii_parts(text: str) -> tuple[int, int, int]:
    """The sums approx_tokens of ASCII text is made of, each a sum over its units (so the
    sums of two texts that no unit crosses add up): units + runs of 7 letters and more -
    runs of 9 and more - numbers of 3 digits and more; the letters of the runs of 9 and
    more; 2 x (digits + 1) of the numbers of 3 digits and more. The units' lengths give
    the runs of 7 and 9 letters and more, less the numbers."""
    units = _ASCII_UNITS.findall(text)
    linear = len(units)
    lengths = list(map(len, units))
    seven = list(map(_SEVEN_OR_MORE, lengths))  # runs of letters or digits (marks are 1)
    sevens = sum(seven)
    nines = nine_letters = digits = 0
    if sevens:
        long = list(itertools.compress(lengths, seven))
        nine = list(map(_NINE_OR_MORE, long))
        nines, nine_letters = sum(nine), sum(itertools.compress(long, nine))
    if _DIGIT.search(text) is not None:
        numbers = list(map(len, _LONG_DIGITS.findall(text)))  # 2 for every 3 digits
        digits = 2 * sum(numbers) + 2 * len(numbers)
        linear -= len(numbers)
        # the numbers of 7 digits and more are no runs of letters
        sevens -= sum(map(_SEVEN_OR_MORE, numbers))
        nine = list(map(_NINE_OR_MORE, numbers))
        nines -= sum(nine)
        nine_letters -= sum(itertools.compress(numbers, nine))
    return linear + sevens - nines, nine_letters, digits


def _ascii_kinds() -> npt.NDArray[np.uint8]:
    """Each ASCII code's kind for _AsciiSpans: 0 space (as \\s has it), 1 letter, 2 digit,
    3 a mark (one unit)."""
    kinds = np.zeros(128, dtype=np.uint8)
    for code in range(128):
        ch = chr(code)
        if re.fullmatch(r"[A-Za-z]", ch):
            kinds[code] = 1
        elif re.fullmatch(r"[0-9]", ch):
            kinds[code] = 2
        elif _ASCII_UNITS.fullmatch(ch):
            kinds[code] = 3
    return kinds


_ASCII_KINDS = _ascii_kinds()
# shorter texts are counted span by span (making the sums costs more than they save)
_SPANS_MIN_CHARS = 2048
_SPANS_MAX_CHARS = 2_000_000  # longer texts are counted span by span (memory: ~60 B a char)


class _AsciiSpans:
    """approx_tokens(text[start:end]) of any span of one ASCII text, from prefix sums of
    _ascii_parts over the text made once (numpy): a span's sums are those between the
    first and last places inside it that no unit crosses, plus the counts of its two
    ends (a few characters each) made directly. The same numbers as approx_tokens."""

    def __init__(self, text: str) -> None:
        self.text = text
        n = len(text)
        kinds = _ASCII_KINDS[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
        letter, digit = kinds == 1, kinds == 2
        after_letter = np.zeros(n, dtype=bool)
        after_letter[1:] = letter[:-1]
        after_digit = np.zeros(n, dtype=bool)
        after_digit[1:] = digit[:-1]
        letters_from = letter & ~after_letter
        digits_from = digit & ~after_digit
        index = np.arange(n, dtype=np.int32)

        def run_position(inside: npt.NDArray[np.bool_], starts: npt.NDArray[np.bool_]) -> Any:
            """1, 2, ... along each run of ``inside``; 0 outside."""
            first = np.maximum.accumulate(np.where(starts, index, 0))
            return np.where(inside, index - first + 1, 0)

        in_letters = run_position(letter, letters_from)
        in_digits = run_position(digit, digits_from)
        linear = (
            (kinds == 3).astype(np.int32)
            + letters_from
            + digits_from
            + (in_letters == 7)
            - (in_letters == 9)
            - (in_digits == 3)
        )
        nine_letters = np.where(in_letters == 9, 9, in_letters > 9)
        digits = 2 * np.where(in_digits == 3, 3, in_digits > 3) + 2 * (in_digits == 3)
        self.sums = []
        for values in (linear, nine_letters, digits):
            prefix = np.zeros(n + 1, dtype=np.int32)
            np.cumsum(values, out=prefix[1:])
            self.sums.append(prefix)
        # the places no unit crosses: 0, n, and between two characters not of one run
        crossed = np.zeros(n + 1, dtype=bool)
        crossed[1:n] = (letter[:-1] & letter[1:]) | (digit[:-1] & digit[1:])
        places = np.arange(n + 1, dtype=np.int32)
        self.next_place = np.minimum.accumulate(np.where(crossed, n, places)[::-1])[::-1]
        self.last_place = np.maximum.accumulate(np.where(crossed, 0, places))

    def __call__(self, start: int, end: int) -> int:
        first, last = int(self.next_place[start]), int(self.last_place[end])
        if first > last:  # inside one run
            return _approx_ascii(self.text[start:end])
        linear_sums, nine_sums, digit_sums = self.sums
        linear = int(linear_sums[last]) - int(linear_sums[first])
        nine_letters = int(nine_sums[last]) - int(nine_sums[first])
        digits = int(digit_sums[last]) - int(digit_sums[first])
        for a, b in ((start, first), (last, end)):
            if a < b:  # an end that is not a whole unit
                more = _ascii_parts(self.text[a:b])
                linear, nine_letters, digits = (
                    linear + more[0],
                    nine_letters + more[1],
                    digits + more[2],
                )
        return _finish(linear, nine_letters, digits)


# Where a block may be cut, by kind, finest last. Each pattern's match END is a cut.
_SENTENCE_END = re.compile(
    r"[.!?…]+[\"'”’»)\]]*\s+"  # Latin-style: a mark and the space after it
    r"|[。！？｡︒！？؟।॥۔]+[\"'」』”’)）]*\s*"  # CJK, Arabic, Devanagari: no space needed
    r"|[\u0e00-\u0e7f][ \u00a0]+(?=[\u0e00-\u0e7f])"  # Thai: a space ends a phrase
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


@dataclass(frozen=True)
class _Piece:
    """A part of one block that is packed whole: [start, end) in Extracted.text."""

    placed: _Placed
    start: int
    end: int
    tokens: int  # without the counter's fixed cost (its count of "")
    overlap: bool = False  # the tail of the previous chunk
    cut: bool = False  # it ends inside a word (a hard cut): its count and the next one's
    # may not add up to the count of both together


def _cuts(pattern: re.Pattern[str], text: str, start: int, end: int) -> list[int]:
    return [m.end() for m in pattern.finditer(text, start, end) if start < m.end() < end]


_MAX_CHARS_PER_TOKEN = 32  # a hard cut looks no further than this many characters a token
_SAMPLE_CHARS = 65536  # a long block's characters per token are guessed from its start


def _hard_cut(text: str, start: int, end: int, span: SpanCounter, budget: int) -> int:
    """The furthest cut after ``start`` whose part fits the budget (at least one char)."""
    low, high = start + 1, min(end, start + budget * _MAX_CHARS_PER_TOKEN)
    while low < high:
        middle = (low + high + 1) // 2
        if span(start, middle) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def _split(
    text: str,
    start: int,
    end: int,
    levels: tuple[re.Pattern[str], ...],
    span: SpanCounter,
    budget: int,
    target: int,
) -> Iterator[tuple[int, int, int]]:
    """(start, end, tokens) parts of text[start:end]: the whole if it fits ``budget``, else
    parts of about ``target`` tokens cut at the first of ``levels`` that has seams."""
    size = end - start
    if size > budget * _MAX_CHARS_PER_TOKEN:  # over the budget for sure: guess from a sample
        sample = min(size, _SAMPLE_CHARS)
        tokens = max(span(start, start + sample) * size // sample, budget + 1)
    else:
        tokens = span(start, end)
        if tokens <= budget:
            yield start, end, tokens
            return
    for depth, pattern in enumerate(levels):
        cuts = _cuts(pattern, text, start, end)
        if cuts:
            bounds = [start, *cuts, end]
            density = (end - start) / max(tokens, 1)  # characters a token
            yield from _group(text, bounds, density, levels[depth + 1 :], span, target)
            return
    while start < end:
        cut = _hard_cut(text, start, end, span, target)
        yield start, cut, span(start, cut)
        start = cut


def _group(
    text: str,
    bounds: list[int],
    density: float,
    levels: tuple[re.Pattern[str], ...],
    span: SpanCounter,
    target: int,
) -> Iterator[tuple[int, int, int]]:
    """Consecutive seams grouped into parts that fit ``target``, each part guessed from
    the density and then corrected (a few counts a part, not one a sentence)."""
    i, last = 0, len(bounds) - 1
    while i < last:
        reach = bounds[i] + int(target * density * 0.9)
        j = max(i + 1, min(bisect.bisect_right(bounds, reach, i) - 1, last))
        tokens = span(bounds[i], bounds[j])
        if tokens > target:  # too far: halve back until it fits (or one seam is left)
            low, high = i + 1, j - 1
            best: tuple[int, int] | None = None
            while low <= high:
                middle = (low + high) // 2
                guess = span(bounds[i], bounds[middle])
                if guess <= target:
                    best, low = (middle, guess), middle + 1
                else:
                    high = middle - 1
            if best is None:  # a single seam-to-seam part over the target: cut it finer
                yield from _split(text, bounds[i], bounds[i + 1], levels, span, target, target)
                i += 1
                continue
            j, tokens = best
        else:  # room left: take more seams while they fit, counting only what is added
            base = span(0, 0)
            grown = j
            while grown < last:
                more = tokens + span(bounds[grown], bounds[grown + 1]) - base
                if more > target:
                    break
                grown, tokens = grown + 1, more
            if grown > j:  # the sum is a guess for counters that are not additive
                tokens = span(bounds[i], bounds[grown])
                while tokens > target and grown > j:
                    grown -= 1
                    tokens = span(bounds[i], bounds[grown])
                j = grown
        yield bounds[i], bounds[j], tokens
        i = j


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


class _Remembered:
    """A token counter that remembers its last counts (by the text counted)."""

    LIMIT = 4096  # texts remembered, then forgotten all at once

    def __init__(self, count: TokenCounter) -> None:
        self._count = count
        self._known: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        known = self._known.get(text)
        if known is None:
            if len(self._known) >= self.LIMIT:
                self._known.clear()
            known = self._known[text] = self._count(text)
        return known


class _Chunker:
    def __init__(
        self, extracted: Extracted, budget: int, overlap: int, count: TokenCounter
    ) -> None:
        self.text = extracted.text
        self.budget = budget
        self.overlap = overlap
        self.count = count
        # The same span is often counted twice (a block whole, then as its one group; a
        # tail again): the counts of one document are remembered (counters are pure).
        self.counted = _Remembered(count)
        text = self.text
        self.span: SpanCounter = lambda start, end: self.counted(text[start:end])
        if (
            count is approx_tokens
            and _SPANS_MIN_CHARS <= len(text) <= _SPANS_MAX_CHARS
            and text.isascii()
        ):
            self.span = _AsciiSpans(text)
        self.base = count("")  # what every count includes ([CLS] and [SEP])
        self.out: list[ChunkText] = []
        self.placed: list[_Placed] = []
        self.newlines: dict[int, list[int]] = {}  # a block's newline offsets, by its start
        self.headers: dict[int, str] = {}  # a table's repeatable first row, by its start
        offset = 0
        section = 0
        for block in extracted.blocks:
            if block.kind is BlockKind.HEADING:
                section = max(block.level, 1)
            if block.text:
                self.placed.append(_Placed(block, offset, offset + len(block.text), section))
                offset += len(block.text) + len(_SEPARATOR)

    def line_at(self, placed: _Placed, offset: int) -> int | None:
        """The file line of ``offset`` (inside ``placed``), for blocks with a line range."""
        first = placed.block.anchor.line_start
        if first is None:
            return None
        if offset >= placed.end:
            return placed.block.anchor.line_end or first
        newlines = self.newlines.get(placed.start)
        if newlines is None:
            text = placed.block.text
            newlines = [m.start() for m in _LINE_END.finditer(text)]
            self.newlines[placed.start] = newlines
        return first + bisect.bisect_left(newlines, offset - placed.start)

    def cost(self, text: str) -> int:
        return max(0, self.counted(text) - self.base)

    def first_row(self, placed: _Placed) -> str:
        """A table's first row (its header), if it is short enough to repeat."""
        if placed.block.kind is not BlockKind.TABLE:
            return ""
        cached = self.headers.get(placed.start)
        if cached is None:
            text = placed.block.text
            newline = text.find("\n")
            first = text if newline < 0 else text[:newline]
            cached = first if self.cost(first) <= self.budget // 4 else ""
            self.headers[placed.start] = cached
        return cached

    def pieces(self, run: list[_Placed]) -> Iterator[_Piece]:
        for item in run:
            kind = item.block.kind
            levels = _LEVELS.get(kind, _LEVELS[BlockKind.PARAGRAPH])
            if kind is BlockKind.TABLE:  # room for the repeated header
                target = self.budget - self.cost(self.first_row(item) + "\n")
            else:  # room for the overlap in front
                target = self.budget - self.overlap
            parts = _split(self.text, item.start, item.end, levels, self.span, self.budget, target)
            for a, b, tokens in parts:
                if self.text[a:b].strip():
                    text = self.text
                    cut = b < item.end and not text[b - 1].isspace() and not text[b].isspace()
                    yield _Piece(item, a, b, max(0, tokens - self.base), cut=cut)

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
        # the overlap stays inside one block, and no token is longer than this
        lo = max(start, last.placed.start, end - self.overlap * _MAX_CHARS_PER_TOKEN)
        # Candidates are the word starts (whole lines for code) p in [lo, end) with
        # start < p: the longest tail within the overlap, guessed from the chunk's tokens
        # per character, then stepping right until it fits (costs fall as p moves right).
        # They are found one at a time from the guess, not listed.
        chunk = self.out[-1]
        per_char = max(chunk.tokens - self.base, 1) / max(chunk.end - chunk.start, 1)
        guess = end - int(self.overlap / per_char)
        find = self._next_line if kind is BlockKind.CODE else self._next_word
        position = find(max(guess, lo, start + 1), lo, end)
        if position is None:  # none at or after the guess: the last one, if any
            position = self._last_candidate(find, lo, start, end)
        while position is not None:
            if max(0, self.span(position, end) - self.base) <= self.overlap:
                return position
            position = find(position + 1, lo, end)
        return None

    def _next_word(self, at: int, lo: int, end: int) -> int | None:
        """The first word start in [max(at, lo), end)."""
        found = _WORD_START.search(self.text, max(at, lo), end)
        return found.start() if found is not None else None

    def _next_line(self, at: int, lo: int, end: int) -> int | None:
        """The first line start after a newline in [lo, end), at ``at`` or after it."""
        newline = self.text.find("\n", max(at - 1, lo), end)
        return newline + 1 if 0 <= newline < end - 1 else None

    @staticmethod
    def _last_candidate(
        find: Callable[[int, int, int], int | None], lo: int, start: int, end: int
    ) -> int | None:
        last = None
        position = find(start + 1, lo, end)
        while position is not None:
            last = position
            position = find(position + 1, lo, end)
        return last

    def emit(self, pieces: list[_Piece], header: str, tokens: int | None = None) -> None:
        start, end = pieces[0].start, pieces[-1].end
        while start < end and self.text[start].isspace():
            start += 1
        while end > start and self.text[end - 1].isspace():
            end -= 1
        body = header + self.text[start:end]
        opening, closing = pieces[0].placed, pieces[-1].placed
        line_start = self.line_at(opening, start)
        line_end = self.line_at(closing, end if end >= closing.end else end - 1)
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
                tokens=self.count(body) if tokens is None else tokens,
                start=start,
                end=end,
            )
        )

    def close(
        self, current: list[_Piece], header: str, queue: list[_Piece], used: int
    ) -> list[_Piece]:
        """Emit ``current``; while its exact count is over the budget (a counter that is not
        additive), drop the overlap, give pieces back to ``queue``, or drop the header.

        ``approx_tokens`` never counts a whole above the sum of its parts cut at spaces
        (its roundings are all upward), so with it the sum ``used`` is the chunk's count
        (an upper bound of ``approx_tokens(text)``) and no second count is needed."""
        if (
            self.count is approx_tokens
            and used <= self.budget
            and not any(p.cut for p in current[:-1])
        ):
            self.emit(current, header, used)
            return current
        while True:
            body = header + self.text[current[0].start : current[-1].end].strip()
            tokens = self.counted(body)
            if tokens <= self.budget:
                break
            if current[0].overlap and len(current) > 1:
                current = current[1:]
                header = self.header(current[0])
            elif len(current) > 1:
                queue.append(current.pop())
            elif header:
                header = ""
            else:
                break  # one piece over the budget: _split made it fit, so never
        self.emit(current, header, tokens)
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
        tokens = max(0, self.span(position, chunk.end) - self.base)
        if self.base + tokens + following.tokens > self.budget:
            return []
        return [_Piece(last.placed, position, chunk.end, tokens, overlap=True, cut=last.cut)]

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
            closed = self.close(current, header, queue, used)
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
