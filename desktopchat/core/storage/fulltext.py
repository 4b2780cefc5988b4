"""Full-text indexing for every script: what an FTS5 index stores beside the text, how a
search is asked, and the snippet that marks what was found in the original text.

FTS5's ``unicode61`` tokenizer splits text at spaces and punctuation. That suits Latin,
Cyrillic, Greek, Arabic...; but Chinese, Japanese, Thai, Lao, Khmer and Myanmar are
written without spaces, so a whole run of them becomes one token and only a prefix of
the run can be found (``天気`` is not found in ``東京の天気について``). Thai, Lao, Khmer
and Myanmar vowel signs are combining marks, which unicode61 treats as separators, so
their words fall apart too. Korean is spaced, but particles are glued to words; it is
indexed the same way so a word is found inside a compound.

So an index keeps two columns, both tokenized by unicode61: the text as written (the
words of the spaced scripts, and what snippets are made from) and ``index_text(text)``:
each run of those scripts as overlapping character bigrams, then every single character,
each encoded as ``〇`` plus the code point in hex so that no mark can split it, with a
gap token between runs; plus the spaced-script words glued to a run (``iPhone15`` in
``iPhone15の使い方``). ``SearchTerms.match()`` asks for a run as the phrase of its
bigrams (one character: the single character), which finds exactly the texts where it
occurs inside a run, whatever its length; other words stay whole words of either column,
the last one a prefix, as before. Encoded tokens start with a character of those scripts
and words never contain one, so a word's prefix never matches an encoded token.

Qt-free and SQLite-free: the conversation search and the documents' keyword index use it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from itertools import pairwise

# Letters, marks and digits of the scripts written without spaces between words (their
# punctuation is left out: it separates words like any other). Each row is one script.
SEGMENTED_RANGES: tuple[tuple[int, int], ...] = (
    (0x0E01, 0x0E3A),  # Thai letters and vowel signs (not ฿)
    (0x0E40, 0x0E4E),  # Thai leading vowels, tone marks, ๆ (not ๏)
    (0x0E50, 0x0E59),  # Thai digits (not ๚ ๛)
    (0x0E81, 0x0EDF),  # Lao
    (0x1000, 0x1049),  # Myanmar letters, signs, digits (not ၊ ။)
    (0x1050, 0x109D),  # Myanmar extensions for other languages (not its symbols)
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x1780, 0x17D3),  # Khmer letters and signs (not its punctuation)
    (0x17D7, 0x17D7),  # Khmer repetition sign ៗ
    (0x17DC, 0x17DD),  # Khmer signs
    (0x17E0, 0x17E9),  # Khmer digits
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3021, 0x3029),  # Hangzhou numerals
    (0x3031, 0x3035),  # kana repetition marks
    (0x3038, 0x303C),  # Hangzhou numerals, 〻 〼
    (0x3041, 0x3096),  # Hiragana
    (0x3099, 0x309A),  # combining voiced sound marks
    (0x309D, 0x309F),  # ゝ ゞ ゟ
    (0x30A1, 0x30FA),  # Katakana (not ゠ nor the middle dot ・)
    (0x30FC, 0x30FF),  # ー ヽ ヾ ヿ
    (0x3105, 0x312F),  # Bopomofo
    (0x3131, 0x318E),  # Hangul compatibility Jamo
    (0x31A0, 0x31BF),  # Bopomofo extended
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK ideographs extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA960, 0xA97C),  # Hangul Jamo extended A
    (0xA9E0, 0xA9FE),  # Myanmar extended B
    (0xAA60, 0xAA76),  # Myanmar extended A (not its symbols)
    (0xAA7A, 0xAA7F),
    (0xAC00, 0xD7A3),  # Hangul syllables
    (0xD7B0, 0xD7FB),  # Hangul Jamo extended B
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # halfwidth Katakana
    (0xFFA0, 0xFFDC),  # halfwidth Hangul
    (0x20000, 0x323AF),  # CJK ideographs extensions B to H, compatibility supplement
)

_CLASS = "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in SEGMENTED_RANGES)
_RUNS = re.compile(f"([{_CLASS}]+)")  # split() keeps the runs at the odd indexes
_WORD = re.compile(r"\w+")  # the words of the user's query, as before
_GLUED_END = re.compile(r"\w+$")
_GLUED_START = re.compile(r"\w+")
_PIECE = re.compile(f"[^\\W_{_CLASS}]+")  # what unicode61 keeps as one word, roughly

MARK = "\u3007"  # starts every encoded token (a letter of those scripts: see above)
GAP = MARK  # between runs, so that no phrase runs on from one run into the next


def _code(char: str) -> str:
    return f"{MARK}{ord(char):x}"


def _bigrams(codes: list[str]) -> list[str]:
    return [a + b for a, b in pairwise(codes)]


def unspaced_runs(text: str) -> list[str]:
    """The runs of unspaced-script text in ``text``, in order."""
    return _RUNS.split(text)[1::2]


def index_text(text: str) -> str:
    """What to index beside ``text`` so words inside unspaced scripts are found: "" for
    text without them. Never contains NUL or a surrogate, whatever ``text`` holds."""
    parts = _RUNS.split(text)
    if len(parts) == 1:
        return ""
    bigrams: list[str] = []
    singles: list[str] = []
    glued: list[str] = []
    for i in range(1, len(parts), 2):
        codes = [_code(c) for c in parts[i]]
        bigrams.extend(_bigrams(codes))
        bigrams.append(GAP)
        singles.extend(codes)
        before = _GLUED_END.search(parts[i - 1])
        after = _GLUED_START.match(parts[i + 1])
        glued.extend(m.group() for m in (before, after) if m is not None)
    return " ".join([*bigrams, *singles, *glued])


@dataclass(frozen=True)
class SearchTerms:
    """What the user typed, as the index sees it. Every term must appear."""

    words: tuple[str, ...] = ()  # whole words (of the spaced scripts)
    runs: tuple[str, ...] = ()  # text of the unspaced scripts, found inside runs
    prefix: bool = False  # the last word may be the start of a word (search as you type)

    def __bool__(self) -> bool:
        return bool(self.words or self.runs)

    def match(self, content: str = "content", grams: str = "grams") -> str:
        """A safe FTS5 query over the two columns: operators and quotes typed by the user
        are not interpreted. "" when there is nothing to look for."""
        terms = [f'{{{content} {grams}}} : "{w}"' for w in self.words]
        if terms and self.prefix:
            terms[-1] += "*"
        for run in self.runs:
            codes = [_code(c) for c in run]
            tokens = _bigrams(codes) or codes
            terms.append(f'{grams} : "{" ".join(tokens)}"')
        return " ".join(terms)


def parse_query(text: str) -> SearchTerms:
    """The user's search text as terms: runs of the unspaced scripts, and the words
    around them (``\\w+``, as FTS5 has always been asked); the last word is a prefix
    when nothing follows it."""
    words: list[str] = []
    runs: list[str] = []
    last_is_word = False
    for i, part in enumerate(_RUNS.split(text)):
        if i % 2:
            runs.append(part)
            last_is_word = False
        else:
            found = _WORD.findall(part)
            words.extend(found)
            if found:
                last_is_word = True
    return SearchTerms(tuple(words), tuple(runs), prefix=last_is_word)


def _fold(word: str) -> str:
    """Case and accents away, as unicode61 compares words."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def snippet(
    text: str,
    terms: SearchTerms,
    marks: tuple[str, str],
    *,
    width: int = 64,
    ellipsis: str = "…",
) -> str:
    """About ``width`` characters of the original ``text`` around the first place a term
    occurs, every occurrence of a term inside it wrapped in ``marks``."""
    anchor = _first_occurrence(text, terms)
    low = max(0, min(anchor - width // 3, len(text) - width))  # all of a short text
    if low > 0:
        space = text.find(" ", low, anchor)
        low = space + 1 if space != -1 else low
    first_run = min((len(r) for r in terms.runs if text.startswith(r, anchor)), default=0)
    high = min(len(text), max(low + width, anchor + first_run))
    if high < len(text):
        space = text.rfind(" ", max(anchor + first_run, low + width // 2), high)
        high = space if space != -1 else high
    spans = _spans(text, low, high, terms)
    out: list[str] = [ellipsis] if low > 0 else []
    at = low
    for start, end in spans:
        out += [text[at:start], marks[0], text[start:end], marks[1]]
        at = end
    out.append(text[at:high])
    if high < len(text):
        out.append(ellipsis)
    return "".join(out)


def _first_occurrence(text: str, terms: SearchTerms) -> int:
    found = [i for i in (text.find(r) for r in terms.runs) if i != -1]
    folded = {_fold(w) for w in terms.words}
    last = _fold(terms.words[-1]) if terms.words and terms.prefix else None
    for piece in _PIECE.finditer(text, 0, min(len(text), 200_000)):
        if found and piece.start() > min(found):
            break
        word = _fold(piece.group())
        if word in folded or (last is not None and word.startswith(last)):
            found.append(piece.start())
            break
    return min(found, default=0)


def _spans(text: str, low: int, high: int, terms: SearchTerms) -> list[tuple[int, int]]:
    """Where the terms occur in text[low:high], merged and in order."""
    spans: list[tuple[int, int]] = []
    for run in terms.runs:
        at = text.find(run, low, high)
        while at != -1:
            spans.append((at, at + len(run)))
            at = text.find(run, at + len(run), high)
    folded = {_fold(w) for w in terms.words}
    last = _fold(terms.words[-1]) if terms.words and terms.prefix else None
    for piece in _PIECE.finditer(text, low, high):
        word = _fold(piece.group())
        if word in folded or (last is not None and word.startswith(last)):
            spans.append(piece.span())
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


# -- questions: any of the words, for the documents' keyword search ---------------------

# The commonest function words of the languages most documents are in. BM25's idf weighs
# them down only where they fill most chunks; in a small collection "what" can be rare
# enough to outrank the word asked about, and every one of them makes the OR query visit
# most of the index. Compared after _fold (no case, no accents).
_STOPWORD_TEXT = """
    a an and are as at be been but by can could did do does for from had has have how i if
    in into is it its me my no not of on or our so than that the their them then there these
    they this to was we were what when where which who whom why will with would you your
    about also any all tell please
    der das den dem des ein eine einer eines einem einen und oder ist sind wie wer wo warum
    mit von zu im auf für nicht es ich sie wir ihr du bei aus auch als
    le la les un une du de et ou est sont que qui quoi quel quelle quels quelles comment
    pourquoi dans sur pour par avec ce cette ces il elle nous vous ils elles je au aux ne pas
    en se sa ses
    el los las unos unas y o son quien cual como donde cuando para con del al lo su sus
    os um uma da dos das em na nos nas com gli uno di che chi quando per non sono nel nella
    het een zijn wat hoe waar waarom met op voor niet dat
    и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее
    мне было вот от меня еще нет о из ему это где когда почему какой какая
"""
# English, German, French, Spanish, Portuguese, Italian, Dutch, Russian (words that are
# also common content words in English, such as "die", "war" or "come", are left out).
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())
_CLAUSE = re.compile(r"[.,;:!?()\[\]{}\"“”«»。、，！？；：]")  # no phrase spans these
QUESTION_TERMS = 48  # at most this many terms are asked for (a pasted page is a question too)


@dataclass(frozen=True)
class QuestionTerms:
    """A natural-language question as the index sees it, for an any-of-the-words query."""

    words: tuple[str, ...] = ()  # its words, stopwords left out (unless nothing else)
    pairs: tuple[tuple[str, str], ...] = ()  # neighbouring kept words, asked as phrases
    grams: tuple[str, ...] = ()  # encoded bigrams (or single characters) of unspaced runs
    runs: tuple[tuple[str, ...], ...] = ()  # each run (3 to 12 characters) as its bigrams

    def __bool__(self) -> bool:
        return bool(self.words or self.grams)

    def tokens(self) -> list[str]:
        """Each single term as the index stores it (case and accents folded), once."""
        return list(dict.fromkeys([*(_fold(w) for w in self.words), *self.grams]))

    def match(
        self, content: str = "content", grams: str = "grams", only: set[str] | None = None
    ) -> str:
        """A safe FTS5 query: ANY of the terms (of those whose token() is in ``only``,
        when given), each pair and run as a phrase too. "" when nothing is asked.
        ``content`` and ``grams`` may each name several columns ("grams title")."""

        def kept(token: str) -> bool:
            return only is None or token in only

        terms: list[str] = []
        terms += [f'{{{content} {grams}}} : "{w}"' for w in self.words if kept(_fold(w))]
        terms += [
            f'{{{content} {grams}}} : "{a} {b}"'
            for a, b in self.pairs
            if kept(_fold(a)) and kept(_fold(b))
        ]
        terms += [f'{{{grams}}} : "{g}"' for g in self.grams if kept(g)]
        terms += [f'{{{grams}}} : "{" ".join(r)}"' for r in self.runs if all(map(kept, r))]
        return " OR ".join(terms[:QUESTION_TERMS])


def question_terms(text: str) -> QuestionTerms:
    """The terms of a question: its words without stopwords (all of them when it has
    nothing else), the pairs of neighbouring kept words, and for text in unspaced
    scripts its bigrams (one character: the character) and the run itself."""
    spaced: list[list[str]] = []  # the words of each clause between unspaced runs
    runs: list[str] = []
    for i, part in enumerate(_RUNS.split(text)):
        if i % 2:
            runs.append(part)
        else:
            spaced += [_WORD.findall(clause) for clause in _CLAUSE.split(part)]
    every = [w for words in spaced for w in words]
    keep = [w for w in every if _fold(w) not in STOPWORDS] or every
    kept = {_fold(w) for w in keep}
    words: dict[str, str] = {}  # folded -> the first spelling, in the question's order
    for w in keep:
        words.setdefault(_fold(w), w)
    pairs = {
        (a, b): None
        for stretch in spaced
        for a, b in pairwise(stretch)
        if _fold(a) in kept and _fold(b) in kept
    }
    grams: dict[str, None] = {}
    phrases: dict[tuple[str, ...], None] = {}
    for run in runs:
        codes = [_code(c) for c in run]
        for token in _bigrams(codes) or codes:
            grams[token] = None
        if 3 <= len(run) <= 12:  # the whole run, found inside a longer one, ranks first
            phrases[tuple(_bigrams(codes))] = None
    return QuestionTerms(tuple(words.values()), tuple(pairs), tuple(grams), tuple(phrases))


def question_match(text: str, content: str = "content", grams: str = "grams") -> str:
    """A safe FTS5 query for a natural-language question: ANY of its words (stopwords
    left out, unless the question has nothing else), each pair of neighbouring words as a
    phrase too (so "warranty period" ranks above a chunk with only one of them), and for
    text in unspaced scripts any of its bigrams (one character: the character). Rank the
    matches with bm25. "" when there is nothing to look for."""
    return question_terms(text).match(content, grams)
