"""OpenDocument text .odt (the odfpy adapter): headings by outline level, paragraphs,
lists and tables.

The zip container is measured first (``safety.check_zip``); the tree is walked without
recursion.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from odf import teletype
from odf.namespaces import TABLENS, TEXTNS
from odf.opendocument import load

from desktopchat.core.documents.parsers.formats import OPENDOCUMENT_SUFFIXES
from desktopchat.core.documents.parsers.safety import check_zip
from desktopchat.core.documents.parsers.structure import Blocks
from desktopchat.core.documents.types import BlockKind, DocumentError, Extracted, ParseLimits

SUFFIXES = OPENDOCUMENT_SUFFIXES
_HEADING = (TEXTNS, "h")
_PARAGRAPH = (TEXTNS, "p")
_LIST_ITEM = (TEXTNS, "list-item")
_TABLE = (TABLENS, "table")
_ROW = (TABLENS, "table-row")
_CELL = (TABLENS, "table-cell")
# Containers whose children are walked (sections, lists, frames, soft page breaks...).
_SKIPPED = {(TEXTNS, "tracked-changes"), (TEXTNS, "sequence-decls"), (TEXTNS, "variable-decls")}


def _text(node: Any) -> str:
    return " ".join(str(teletype.extractText(node)).split())


def _ordered_rows(table: Any) -> list[Any]:
    rows: list[Any] = []
    stack = [iter(table.childNodes)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            continue
        qname = getattr(child, "qname", None)
        if qname == _ROW:
            rows.append(child)
        elif qname != _TABLE and getattr(child, "childNodes", None):
            stack.append(iter(child.childNodes))
    return rows


def read(path: Path, data: bytes, limits: ParseLimits) -> Extracted:
    check_zip(data, limits, "OpenDocument file")
    try:
        document = load(io.BytesIO(data))
    except Exception as exc:  # odfpy raises KeyError, xml.sax errors, zipfile errors...
        raise DocumentError("damaged: not a readable OpenDocument file") from exc
    out = Blocks(limits)
    try:
        stack = [iter(document.text.childNodes)]
        while stack and not out.full:
            node = next(stack[-1], None)
            if node is None:
                stack.pop()
                continue
            qname = getattr(node, "qname", None)
            if qname == _HEADING:
                level = str(node.getAttribute("outlinelevel") or "1")
                out.heading(_text(node), int(level) if level.isdigit() else 1)
            elif qname == _PARAGRAPH:
                prefix = "- " if len(stack) > 1 and _in_list(node) else ""
                text = _text(node)
                if text:
                    out.paragraph(prefix + text)
            elif qname == _TABLE:
                rows = _ordered_table(node)
                if rows:
                    out.add(BlockKind.TABLE, "\n".join(rows))
            elif qname not in _SKIPPED and getattr(node, "childNodes", None):
                stack.append(iter(node.childNodes))
    except Exception as exc:
        raise DocumentError("damaged: parts of this OpenDocument file cannot be read") from exc
    return out.result("odt")


def _in_list(node: Any) -> bool:
    parent = getattr(node, "parentNode", None)
    return getattr(parent, "qname", None) == _LIST_ITEM


def _ordered_table(table: Any) -> list[str]:
    rows = []
    for row in _ordered_rows(table):
        cells = [_text(cell) for cell in row.childNodes if getattr(cell, "qname", None) == _CELL]
        if any(cells):
            rows.append(" | ".join(cells))
    return rows
