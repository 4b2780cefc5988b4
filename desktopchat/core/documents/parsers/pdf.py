"""PDF (the pypdfium2 adapter): the text layer of each page, with its page number.

A PDF whose pages have no text layer (scanned) is refused with a reason; some pages
without text give a warning. Encrypted and damaged files get their own reasons. PDFium
is not thread-safe, so one lock serialises every use of it in this process.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from desktopchat.core.documents.parsers.formats import PDF_SUFFIXES
from desktopchat.core.documents.parsers.structure import Blocks
from desktopchat.core.documents.types import DocumentError, Extracted, ParseLimits

SUFFIXES = PDF_SUFFIXES
# PDFium is one native library with global state: calls from two threads must not overlap.
_PDFIUM_LOCK = threading.Lock()
# A word hyphenated across a line end: PDFium marks the hyphen with \x02 (or U+FFFE).
_SOFT_HYPHEN = re.compile(r"[\x02\ufffe\u00ad]\r?\n")
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")


def _ranges(pages: list[int]) -> str:
    """[1, 2, 3, 5] -> "1-3, 5"."""
    spans: list[str] = []
    start = prev = pages[0]
    for page in [*pages[1:], None]:
        if page is not None and page == prev + 1:
            prev = page
            continue
        spans.append(str(start) if start == prev else f"{start}-{prev}")
        if page is not None:
            start = prev = page
    return ", ".join(spans)


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            raise DocumentError("encrypted: this PDF needs a password") from exc
        if code == pdfium_c.FPDF_ERR_SECURITY:
            raise DocumentError("encrypted: this PDF uses an unsupported protection") from exc
        raise DocumentError("damaged: not a readable PDF (broken or truncated)") from exc


def read(path: Path, data: bytes, limits: ParseLimits) -> Extracted:
    out = Blocks(limits)
    with _PDFIUM_LOCK:
        document = _open(data)
        try:
            count = len(document)
            if count == 0:
                raise DocumentError("no text: the PDF has no pages")
            empty: list[int] = []
            failed: list[int] = []
            for index in range(count):
                if out.full:
                    break
                number = index + 1
                try:
                    page = document[index]
                    try:
                        textpage = page.get_textpage()
                        try:
                            raw = textpage.get_text_bounded()
                        finally:
                            textpage.close()
                    finally:
                        page.close()
                except pdfium.PdfiumError:
                    failed.append(number)
                    continue
                text = _SOFT_HYPHEN.sub("", raw.replace("\r\n", "\n"))
                out.new_page(number)
                paragraphs = [p.strip() for p in _BLANK_LINES.split(text) if p.strip()]
                if not paragraphs:
                    empty.append(number)
                for paragraph in paragraphs:
                    out.paragraph(paragraph)
            try:
                title = str(document.get_metadata_dict().get("Title", "") or "")
            except pdfium.PdfiumError:
                title = ""
        finally:
            document.close()
    if len(empty) + len(failed) == count:
        if failed and not empty:
            raise DocumentError("damaged: no page of this PDF could be read")
        raise DocumentError("no text: scanned pages are not read")
    if empty:
        which = f"page {_ranges(empty)} has" if len(empty) == 1 else f"pages {_ranges(empty)} have"
        out.warnings.append(f"{which} no text layer (scanned pages are not read)")
    if failed:
        which = "page" if len(failed) == 1 else "pages"
        out.warnings.append(f"{which} {_ranges(failed)} could not be read (damaged)")
    return out.result("pdf", title)
