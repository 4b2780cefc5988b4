"""Every format read by its real parser from a real file written in the test: the text, the
structure (pages, heading paths, line ranges) and the dispatch by content."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from desktopchat.core.documents.parsers import SUPPORTED_SUFFIXES, extract, is_supported
from desktopchat.core.documents.types import BlockKind, Extracted, UnsupportedDocumentError
from tests.core.documents.files import (
    H,
    Table,
    write_csv,
    write_docx,
    write_epub,
    write_html,
    write_markdown,
    write_odt,
    write_pdf,
    write_pptx,
    write_text,
    write_xlsx,
)


def blocks_of(extracted: Extracted, kind: BlockKind) -> list[str]:
    return [b.text for b in extracted.blocks if b.kind is kind]


def block_with(extracted: Extracted, needle: str) -> tuple[BlockKind, tuple[str, ...]]:
    block = next(b for b in extracted.blocks if needle in b.text)
    return block.kind, block.anchor.headings


def test_pdf_text_comes_with_its_page_numbers(tmp_path: Path) -> None:
    path = write_pdf(
        tmp_path / "report.pdf",
        [
            "Alpha opens the report.\n\nA second paragraph on the first page.",
            "Bravo is on page two.",
            "Charlie closes on page three.",
        ],
        title="Quarterly report",
    )
    extracted = extract(path)
    assert extracted.format == "pdf"
    assert extracted.title == "Quarterly report"
    assert extracted.warnings == ()
    pages = {b.anchor.page for b in extracted.blocks if "Alpha" in b.text}
    assert pages == {1}
    for word, page in (("Bravo", 2), ("Charlie", 3)):
        block = next(b for b in extracted.blocks if word in b.text)
        assert block.anchor.page == page
    breaks = [b.anchor.page for b in extracted.blocks if b.kind is BlockKind.PAGE_BREAK]
    assert breaks == [1, 2, 3]
    assert "second paragraph" in extracted.text
    assert extracted.size == path.stat().st_size
    assert len(extracted.sha256) == 64


def test_a_pdf_with_some_pages_scanned_is_read_with_a_warning(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "mixed.pdf", ["Typed page one.", None, None, "Typed page four."])
    extracted = extract(path)
    assert "Typed page four." in extracted.text
    assert extracted.warnings == ("pages 2-3 have no text layer (scanned pages are not read)",)
    assert next(b for b in extracted.blocks if "four" in b.text).anchor.page == 4


def test_word_headings_paragraphs_and_tables(tmp_path: Path) -> None:
    path = write_docx(
        tmp_path / "manual.docx",
        [
            "A preface before any heading.",
            H(1, "Setup"),
            "Install the package first.",
            H(2, "Linux"),
            "Use the package manager.",
            Table(
                [["Distro", "Command"], ["Debian", "apt install x"], ["Fedora", "dnf install x"]]
            ),
            H(1, "Usage"),
            "Run it.",
        ],
        title="The manual",
    )
    extracted = extract(path)
    assert extracted.format == "docx"
    assert extracted.title == "The manual"
    assert block_with(extracted, "preface") == (BlockKind.PARAGRAPH, ())
    assert block_with(extracted, "Install the") == (BlockKind.PARAGRAPH, ("Setup",))
    assert block_with(extracted, "package manager") == (BlockKind.PARAGRAPH, ("Setup", "Linux"))
    assert block_with(extracted, "Run it") == (BlockKind.PARAGRAPH, ("Usage",))
    assert blocks_of(extracted, BlockKind.TABLE) == [
        "Distro | Command\nDebian | apt install x\nFedora | dnf install x"
    ]
    headings = [(b.text, b.level) for b in extracted.blocks if b.kind is BlockKind.HEADING]
    assert headings == [("Setup", 1), ("Linux", 2), ("Usage", 1)]


def test_html_drops_scripts_and_navigation_and_keeps_structure(tmp_path: Path) -> None:
    path = write_html(
        tmp_path / "page.html",
        [
            H(1, "Café guide"),
            "Espresso is strong.",
            H(2, "Prices"),
            Table([["Drink", "Price"], ["Latte", "3 €"]]),
        ],
        title="Guide — cafés",
        charset="windows-1252",
    )
    extracted = extract(path)
    assert extracted.format == "html"
    assert extracted.title == "Guide — cafés"
    text = extracted.text
    for dropped in ("SCRIPTTEXT", "NAVTEXT", "HEADERTEXT", "FOOTERTEXT", "ASIDETEXT",
                    "NOSCRIPTTEXT", "color: red"):  # fmt: skip
        assert dropped not in text
    assert block_with(extracted, "Espresso") == (BlockKind.PARAGRAPH, ("Café guide",))
    assert block_with(extracted, "Latte") == (BlockKind.TABLE, ("Café guide", "Prices"))
    assert "Latte | 3 €" in text


def test_html_lists_and_preformatted_code(tmp_path: Path) -> None:
    path = tmp_path / "doc.htm"
    path.write_text(
        "<html><body><h3>Steps</h3><ul><li>first <b>step</b></li><li>second</li></ul>"
        "<pre>def main():\n    return 1</pre><div>loose <span>text</span></div></body></html>",
        encoding="utf-8",
    )
    extracted = extract(path)
    assert blocks_of(extracted, BlockKind.PARAGRAPH) == ["- first step", "- second", "loose text"]
    assert blocks_of(extracted, BlockKind.CODE) == ["def main():\n    return 1"]
    assert all(b.anchor.headings == ("Steps",) for b in extracted.blocks)


def test_markdown_headings_fences_and_line_ranges(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text(
        "# Project\n"  # 1
        "\n"
        "Intro line one\n"  # 3
        "intro line two.\n"  # 4
        "\n"
        "Install\n"  # 6
        "-------\n"  # 7
        "\n"
        "```sh\n"  # 9
        "# not a heading\n"
        "\n"
        "make install\n"
        "```\n"  # 13
        "\n"
        "### Deep\n"  # 15
        "Deep text.\n",  # 16
        encoding="utf-8",
    )
    extracted = extract(path)
    assert extracted.format == "markdown"
    assert extracted.title == "Project"
    summary = [
        (b.kind, b.anchor.headings, b.anchor.line_start, b.anchor.line_end)
        for b in extracted.blocks
    ]
    assert summary == [
        (BlockKind.HEADING, ("Project",), 1, 1),
        (BlockKind.PARAGRAPH, ("Project",), 3, 4),
        (BlockKind.HEADING, ("Project", "Install"), 6, 7),
        (BlockKind.CODE, ("Project", "Install"), 9, 13),
        (BlockKind.HEADING, ("Project", "Install", "Deep"), 15, 15),
        (BlockKind.PARAGRAPH, ("Project", "Install", "Deep"), 16, 16),
    ]
    assert blocks_of(extracted, BlockKind.CODE) == ["```sh\n# not a heading\n\nmake install\n```"]


def test_markdown_written_by_the_helper(tmp_path: Path) -> None:
    path = write_markdown(tmp_path / "a.markdown", [H(1, "Top"), "Body.", H(2, "Sub"), "More."])
    extracted = extract(path)
    assert block_with(extracted, "More.") == (BlockKind.PARAGRAPH, ("Top", "Sub"))


def test_csv_rows_with_line_ranges(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "stock.csv",
        [["name", "quantity"], ["apples", "3"], ["pears, green", "4"], ["plums", "5"]],
    )
    extracted = extract(path)
    assert extracted.format == "csv"
    (block,) = extracted.blocks
    assert block.kind is BlockKind.TABLE
    assert block.text == "name | quantity\napples | 3\npears, green | 4\nplums | 5"
    assert (block.anchor.line_start, block.anchor.line_end) == (1, 4)


def test_tsv_and_semicolon_csv(tmp_path: Path) -> None:
    tsv = write_csv(tmp_path / "a.tsv", [["a", "b"], ["1", "2"]], delimiter="\t")
    assert extract(tsv).text == "a | b\n1 | 2"
    semicolons = tmp_path / "b.csv"
    semicolons.write_text("Name;Stadt;Land\nJohann;Köln;DE\nMarie;Lyon;FR\n", encoding="utf-8")
    assert extract(semicolons).text == "Name | Stadt | Land\nJohann | Köln | DE\nMarie | Lyon | FR"


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("cp1252", "Café crème brûlée — naïve “quotes” cost 5 €. Das Mädchen aß Äpfel.\n"),
        ("shift_jis", "東京は日本の首都です。電車や地下鉄の路線網は非常に発達しています。\n"),
        ("gb18030", "北京是中华人民共和国的首都，也是全国的政治和文化中心。\n"),
        ("koi8-r", "Москва является столицей Российской Федерации и крупнейшим городом.\n"),
        ("utf-16", "UTF-16 with a byte order mark: ünïcödé and 日本語.\n"),
        ("utf-16-le", "UTF-16 without a mark, little-endian text here.\n"),
        ("utf-8-sig", "UTF-8 with a BOM: ünïcödé.\n"),
        ("utf-8", "ภาษาไทยไม่มีช่องว่างระหว่างคำ และใช้ช่องว่างระหว่างวลี\n"),
    ],
)
def test_text_in_any_common_encoding(tmp_path: Path, encoding: str, text: str) -> None:
    path = write_text(tmp_path / "note.txt", text * 4, encoding)
    extracted = extract(path)
    assert extracted.format == "text"
    assert extracted.text == (text * 4).strip()


def test_plain_text_paragraphs_with_line_ranges(tmp_path: Path) -> None:
    path = write_text(tmp_path / "a.txt", "one\ntwo\n\n\nthree\r\nfour\r\n\r\nfive")
    extracted = extract(path)
    ranges = [(b.text, b.anchor.line_start, b.anchor.line_end) for b in extracted.blocks]
    assert ranges == [("one\ntwo", 1, 2), ("three\nfour", 5, 6), ("five", 8, 8)]


def test_source_code_is_split_at_top_level_definitions(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "tool.py",
        "import os\n"  # 1
        "import sys\n"
        "\n"
        "\n"
        "# Reads a file.\n"  # 5
        "def read(path):\n"
        "    text = open(path).read()\n"
        "\n"
        "    return text\n"  # 9
        "class Tool:\n"  # 10
        "    pass\n"
        "\n"
        "@decorated\n"  # 13
        "def run():\n"
        "    pass\n",  # 15
    )
    extracted = extract(path)
    assert extracted.format == "code"
    units = [(b.kind, b.anchor.line_start, b.anchor.line_end) for b in extracted.blocks]
    assert units == [
        (BlockKind.CODE, 1, 2),
        (BlockKind.CODE, 5, 9),
        (BlockKind.CODE, 10, 11),
        (BlockKind.CODE, 13, 15),
    ]
    assert extracted.blocks[1].text.startswith("# Reads a file.\ndef read(path):")


def test_c_like_code_keeps_braces_with_their_function(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "main.c",
        '#include <stdio.h>\n\nint main(void)\n{\n    puts("hi");\n\n    return 0;\n}\n\n'
        "static int helper(int x) {\n    return x;\n}\n",
    )
    extracted = extract(path)
    units = [(b.anchor.line_start, b.anchor.line_end) for b in extracted.blocks]
    assert units == [(1, 1), (3, 8), (10, 12)]


def test_opendocument_text(tmp_path: Path) -> None:
    path = write_odt(
        tmp_path / "letter.odt",
        [H(1, "Letter"), "Dear reader,", H(2, "Terms"), Table([["Term", "Days"], ["Trial", "30"]])],
    )
    extracted = extract(path)
    assert extracted.format == "odt"
    assert block_with(extracted, "Dear reader") == (BlockKind.PARAGRAPH, ("Letter",))
    assert block_with(extracted, "Trial") == (BlockKind.TABLE, ("Letter", "Terms"))
    assert "Term | Days\nTrial | 30" in extracted.text


def test_powerpoint_slides_are_pages(tmp_path: Path) -> None:
    path = write_pptx(
        tmp_path / "deck.pptx",
        [("Welcome", ["Agenda today", "Questions later"]), ("Results", ["Revenue grew 12%"])],
    )
    extracted = extract(path)
    assert extracted.format == "pptx"
    revenue = next(b for b in extracted.blocks if "Revenue" in b.text)
    assert (revenue.anchor.page, revenue.anchor.headings) == (2, ("Results",))
    agenda = next(b for b in extracted.blocks if "Agenda" in b.text)
    assert agenda.text == "Agenda today\nQuestions later"  # the title is not repeated
    assert agenda.anchor.page == 1


def test_excel_sheets_with_their_names_as_headings(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "book.xlsx",
        {"Prices": [["Item", "Price"], ["Tea", 2.5], ["Cake", 4.0]], "Empty": []},
    )
    extracted = extract(path)
    assert extracted.format == "xlsx"
    assert block_with(extracted, "Tea") == (BlockKind.TABLE, ("Prices",))
    assert blocks_of(extracted, BlockKind.TABLE) == ["Item | Price\nTea | 2.5\nCake | 4"]


def test_epub_chapters_in_spine_order(tmp_path: Path) -> None:
    path = write_epub(
        tmp_path / "book.epub",
        [("Beginning", ["It was a dark night."]), ("Ending", ["And then it was day."])],
        title="A Short Book",
    )
    extracted = extract(path)
    assert extracted.format == "epub"
    assert extracted.title == "A Short Book"
    text = extracted.text
    assert text.index("dark night") < text.index("then it was day")
    assert block_with(extracted, "then it was day") == (BlockKind.PARAGRAPH, ("Ending",))
    assert "SCRIPTTEXT" not in text


def test_content_decides_over_the_name(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "real.pdf", ["The PDF text."])
    disguised = tmp_path / "export.dat"
    disguised.write_bytes(pdf.read_bytes())
    assert extract(disguised).format == "pdf"
    docx = write_docx(tmp_path / "real.docx", ["Word text."])
    renamed = tmp_path / "real.pdf"
    renamed.write_bytes(docx.read_bytes())
    assert extract(renamed).format == "docx"


def test_files_without_a_suffix_and_unknown_suffixes(tmp_path: Path) -> None:
    readme = write_text(tmp_path / "README", "Read me first.")
    assert extract(readme).text == "Read me first."
    assert is_supported(readme)
    with pytest.raises(UnsupportedDocumentError, match="not a format we read"):
        extract(write_text(tmp_path / "data.xyz", "text"))
    assert not is_supported(tmp_path / "data.xyz")
    assert {".pdf", ".docx", ".html", ".md", ".txt", ".csv", ".py", ".odt", ".pptx", ".xlsx",
            ".epub"} <= SUPPORTED_SUFFIXES  # fmt: skip


def test_empty_file_has_no_blocks(tmp_path: Path) -> None:
    assert extract(write_text(tmp_path / "empty.txt", "")).blocks == ()
    assert extract(write_text(tmp_path / "blank.md", "\n\n  \n")).blocks == ()


PARSER_LIBRARIES = (
    "pypdfium2", "docx", "selectolax", "charset_normalizer", "odf", "pptx", "openpyxl",
    "ebooklib",
)  # fmt: skip


def _loaded_after(code: str) -> list[str]:
    """The parser libraries a fresh interpreter has imported after running ``code``."""
    program = (
        f"import sys\n{code}\nprint(sorted(m for m in {PARSER_LIBRARIES!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True
    )
    return list(ast.literal_eval(done.stdout.strip().splitlines()[-1]))


def test_the_parser_libraries_are_imported_on_the_first_file_of_their_format(
    tmp_path: Path,
) -> None:
    """The CLI and the library import none of them (``docs list`` would pay ~0.3 s), nor
    does telling which files are read; reading a text file imports its library only."""
    text = write_text(tmp_path / "notes.txt", "Plain notes.")
    pdf = write_pdf(tmp_path / "one.pdf", ["A page."])
    assert (
        _loaded_after(
            "import desktopchat.cli, desktopchat.cli.documents\n"
            "import desktopchat.core.documents.library, desktopchat.core.documents.indexer\n"
            "from pathlib import Path\n"
            "from desktopchat.core.documents.parsers import is_supported\n"
            "assert is_supported(Path('a.pdf')) and is_supported(Path('README'))\n"
            "assert not is_supported(Path('a.xyz'))"
        )
        == []
    )
    read_text = (
        "from pathlib import Path\nfrom desktopchat.core.documents.parsers import extract\n"
        f"extract(Path({str(text)!r}))"
    )
    assert _loaded_after(read_text) == ["charset_normalizer"]
    read_pdf = (
        "from pathlib import Path\nfrom desktopchat.core.documents.parsers import extract\n"
        f"extract(Path({str(pdf)!r}))"
    )
    assert _loaded_after(read_pdf) == ["pypdfium2"]


def test_each_adapter_reads_the_suffixes_of_the_table() -> None:
    """``formats`` (imported eagerly) and the adapters (imported lazily) agree."""
    import importlib

    from desktopchat.core.documents.parsers.formats import ADAPTERS

    for name, suffixes in ADAPTERS.items():
        module = importlib.import_module(f"desktopchat.core.documents.parsers.{name}")
        assert suffixes == module.SUFFIXES, name
    assert frozenset().union(*ADAPTERS.values()) == SUPPORTED_SUFFIXES
