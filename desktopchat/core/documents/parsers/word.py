"""Word .docx (the python-docx adapter): headings by style, paragraphs, tables as rows.

"Title" and "Heading 1".."Heading 9" styles (and paragraphs with an outline level) give
the heading path; a table becomes one block, a row per line with cells joined by " | ".
The zip container is measured first (``safety.check_zip``).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from desktopchat.core.documents.parsers.formats import WORD_SUFFIXES
from desktopchat.core.documents.parsers.safety import check_zip
from desktopchat.core.documents.parsers.structure import Blocks
from desktopchat.core.documents.types import BlockKind, DocumentError, Extracted, ParseLimits

SUFFIXES = WORD_SUFFIXES
_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.I)


def _heading_level(paragraph: Paragraph) -> int:
    """1.. for a heading paragraph, 0 for body text."""
    try:
        style = paragraph.style
    except (KeyError, ValueError, AttributeError):
        return 0
    while style is not None:
        name = (style.name or "").strip()
        if name.lower() == "title":
            return 1
        found = _HEADING_STYLE.match(name)
        if found:
            return int(found.group(1))
        style = style.base_style  # a custom style based on "Heading 2" is a heading too
    return 0


def _rows(table: Table) -> list[str]:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if not cells or text != cells[-1]:  # a merged cell is listed once per column
                cells.append(text)
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


def read(path: Path, data: bytes, limits: ParseLimits) -> Extracted:
    check_zip(data, limits, "Word file")
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors...
        raise DocumentError("damaged: not a readable Word file") from exc
    out = Blocks(limits)
    try:
        title = document.core_properties.title or ""
        for item in document.iter_inner_content():
            if out.full:
                break
            if isinstance(item, Paragraph):
                level = _heading_level(item)
                if level:
                    out.heading(item.text, level)
                else:
                    out.paragraph(item.text)
            else:
                rows = _rows(item)
                if rows:
                    out.add(BlockKind.TABLE, "\n".join(rows))
    except (KeyError, ValueError, AttributeError, IndexError) as exc:
        raise DocumentError("damaged: parts of this Word file cannot be read") from exc
    return out.result("docx", title)
