"""Reading a file into structured text: ``extract(path, limits) -> Extracted``.

The file is read once, checked (``safety``), and handed to one adapter module per
library: ``pdf`` (pypdfium2), ``word`` (python-docx), ``web`` (selectolax), ``text``
(charset-normalizer: plain text, Markdown, CSV/TSV, source code), ``opendocument``
(odfpy), ``slides`` (python-pptx), ``sheets`` (openpyxl), ``epub`` (ebooklib).

The adapter is chosen by the file's content where it says what it is (a PDF or an
Office/OpenDocument/EPUB zip is read as one whatever its name), else by its suffix. A
binary file with a text suffix fails with a reason; a file we do not read raises
``UnsupportedDocumentError`` (the indexer shows it as *skipped*). Every failure is a
``DocumentError`` whose ``reason`` is the sentence the user sees.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

from desktopchat.core.documents.parsers import (
    epub,
    opendocument,
    pdf,
    safety,
    sheets,
    slides,
    text,
    web,
    word,
)
from desktopchat.core.documents.types import (
    DocumentError,
    Extracted,
    ParseLimits,
    UnsupportedDocumentError,
)

__all__ = ["SUPPORTED_SUFFIXES", "extract", "is_supported"]

Reader = Callable[[Path, bytes, ParseLimits], Extracted]

_BY_SUFFIX: dict[str, Reader] = {}
for _module in (pdf, word, web, text, opendocument, slides, sheets, epub):
    for _suffix in _module.SUFFIXES:
        _BY_SUFFIX[_suffix] = _module.read

# Suffixes the indexer reads; anything else is skipped as unsupported.
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_BY_SUFFIX)

_ZIP_KINDS: dict[str, tuple[str, Reader]] = {
    "word/document.xml": ("a Word file", word.read),
    "ppt/presentation.xml": ("a PowerPoint file", slides.read),
    "xl/workbook.xml": ("an Excel file", sheets.read),
}
_ZIP_MIMETYPES: dict[bytes, tuple[str, Reader]] = {
    b"application/vnd.oasis.opendocument.text": ("an OpenDocument text", opendocument.read),
    b"application/epub+zip": ("an EPUB book", epub.read),
}
# Content that tells a binary file, with what it is in words.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", ""),  # too short to trust alone: checked with NULs by the text decoder
    (b"\x7fELF", "a program (ELF)"),
    (b"MZ", ""),
    (b"\xcf\xfa\xed\xfe", "a program (Mach-O)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office file (.doc, .xls, .ppt)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", ""),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"(\xb5/\xfd", "a zstd archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"GGUF", "a GGUF model"),
    (b"OggS", "an Ogg audio file"),
    (b"ID3", "an MP3 audio file"),
    (b"fLaC", "a FLAC audio file"),
    (b"\x1aE\xdf\xa3", "a video (Matroska/WebM)"),
    (b"wOFF", "a web font"),
    (b"wOF2", "a web font"),
)
_ZIP_READERS = (word.read, slides.read, sheets.read, opendocument.read, epub.read)
_PDF_SIGNATURE = b"%PDF-"
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")


def _zip_kind(data: bytes) -> tuple[str, Reader | None]:
    """What a zip file holds, from its member names (nothing is unpacked but ``mimetype``)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = set(archive.namelist())
        if "mimetype" in names:
            info = archive.getinfo("mimetype")
            if info.file_size <= 200:
                mimetype = archive.read("mimetype").strip()
                if mimetype in _ZIP_MIMETYPES:
                    return _ZIP_MIMETYPES[mimetype]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, KeyError):
        return "a damaged zip archive", None
    for member, kind in _ZIP_KINDS.items():
        if member in names:
            return kind
    return "a zip archive", None


def _sniff(data: bytes) -> tuple[str, Reader | None] | None:
    """(what it is, its reader) when the content says; None: it may be text."""
    if _PDF_SIGNATURE in data[:1024]:
        return "a PDF", pdf.read
    if data.startswith(_ZIP_SIGNATURES):
        return _zip_kind(data)
    for magic, what in _MAGIC:
        if what and data.startswith(magic):
            return what, None
    if data[4:12] in (b"ftypisom", b"ftypmp42", b"ftypM4A ", b"ftypqt  "):
        return "an audio or video file", None
    return None


def is_supported(path: Path) -> bool:
    """Whether the indexer reads this file (by its name; the content decides later)."""
    suffix = path.suffix.lower()
    if suffix in SUPPORTED_SUFFIXES:
        return True
    return not suffix and path.name.lower() in text.PLAIN_NAMES


def _reader(path: Path, data: bytes) -> Reader:
    suffix = path.suffix.lower()
    by_suffix = _BY_SUFFIX.get(suffix)
    sniffed = _sniff(data)
    if sniffed is not None:
        what, reader = sniffed
        if reader is not None:
            return reader  # a PDF named .dat is read as the PDF it is
        if what.endswith("zip archive") and by_suffix in _ZIP_READERS:
            return by_suffix  # a damaged .docx: its reader says what is wrong
        if by_suffix in (text.read, web.read):
            raise DocumentError(f"not text: this file is {what}")
        if by_suffix is not None:
            raise DocumentError(f"damaged: not a {suffix} file (it is {what})")
        raise UnsupportedDocumentError(f"not a format we read ({what})")
    if by_suffix is not None:
        return by_suffix
    if not suffix and path.name.lower() in text.PLAIN_NAMES:
        return text.read
    raise UnsupportedDocumentError(
        f"not a format we read ({suffix} files)" if suffix else "not a format we read"
    )


def extract(path: Path, limits: ParseLimits = ParseLimits()) -> Extracted:  # noqa: B008
    """The file's text in blocks with anchors; raises ``DocumentError`` with the reason.

    The result carries the size, mtime and SHA-256 of exactly the bytes that were read.
    """
    snapshot = safety.read_document(path, limits)
    reader = _reader(path, snapshot.data)
    extracted = reader(path, snapshot.data, limits)
    return dataclasses.replace(
        extracted,
        size=snapshot.size,
        mtime_ns=snapshot.mtime_ns,
        sha256=snapshot.sha256,
    )
