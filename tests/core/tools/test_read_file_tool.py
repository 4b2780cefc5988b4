"""read_file on real files: only inside the chosen folders (symlinks and ``..`` resolved
first), never a FIFO or device (and never blocking on one), no binary files, big files cut
with a note, folders listed."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

from desktopchat.core.tools.files import (
    MAX_READ_BYTES,
    FileAccessError,
    read_file,
    resolve_inside,
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    inside = tmp_path / "chosen"
    (inside / "sub").mkdir(parents=True)
    (inside / "notes.txt").write_text("Buy milk.\nCall Ada.\n", encoding="utf-8")
    (inside / "sub" / "deep.md").write_text("# Deep\n\nText in a subfolder.\n", encoding="utf-8")
    (tmp_path / "outside.txt").write_text("secret outside the folder", encoding="utf-8")
    return inside


def test_a_file_inside_is_read_by_absolute_and_relative_path(folder: Path) -> None:
    text = read_file(str(folder / "notes.txt"), [folder])
    assert text.splitlines()[0] == f"File {folder / 'notes.txt'} (20 bytes):"
    assert "Buy milk.\nCall Ada.\n" in text
    assert "Text in a subfolder." in read_file("sub/deep.md", [folder])
    assert "Text in a subfolder." in read_file("./sub/../sub/deep.md", [folder])


def test_relative_paths_start_at_the_first_folder_and_any_folder_may_be_read(
    folder: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "todo.txt").write_text("water the plants", encoding="utf-8")
    assert "water the plants" in read_file(str(other / "todo.txt"), [folder, other])
    with pytest.raises(
        FileAccessError, match=re.escape("There is no file or folder at 'todo.txt'")
    ):
        read_file("todo.txt", [folder, other])


def test_outside_the_folders_is_refused(folder: Path, tmp_path: Path) -> None:
    for path in (
        str(tmp_path / "outside.txt"),
        "../outside.txt",
        "sub/../../outside.txt",
        str(folder / ".." / "outside.txt"),
        "/etc/passwd",
        "~/.bashrc",
    ):
        with pytest.raises(FileAccessError, match="outside the folders") as refused:
            read_file(path, [folder])
        assert repr(path) in str(refused.value)  # the message names the path asked for


def test_a_folder_whose_name_starts_the_same_is_not_inside(tmp_path: Path) -> None:
    chosen, lookalike = tmp_path / "data", tmp_path / "data-private"
    chosen.mkdir()
    lookalike.mkdir()
    (lookalike / "keys.txt").write_text("private", encoding="utf-8")
    with pytest.raises(FileAccessError, match="outside"):
        read_file(str(lookalike / "keys.txt"), [chosen])


def test_a_symlink_that_escapes_is_refused(folder: Path, tmp_path: Path) -> None:
    (folder / "escape.txt").symlink_to(tmp_path / "outside.txt")
    (folder / "escape-dir").symlink_to(tmp_path, target_is_directory=True)
    (folder / "null").symlink_to("/dev/null")
    for path in ("escape.txt", "escape-dir/outside.txt", "escape-dir", "null"):
        with pytest.raises(FileAccessError, match="outside the folders"):
            read_file(path, [folder])


def test_symlinks_that_stay_inside_are_followed(folder: Path, tmp_path: Path) -> None:
    (folder / "link.txt").symlink_to(folder / "sub" / "deep.md")
    assert "Text in a subfolder." in read_file("link.txt", [folder])
    # The chosen folder itself may be a symlink: it is resolved too.
    alias = tmp_path / "alias"
    alias.symlink_to(folder, target_is_directory=True)
    assert "Buy milk." in read_file(str(alias / "notes.txt"), [alias])
    assert "Buy milk." in read_file("notes.txt", [alias])


def test_a_symlink_loop_is_an_error_not_a_hang(folder: Path) -> None:
    (folder / "a").symlink_to(folder / "b")
    (folder / "b").symlink_to(folder / "a")
    with pytest.raises(FileAccessError, match="'a'"):
        read_file("a", [folder])


def test_a_fifo_is_refused_without_blocking(folder: Path) -> None:
    fifo = folder / "pipe"
    os.mkfifo(fifo)
    outcome: list[BaseException | str] = []

    def read() -> None:
        try:
            outcome.append(read_file("pipe", [folder]))
        except BaseException as error:
            outcome.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # unblock the reader before failing
        with open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "wb"):
            pass
        pytest.fail("read_file blocked on a FIFO")
    [error] = outcome
    assert isinstance(error, FileAccessError)
    assert "named pipe" in str(error) and "'pipe'" in str(error)


def test_a_binary_file_is_refused(folder: Path) -> None:
    (folder / "program").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    with pytest.raises(FileAccessError, match="'program' is not a text file"):
        read_file("program", [folder])
    (folder / "late-nul.txt").write_bytes(b"a" * 9000 + b"\x00")  # past the probe: text
    assert read_file("late-nul.txt", [folder]).count("a") >= 9000


def test_a_file_that_is_not_utf8_is_read_with_replacements(folder: Path) -> None:
    (folder / "legacy.txt").write_bytes("Café crème".encode("latin-1"))
    text = read_file("legacy.txt", [folder])
    assert "Caf\ufffd cr\ufffdme" in text
    assert "not valid UTF-8" in text.splitlines()[0]


def test_utf16_and_a_utf8_bom_are_read(folder: Path) -> None:
    (folder / "wide.txt").write_bytes("\ufeffHello wide world".encode("utf-16-le"))
    text = read_file("wide.txt", [folder])
    assert "Hello wide world" in text and "(UTF-16)" in text
    (folder / "bom.txt").write_bytes(b"\xef\xbb\xbfwith a BOM")
    assert read_file("bom.txt", [folder]).endswith("\nwith a BOM")


def test_a_big_file_is_cut_with_a_note(folder: Path) -> None:
    line = "0123456789 the quick brown fox é\n"
    big = folder / "big.log"
    big.write_text(line * (3 * MAX_READ_BYTES // len(line)), encoding="utf-8")
    size = big.stat().st_size
    assert size > MAX_READ_BYTES
    text = read_file("big.log", [folder], limit_chars=5_000)
    assert len(text) <= 5_000
    assert f"of {size:,} bytes" in text.splitlines()[-1]
    assert text.splitlines()[1] == line.rstrip("\n")
    assert "\ufffd" not in text  # a cut inside a character is not shown as one
    whole = read_file("big.log", [folder], limit_chars=10 * MAX_READ_BYTES)
    assert "the file goes on" in whole  # only MAX_READ_BYTES are read, however high the limit
    assert len(whole) < MAX_READ_BYTES + 1_000


def test_an_empty_file(folder: Path) -> None:
    (folder / "empty.txt").touch()
    assert read_file("empty.txt", [folder]).endswith("(the file is empty)")


def test_a_folder_gives_its_listing(folder: Path) -> None:
    (folder / "B.txt").touch()
    (folder / "a-dir").mkdir()
    listing = read_file(str(folder), [folder]).splitlines()
    assert listing[0].startswith(f"Folder {folder} (4 entries")
    assert listing[1:] == ["a-dir/", "sub/", "B.txt", "notes.txt"]
    assert read_file(".", [folder]).splitlines() == listing
    assert read_file("sub", [folder]).splitlines()[1:] == ["deep.md"]
    (folder / "nothing").mkdir()
    assert read_file("nothing", [folder]).endswith("(the folder is empty)")


def test_a_long_listing_is_cut(folder: Path) -> None:
    many = folder / "many"
    many.mkdir()
    for i in range(700):
        (many / f"file-{i:04d}.txt").touch()
    listing = read_file("many", [folder]).splitlines()
    assert listing[0].startswith(f"Folder {many} (700 entries")
    assert listing[-1] == "[… 200 more entries left out]"


def test_what_cannot_be_read_says_why(folder: Path) -> None:
    with pytest.raises(FileAccessError, match="No folders were chosen"):
        read_file("notes.txt", [])
    with pytest.raises(FileAccessError, match="No path was given"):
        read_file("  ", [folder])
    with pytest.raises(FileAccessError, match="not valid"):
        read_file("notes\x00.txt", [folder])
    with pytest.raises(
        FileAccessError, match=re.escape("There is no file or folder at 'missing.txt'")
    ):
        read_file("missing.txt", [folder])
    if os.geteuid() != 0:  # root reads whatever the mode says
        locked = folder / "locked.txt"
        locked.write_text("x", encoding="utf-8")
        locked.chmod(0)
        with pytest.raises(FileAccessError, match=re.escape("'locked.txt' cannot be opened")):
            read_file("locked.txt", [folder])


def test_resolve_inside_gives_the_real_path(folder: Path) -> None:
    assert resolve_inside("sub/../notes.txt", [folder]) == folder.resolve() / "notes.txt"
    assert resolve_inside(".", [folder]) == folder.resolve()
