"""Text files (the charset-normalizer adapter): plain text, Markdown, CSV/TSV and source code.

``decode`` turns bytes in any common encoding into text (a BOM first, then strict UTF-8,
then charset-normalizer's guess) and refuses binary data; the HTML parser uses it too.
Every block keeps its line range, and each block's text has exactly the lines of the file
it covers, so the chunker can give a part of a block its own line range.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import charset_normalizer

from desktopchat.core.documents.parsers.formats import (
    CODE_SUFFIXES,
    MARKDOWN_SUFFIXES,
    TABLE_SUFFIXES,
    TEXT_SUFFIXES,
)
from desktopchat.core.documents.parsers.structure import Blocks
from desktopchat.core.documents.types import (
    BlockKind,
    DocumentError,
    Extracted,
    ParseLimits,
)

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SAMPLE = 64 * 1024
# More NUL bytes than this share of a sample (and no UTF-16/32 pattern): a binary file.
_MAX_NUL_SHARE = 0.01
_MAX_CONTROL_SHARE = 0.02

SUFFIXES = TEXT_SUFFIXES


def _not_text(why: str) -> DocumentError:
    return DocumentError(f"not text: {why}")


def _utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 text with no BOM has NUL in every other byte (for Latin text)."""
    if len(sample) < 4:
        return None
    even = sample[0::2].count(0) / (len(sample) / 2)
    odd = sample[1::2].count(0) / (len(sample) / 2)
    if odd > 0.4 and even < 0.05:
        return "utf-16-le"
    if even > 0.4 and odd < 0.05:
        return "utf-16-be"
    return None


# Single-byte encodings that charset-normalizer confuses with Windows-1252 on short Western
# text (it picks cp1250 for "Café crème"): there cp1252 wins unless it reads worse.
_LATIN_LOOKALIKES = frozenset(
    {
        "cp1250", "cp1252", "cp1254", "cp1257", "latin_1", "iso8859_2", "iso8859_3",
        "iso8859_4", "iso8859_9", "iso8859_10", "iso8859_13", "iso8859_14", "iso8859_15",
        "iso8859_16", "cp437", "cp775", "cp850", "cp852", "cp858", "cp860", "cp863",
        "cp865", "mac_roman", "mac_latin2", "mac_iceland", "mac_turkish", "hp_roman8",
    }
)  # fmt: skip
_WESTERN_MARKS = frozenset("“”‘’„‚–—…€«»°·§©®™•†‡‰¢£¥¿¡×÷±¶ªº¼½¾")


def _oddities(text: str) -> int:
    """Characters a wrong single-byte guess produces: non-ASCII symbols that are not common
    Western punctuation, and punctuation wedged inside a word ("Za¿ó³æ" is Polish read as
    Windows-1252)."""
    odd = 0
    for i, ch in enumerate(text):
        if ch <= "\x7f" or ch.isalpha():
            continue
        wedged = ch != "’" and text[i - 1 : i].isalpha() and text[i + 1 : i + 2].isalpha()
        if wedged or ch not in _WESTERN_MARKS:
            odd += 1
    return odd


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 with a few broken bytes (a cut-off write, one bad copy): read with U+FFFD in
    their place, rather than guessed as some single-byte encoding and garbled throughout."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ch > "\x7f") - bad
    return text if bad <= len(text) // 200 and good >= 10 * bad else None


def decode(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """``data`` as text and the encoding it was read in; binary data is refused.

    Stray NUL bytes are dropped; a file with many of them is binary (unless it is
    UTF-16/32, which the BOM or the NUL pattern tells).
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            text = _strict(data[len(bom) :], encoding)
            if text is None:
                raise DocumentError(f"damaged: not valid {encoding.upper()} despite its mark")
            return text, encoding
    sample = data[:_SAMPLE]
    nuls = sample.count(0)
    if nuls:
        utf16 = _utf16_without_bom(sample)
        if utf16:
            text = _strict(data, utf16)
            if text is not None:
                return text, utf16
        if nuls > max(1, len(sample) * _MAX_NUL_SHARE):
            raise _not_text("a binary file (it has NUL bytes)")
        data = data.replace(b"\x00", b"")
    if declared:
        text = _strict(data, declared)
        if text is not None:
            return text, declared.lower()
    text = _strict(data, "utf-8")
    if text is not None:
        return text, "utf-8"
    text = _mostly_utf8(data)
    if text is not None:
        return text, "utf-8"
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise _not_text("a binary file, or text in an encoding we cannot tell")
    text = str(best)
    encoding = str(best.encoding)
    if encoding in _LATIN_LOOKALIKES and encoding != "cp1252":
        western = _strict(data, "cp1252")
        if western is not None and _oddities(western) <= _oddities(text):
            text, encoding = western, "cp1252"
    controls = sum(1 for ch in text[:_SAMPLE] if ch < " " and ch not in "\t\n\r\f")
    if controls > len(text[:_SAMPLE]) * _MAX_CONTROL_SHARE:
        raise _not_text("a binary file (control characters)")
    return text, encoding


def _lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [line.rstrip() for line in text.split("\n")]


def _paragraphs(lines: list[str], first: int = 0) -> Iterator[tuple[int, int]]:
    """Runs of non-blank lines as (start, end) indexes, end exclusive."""
    start: int | None = None
    for i in range(first, len(lines)):
        if lines[i].strip():
            if start is None:
                start = i
        elif start is not None:
            yield start, i
            start = None
    if start is not None:
        yield start, len(lines)


def _add_lines(out: Blocks, kind: BlockKind, lines: list[str], start: int, end: int) -> None:
    out.add(kind, "\n".join(lines[start:end]), (start + 1, end))


def plain(text: str, limits: ParseLimits, fmt: str = "text") -> Extracted:
    out = Blocks(limits)
    lines = _lines(text)
    for start, end in _paragraphs(lines):
        if out.full:
            break
        _add_lines(out, BlockKind.PARAGRAPH, lines, start, end)
    return out.result(fmt)


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")


def markdown(text: str, limits: ParseLimits) -> Extracted:
    out = Blocks(limits)
    lines = _lines(text)
    title = ""
    para: int | None = None  # first line of the paragraph being read
    i = 0

    def flush(end: int) -> None:
        nonlocal para
        if para is not None:
            _add_lines(out, BlockKind.PARAGRAPH, lines, para, end)
            para = None

    while i < len(lines) and not out.full:
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush(i)
            mark = fence.group(1)
            end = i + 1
            while end < len(lines):
                close = _FENCE.match(lines[end])
                if (
                    close
                    and close.group(1)[0] == mark[0]
                    and len(close.group(1)) >= len(mark)
                    and not lines[end].strip().lstrip(mark[0])
                ):
                    end += 1
                    break
                end += 1
            _add_lines(out, BlockKind.CODE, lines, i, end)
            i = end
            continue
        atx = _ATX.match(line)
        if atx:
            flush(i)
            heading = (atx.group(2) or "").strip()
            out.heading(heading, len(atx.group(1)), (i + 1, i + 1))
            title = title or (heading if len(atx.group(1)) == 1 else "")
            i += 1
            continue
        setext = _SETEXT.match(line)
        if setext and para is not None:
            heading = " ".join(lines[para:i])
            level = 1 if setext.group(1)[0] == "=" else 2
            out.heading(heading, level, (para + 1, i + 1))
            title = title or (heading if level == 1 else "")
            para = None
            i += 1
            continue
        if not line.strip():
            flush(i)
        elif para is None:
            para = i
        i += 1
    flush(i)
    return out.result("markdown", title)


def table(text: str, limits: ParseLimits, delimiter: str | None) -> Extracted:
    """CSV/TSV rows as one table block, cells joined by " | " (a row is one line)."""
    out = Blocks(limits)
    body = text.replace("\r\n", "\n").replace("\r", "\n")
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(body[:16384], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    rows: list[str] = []
    first_line = 1
    last_line = 0
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
    size = 0
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                if rows:  # a blank line ends a table: the next one gets its own block
                    out.add(BlockKind.TABLE, "\n".join(rows), (first_line, last_line))
                    rows = []
                first_line = reader.line_num + 1
                continue
            row = " | ".join(" ".join(cell.split()) for cell in cells)
            rows.append(row)
            last_line = reader.line_num
            size += len(row) + 1
            if size > limits.max_text_chars:
                break
    except csv.Error as exc:
        raise DocumentError(f"damaged: not a readable table ({exc})") from exc
    if rows:
        out.add(BlockKind.TABLE, "\n".join(rows), (first_line, last_line))
    return out.result("csv")


_CONTINUATION = re.compile(r"^(?:[)}\]]|end\b|else\b|elif\b|except\b|finally\b|catch\b|\*/)")
_ATTACHED = ("@", "#", "//", "/*", "*", "--", ";")  # decorators and comments above a definition
_DEFINITION = re.compile(r"^(?:async\s+def\s|def\s|class\s|@)")


def code(text: str, limits: ParseLimits) -> Extracted:
    """Source as code blocks, one per top-level unit (a definition with its comments).

    A unit starts at a line in the first column after a blank line (comments above a
    definition stay with it), or at a Python ``def``/``class``/decorator that does not
    follow a decorator; closing braces and ``else``-like lines continue the unit.
    """
    out = Blocks(limits)
    lines = _lines(text)
    units: list[tuple[int, int]] = []
    start: int | None = None
    blank_before = True
    previous = ""
    for i, line in enumerate(lines):
        if not line.strip():
            blank_before = True
            continue
        top = not line[0].isspace() and not _CONTINUATION.match(line)
        definition = bool(_DEFINITION.match(line)) and not previous.startswith(_ATTACHED)
        if start is None or (top and (blank_before or definition)):
            if start is not None:
                units.append((start, i))
            start = i
        blank_before = False
        previous = line
    if start is not None:
        units.append((start, len(lines)))
    for begin, stop in units:
        if out.full:
            break
        end = stop
        while end > begin and not lines[end - 1].strip():
            end -= 1
        _add_lines(out, BlockKind.CODE, lines, begin, end)
    return out.result("code")


def read(path: Path, data: bytes, limits: ParseLimits) -> Extracted:
    """A text file by its suffix: Markdown, a table, source code or plain text."""
    text, _encoding = decode(data)
    suffix = path.suffix.lower()
    if suffix in MARKDOWN_SUFFIXES:
        return markdown(text, limits)
    if suffix in TABLE_SUFFIXES:
        return table(text, limits, "\t" if suffix in (".tsv", ".tab") else None)
    if suffix in CODE_SUFFIXES:
        return code(text, limits)
    return plain(text, limits)
