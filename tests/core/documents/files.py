"""Real sample documents for the tests, written by the real libraries (no hand-made bytes).

Every writer takes the path to write and returns it. The content of Word, OpenDocument,
HTML and Markdown files is one list of items: a ``str`` is a paragraph, ``H(level, text)``
a heading, ``Table(rows)`` a table (its first row is the header)::

    write_docx(tmp_path / "a.docx", [H(1, "Setup"), "Install it.", Table([["a", "b"]])])
    write_pdf(tmp_path / "a.pdf", ["text of page 1", None, "page 3"])  # None: scanned page
"""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path


@dataclass(frozen=True)
class H:
    """A heading (level 1 = top)."""

    level: int
    text: str


@dataclass(frozen=True)
class Table:
    rows: Sequence[Sequence[str]]


Item = str | H | Table


def write_pdf(path: Path, pages: Sequence[str | None], *, title: str = "") -> Path:
    """A PDF (fpdf2, core font: Latin-1 text) with one page per entry; a page of ``None``
    is an image only (a scanned page without a text layer). Paragraphs split by blank
    lines are written apart."""
    from fpdf import FPDF
    from PIL import Image

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    for page in pages:
        pdf.add_page()
        if page is None:
            picture = io.BytesIO()
            Image.new("RGB", (200, 100), (200, 180, 90)).save(picture, format="PNG")
            picture.seek(0)
            pdf.image(picture, x=10, y=10, w=150)
            continue
        pdf.set_font("helvetica", size=11)
        for paragraph in page.split("\n\n"):
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(6)
    pdf.output(str(path))
    return path


def encrypt_pdf(source: Path, path: Path, password: str = "secret") -> Path:
    """``source`` encrypted with a user password (pypdf)."""
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=str(source))
    writer.encrypt(user_password=password, owner_password=password + "-owner")
    with path.open("wb") as handle:
        writer.write(handle)
    return path


def write_docx(path: Path, items: Sequence[Item], *, title: str = "") -> Path:
    """A Word file (python-docx): headings in the "Heading N" styles, tables in "Table Grid"."""
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    for item in items:
        if isinstance(item, H):
            document.add_heading(item.text, level=item.level)
        elif isinstance(item, Table):
            columns = max(len(row) for row in item.rows)
            table = document.add_table(rows=len(item.rows), cols=columns)
            for r, row in enumerate(item.rows):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
        else:
            document.add_paragraph(item)
    document.save(str(path))
    return path


def write_odt(path: Path, items: Sequence[Item]) -> Path:
    """An OpenDocument text (odfpy)."""
    from odf.opendocument import OpenDocumentText
    from odf.table import Table as OdfTable
    from odf.table import TableCell, TableColumn, TableRow
    from odf.text import H as OdfH
    from odf.text import P

    document = OpenDocumentText()
    for number, item in enumerate(items):
        if isinstance(item, H):
            document.text.addElement(OdfH(outlinelevel=item.level, text=item.text))
        elif isinstance(item, Table):
            table = OdfTable(name=f"Table{number}")
            table.addElement(TableColumn(numbercolumnsrepeated=max(map(len, item.rows))))
            for row in item.rows:
                element = TableRow()
                table.addElement(element)
                for cell in row:
                    cell_element = TableCell()
                    cell_element.addElement(P(text=cell))
                    element.addElement(cell_element)
            document.text.addElement(table)
        else:
            document.text.addElement(P(text=item))
    document.save(str(path))
    return path


def html_of(items: Sequence[Item], *, title: str = "", charset: str = "utf-8") -> str:
    """A page with the items in <main>, and the parts a reader drops around them: a script,
    a style, navigation, a header, a footer, an aside."""
    body = []
    for item in items:
        if isinstance(item, H):
            body.append(f"<h{item.level}>{escape(item.text)}</h{item.level}>")
        elif isinstance(item, Table):
            rows = "".join(
                "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
                for row in item.rows
            )
            body.append(f"<table>{rows}</table>")
        else:
            body.append(f"<p>{escape(item)}</p>")
    return (
        f'<!DOCTYPE html><html><head><meta charset="{charset}"><title>{escape(title)}</title>'
        "<style>body { color: red }</style><script>var tracking = 'SCRIPTTEXT';</script>"
        "</head><body><header>HEADERTEXT</header><nav><a href='/'>NAVTEXT</a></nav>"
        f"<main>{''.join(body)}</main><aside>ASIDETEXT</aside><footer>FOOTERTEXT</footer>"
        "<noscript>NOSCRIPTTEXT</noscript></body></html>"
    )


def write_html(
    path: Path, items: Sequence[Item], *, title: str = "", charset: str = "utf-8"
) -> Path:
    """An HTML file in ``charset`` that says so in its <meta>."""
    path.write_bytes(html_of(items, title=title, charset=charset).encode(charset))
    return path


def markdown_of(items: Sequence[Item]) -> str:
    lines: list[str] = []
    for item in items:
        if isinstance(item, H):
            lines.append("#" * item.level + " " + item.text)
        elif isinstance(item, Table):
            for number, row in enumerate(item.rows):
                lines.append("| " + " | ".join(row) + " |")
                if number == 0:
                    lines.append("|" + "---|" * len(row))
        else:
            lines.append(item)
        lines.append("")
    return "\n".join(lines)


def write_markdown(path: Path, items: Sequence[Item]) -> Path:
    path.write_text(markdown_of(items), encoding="utf-8")
    return path


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Text in any encoding ("utf-16" writes a BOM, as Python does)."""
    path.write_bytes(text.encode(encoding))
    return path


def write_csv(path: Path, rows: Sequence[Sequence[str]], delimiter: str = ",") -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


def write_pptx(path: Path, slides: Sequence[tuple[str, Sequence[str]]]) -> Path:
    """A presentation (python-pptx): each slide a title and its bullet lines."""
    from pptx import Presentation

    presentation = Presentation()
    layout = presentation.slide_layouts[1]  # title and content
    for title, lines in slides:
        slide = presentation.slides.add_slide(layout)
        slide.shapes.title.text = title
        slide.placeholders[1].text = "\n".join(lines)
    presentation.save(str(path))
    return path


def write_xlsx(path: Path, sheets: dict[str, Sequence[Sequence[object]]]) -> Path:
    """A workbook (openpyxl), one sheet per entry."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
    book.save(str(path))
    return path


def write_epub(path: Path, chapters: Sequence[tuple[str, Sequence[Item]]], title: str) -> Path:
    """A book (ebooklib): chapters in this order, each a title and its items."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("test-book")
    book.set_title(title)
    book.set_language("en")
    items = []
    for number, (name, content) in enumerate(chapters, start=1):
        chapter = epub.EpubHtml(title=name, file_name=f"chapter{number}.xhtml", lang="en")
        chapter.content = html_of([H(1, name), *content], title=name)
        book.add_item(chapter)
        items.append(chapter)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        epub.write_epub(str(path), book)
    return path


def write_zip_bomb_docx(path: Path, unpacked_bytes: int = 64 * 1024 * 1024) -> Path:
    """A .docx-shaped zip whose document.xml unpacks to ``unpacked_bytes`` of one repeated
    byte (it compresses about a thousand times), written in pieces."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b" " * (1024 * 1024)
            for _ in range(unpacked_bytes // len(block)):
                member.write(block)
    return path
