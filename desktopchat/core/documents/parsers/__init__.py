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

The adapters are imported on the first file of their format (``formats`` is the table of
suffixes, with no imports): the libraries behind them cost more than half a second to
import, which a command that reads no file (``docs list``) should not pay.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import cast

from desktopchat.core.documents.parsers import safety
from desktopchat.core.documents.parsers.formats import ADAPTERS, PLAIN_NAMES
from desktopchat.core.documents.types import (
    DocumentError,
    Extracted,
    ParseLimits,
    UnsupportedDocumentError,
)

__all__ = ["SUPPORTED_SUFFIXES", "extract", "is_supported"]

Reader = Callable[[Path, bytes, ParseLimits], Extracted]

# suffix -> the adapter module that reads it
_BY_SUFFIX: dict[str, str] = {
    suffix: module for module, suffixes in ADAPTERS.items() for suffix in suffixes
}

# Suffixes the indexer reads; anything else is skipped as unsupported.
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_BY_SUFFIX)

_ZIP_KINDS: dict[str, tuple[str, str]] = {
    "word/document.xml": ("a Word file", "word"),
    "ppt/presentation.xml": ("a PowerPoint file", "slides"),
    "xl/workbook.xml": ("an Excel file", "sheets"),
}
_ZIP_MIMETYPES: dict[bytes, tuple[str, str]] = {
    b"application/vnd.oasis.opendocument.text": ("an OpenDocument text", "opendocument"),
    b"application/epub+zip": ("an EPUB book", "epub"),
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
_ZIP_ADAPTERS = frozenset({"word", "slides", "sheets", "opendocument", "epub"})
_PDF_SIGNATURE = b"%PDF-"
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")


def _reader(module: str) -> Reader:
    """The ``read`` of an adapter module, imported now if it is not yet."""
    adapter = importlib.import_module(f"{__name__}.{module}")
    return cast(Reader, adapter.read)


def _zip_kind(data: bytes) -> tuple[str, str | None]:
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


def _sniff(data: bytes) -> tuple[str, str | None] | None:
    """(what it is, its adapter) when the content says; None: it may be text."""
    if _PDF_SIGNATURE in data[:1024]:
        return "a PDF", "pdf"
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
    return not suffix and path.name.lower() in PLAIN_NAMES


def _adapter(path: Path, data: bytes) -> str:
    """The adapter module that reads this file."""
    suffix = path.suffix.lower()
    by_suffix = _BY_SUFFIX.get(suffix)
    sniffed = _sniff(data)
    if sniffed is not None:
        what, adapter = sniffed
        if adapter is not None:
            return adapter  # a PDF named .dat is read as the PDF it is
        if what.endswith("zip archive") and by_suffix is not None and by_suffix in _ZIP_ADAPTERS:
            return by_suffix  # a damaged .docx: its reader says what is wrong
        if by_suffix in ("text", "web"):
            raise DocumentError(f"not text: this file is {what}")
        if by_suffix is not None:
            raise DocumentError(f"damaged: not a {suffix} file (it is {what})")
        raise UnsupportedDocumentError(f"not a format we read ({what})")
    if by_suffix is not None:
        return by_suffix
    if not suffix and path.name.lower() in PLAIN_NAMES:
        return "text"
    raise UnsupportedDocumentError(
        f"not a format we read ({suffix} files)" if suffix else "not a format we read"
    )


def extract(path: Path, limits: ParseLimits = ParseLimits()) -> Extracted:  # noqa: B008
    """The file's text in blocks with anchors; raises ``DocumentError`` with the reason.

    The result carries the size, mtime and SHA-256 of exactly the bytes that were read.
    """
    snapshot = safety.read_document(path, limits)
    read = _reader(_adapter(path, snapshot.data))
    extracted = read(path, snapshot.data, limits)
    return dataclasses.replace(
        extracted,
        size=snapshot.size,
        mtime_ns=snapshot.mtime_ns,
        sha256=snapshot.sha256,
    )
