"""EPUB (the ebooklib adapter): the chapters in spine order, each read by the HTML parser.

The zip container is measured first (``safety.check_zip``); each chapter's heading path
starts afresh.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import ebooklib
from ebooklib import epub

from desktopchat.core.documents.parsers.formats import EPUB_SUFFIXES
from desktopchat.core.documents.parsers.safety import check_zip
from desktopchat.core.documents.parsers.structure import Blocks
from desktopchat.core.documents.parsers.web import from_html, html_text
from desktopchat.core.documents.types import DocumentError, Extracted, ParseLimits

SUFFIXES = EPUB_SUFFIXES


def read(path: Path, data: bytes, limits: ParseLimits) -> Extracted:
    check_zip(data, limits, "EPUB book")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ebooklib warns about its future defaults
        try:
            book = epub.read_epub(io.BytesIO(data), {"ignore_ncx": True})
        except Exception as exc:  # ebooklib raises EpubException, KeyError, lxml errors...
            raise DocumentError("damaged: not a readable EPUB book") from exc
    out = Blocks(limits)
    skipped = 0
    try:
        titles = book.get_metadata("DC", "title")
        title = str(titles[0][0]) if titles else ""
        for entry in book.spine:
            if out.full:
                break
            idref = entry[0] if isinstance(entry, tuple | list) else entry
            item = book.get_item_with_id(idref)
            if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
                continue
            out.reset_headings()
            try:
                html = html_text(item.get_content())
            except DocumentError:
                skipped += 1
                continue
            from_html(html, limits, out)
    except Exception as exc:
        raise DocumentError("damaged: parts of this EPUB book cannot be read") from exc
    if skipped:
        out.warnings.append(f"{skipped} chapter(s) could not be read as text")
    return out.result("epub", title)
