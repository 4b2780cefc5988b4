"""Bad input gets a clear per-file reason and nothing else escapes: encrypted, scanned and
damaged PDFs, zip bombs, binary files named .txt, NUL bytes, unreadable files, broken
links, FIFOs, files over the size limit, files changed or deleted while they are read,
and every sample format cut short or with bytes overwritten."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from desktopchat.core.documents.parsers import extract, safety
from desktopchat.core.documents.types import (
    DocumentError,
    Extracted,
    ParseLimits,
    UnsupportedDocumentError,
)
from tests.core.documents.files import (
    H,
    Item,
    Table,
    encrypt_pdf,
    write_csv,
    write_docx,
    write_epub,
    write_html,
    write_odt,
    write_pdf,
    write_pptx,
    write_text,
    write_xlsx,
    write_zip_bomb_docx,
)


def reason_of(path: Path, limits: ParseLimits | None = None) -> str:
    with pytest.raises(DocumentError) as caught:
        extract(path, limits or ParseLimits())
    return caught.value.reason


def test_encrypted_pdf(tmp_path: Path) -> None:
    plain = write_pdf(tmp_path / "plain.pdf", ["Secret numbers."])
    locked = encrypt_pdf(plain, tmp_path / "locked.pdf")
    assert reason_of(locked) == "encrypted: this PDF needs a password"


def test_scanned_pdf_without_a_text_layer(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "scan.pdf", [None, None])
    assert reason_of(path) == "no text: scanned pages are not read"


@pytest.mark.parametrize("keep", [0.05, 0.3, 0.6])
def test_truncated_pdf(tmp_path: Path, keep: float) -> None:
    whole = write_pdf(tmp_path / "whole.pdf", ["Page one text.", "Page two text."]).read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(whole[: int(len(whole) * keep)])
    try:
        extracted = extract(cut)  # PDFium repairs what it can: then the text it finds
    except DocumentError as error:
        assert error.reason.startswith(("damaged:", "no text:"))
    else:
        assert "Page" in extracted.text


def test_garbage_named_pdf(tmp_path: Path) -> None:
    path = tmp_path / "fake.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    assert reason_of(path) == "damaged: not a readable PDF (broken or truncated)"


def test_docx_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    bomb = write_zip_bomb_docx(tmp_path / "bomb.docx")
    assert bomb.stat().st_size < 1024 * 1024
    reason = reason_of(bomb)
    assert reason.startswith("looks like a zip bomb: 'word/document.xml' would unpack")


def test_zip_over_the_unpacked_limit(tmp_path: Path) -> None:
    path = write_docx(tmp_path / "big.docx", ["A normal document. " * 2000])
    limits = ParseLimits(max_uncompressed_bytes=20_000)
    assert "over the 20.0 KB limit" in reason_of(path, limits)
    assert reason_of(path, limits).startswith("looks like a zip bomb: it would unpack to")


def test_binary_file_named_txt(tmp_path: Path) -> None:
    png = tmp_path / "photo.txt"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    assert reason_of(png) == "not text: this file is a PNG image"
    noise = tmp_path / "noise.txt"
    noise.write_bytes(os.urandom(5000))
    assert reason_of(noise).startswith("not text: a binary file")
    elf = tmp_path / "tool.md"
    elf.write_bytes(b"\x7fELF" + bytes(500))
    assert reason_of(elf) == "not text: this file is a program (ELF)"


def test_a_binary_file_we_do_not_read_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "archive.bin"
    path.write_bytes(b"\x1f\x8b" + os.urandom(100))
    with pytest.raises(UnsupportedDocumentError):
        extract(path)


def test_nul_bytes(tmp_path: Path) -> None:
    many = tmp_path / "many.txt"
    many.write_bytes(b"text\x00\x00\x01\x00 more\x00" * 200)
    assert reason_of(many) == "not text: a binary file (it has NUL bytes)"
    stray = tmp_path / "stray.txt"
    stray.write_bytes(b"A line with a stray\x00 NUL in it. " * 3 + b"Clean text. " * 200)
    extracted = extract(stray)
    assert "\x00" not in extracted.text
    assert "stray NUL in it." in extracted.text


def test_no_nul_no_surrogates_no_controls_reach_the_output(tmp_path: Path) -> None:
    # UTF-8 with one encoded surrogate and one stray byte, and control characters.
    path = tmp_path / "odd.txt"
    line = "Grüße aus Köln, café crème. Tab\there, bell\x07, escape\x1b.\r\n".encode()
    path.write_bytes(line * 30 + b"bad \xed\xa0\x80 and \x80 bytes\n" + line * 30)
    text = extract(path).text
    assert not any("\ud800" <= ch <= "\udfff" for ch in text)
    assert not any(ch in text for ch in "\x00\x07\x1b\r")
    assert "Grüße aus Köln, café crème. Tab\there, bell, escape." in text  # read as UTF-8
    assert "bad \ufffd\ufffd\ufffd and \ufffd bytes" in text
    assert safety.clean("a\ud800b\x00c\r\nd\x0ce") == "a\ufffdbc\nd\ne"


def test_unreadable_file(tmp_path: Path) -> None:
    path = write_text(tmp_path / "private.txt", "secret")
    path.chmod(0)
    try:
        if os.geteuid() == 0:
            pytest.skip("running as root, which reads any file: see test_a_file_the_os_refuses")
        assert reason_of(path) == "cannot be read: permission denied"
    finally:
        path.chmod(0o600)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/mem is Linux's")
def test_a_file_the_os_refuses(tmp_path: Path) -> None:
    # A regular file that refuses reading even to root (address 0 is not mapped).
    link = tmp_path / "memory.txt"
    link.symlink_to("/proc/self/mem")
    assert reason_of(link).startswith("cannot be read: Input/output error")


def test_links_to_nothing_and_link_loops(tmp_path: Path) -> None:
    dangling = tmp_path / "gone.txt"
    dangling.symlink_to(tmp_path / "missing.txt")
    assert reason_of(dangling) == "cannot be read: a link to a file that does not exist"
    loop = tmp_path / "loop.txt"
    loop.symlink_to(tmp_path / "loop.txt")
    assert reason_of(loop) == "cannot be read: a symbolic link loop"
    assert reason_of(tmp_path / "never.txt") == (
        "cannot be read: the file does not exist (moved or deleted)"
    )


def test_fifo_and_folder_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.md"
    folder.mkdir()
    outcome: dict[str, str] = {}

    def read_them() -> None:
        for name, path in (("fifo", fifo), ("folder", folder)):
            try:
                extract(path)
            except UnsupportedDocumentError as error:
                outcome[name] = error.reason

    reader = threading.Thread(target=read_them, daemon=True)
    reader.start()
    reader.join(timeout=60)  # a hang guard: opening a FIFO for reading would block forever
    assert not reader.is_alive(), "reading a FIFO blocked"
    assert outcome == {
        "fifo": "not a document: a named pipe (FIFO)",
        "folder": "not a document: a folder",
    }


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    path = write_text(tmp_path / "huge.log", "x" * 5000)
    reason = reason_of(path, ParseLimits(max_file_bytes=4000))
    assert reason == (
        "too large: 5.0 KB, over the 4.0 KB limit (the limit can be raised in the settings)"
    )


def test_text_is_capped(tmp_path: Path) -> None:
    path = write_text(tmp_path / "long.txt", "\n\n".join(f"Paragraph {i}." for i in range(100)))
    extracted = extract(path, ParseLimits(max_text_chars=100))
    assert len(extracted.text) <= 100
    assert extracted.text.startswith("Paragraph 0.\n\nParagraph 1.")
    assert extracted.warnings == ("text cut at 100 characters (the limit for one file)",)


def changing(
    monkeypatch: pytest.MonkeyPatch, change: Callable[[], None]
) -> None:  # fault injection: the real read, then a real change on disk
    real = safety.read_chunks

    def read_then_change(fd: int, size: int) -> bytes:
        data = real(fd, size)
        change()
        return data

    monkeypatch.setattr(safety, "read_chunks", read_then_change)


def test_file_changed_while_it_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_text(tmp_path / "log.txt", "first line\n")

    def append() -> None:
        with path.open("a") as handle:
            handle.write("a line written during the read\n")

    changing(monkeypatch, append)
    assert reason_of(path) == "changed while it was read; it will be read again"


def test_file_replaced_while_it_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_text(tmp_path / "doc.md", "# Old\n")
    other = write_text(tmp_path / "new.md", "# New\n")  # same size: the inode tells
    changing(monkeypatch, lambda: os.replace(other, path))
    assert reason_of(path) == "changed while it was read; it will be read again"


def test_file_deleted_while_it_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_text(tmp_path / "tmp.txt", "soon gone\n")
    changing(monkeypatch, path.unlink)
    assert reason_of(path) == "changed while it was read; it will be read again"


def test_deeply_nested_html(tmp_path: Path) -> None:
    path = tmp_path / "deep.html"
    path.write_text("<div>" * 20_000 + "<p>bottom</p>" + "</div>" * 20_000, encoding="utf-8")
    assert extract(path).text == "bottom"


def samples(folder: Path) -> list[Path]:
    items: list[Item] = [H(1, "Title"), "Some text here.", Table([["a", "b"], ["1", "2"]])]
    return [
        write_pdf(folder / "s.pdf", ["Page one.", "Page two."]),
        write_docx(folder / "s.docx", items),
        write_odt(folder / "s.odt", items),
        write_pptx(folder / "s.pptx", [("Slide", ["line"])]),
        write_xlsx(folder / "s.xlsx", {"Sheet": [["a", 1], ["b", 2]]}),
        write_epub(folder / "s.epub", [("Chapter", items)], title="Book"),
        write_html(folder / "s.html", items),
        write_csv(folder / "s.csv", [["a", "b"], ["1", "2"]]),
        write_text(folder / "s.md", "# T\n\ntext\n"),
    ]


def test_every_format_cut_short_or_overwritten_fails_only_with_a_reason(tmp_path: Path) -> None:
    originals = samples(tmp_path)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    outcomes: dict[str, str] = {}
    for original in originals:
        data = original.read_bytes()
        variants = {
            f"cut{int(share * 100)}": data[: int(len(data) * share)] for share in (0.1, 0.5, 0.9)
        }
        middle = len(data) // 2
        variants["overwritten"] = data[:middle] + b"\xff\x00" * 64 + data[middle + 128 :]
        variants["empty"] = b""
        for name, content in variants.items():
            path = damaged / f"{name}{original.suffix}"
            path.write_bytes(content)
            try:
                result = extract(path)  # only a DocumentError may escape
            except DocumentError as error:
                assert error.reason and "\n" not in error.reason
                outcomes[path.name] = error.reason
            else:
                assert isinstance(result, Extracted)
                assert "\x00" not in result.text
    # the zip formats cut short are refused as damaged, saying which kind of file
    assert outcomes["cut50.docx"] == "damaged: not a valid Word file (the zip container is broken)"
    assert outcomes["cut50.xlsx"].startswith("damaged: not a valid Excel file")
    assert outcomes["cut50.epub"].startswith("damaged: not a valid EPUB book")
