"""HTML (the selectolax adapter): the readable text of a page, with its heading structure.

Scripts, styles, navigation, headers, footers, asides, forms and templates are dropped;
h1-h6 give the heading path; paragraphs, list items, preformatted code and tables (a row
per line, cells joined by " | ") become blocks. The encoding comes from a BOM, the page's
own ``<meta charset>`` or, failing those, ``text.decode``. EPUB chapters come here too.
"""

from __future__ import annotations

import re
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser, LexborNode

from desktopchat.core.documents.parsers.formats import WEB_SUFFIXES
from desktopchat.core.documents.parsers.structure import Blocks
from desktopchat.core.documents.parsers.text import decode
from desktopchat.core.documents.types import BlockKind, Extracted, ParseLimits

SUFFIXES = WEB_SUFFIXES
_DROPPED = [
    "script", "style", "nav", "header", "footer", "aside", "noscript", "template",
    "form", "button", "select", "iframe", "object", "embed", "svg", "canvas", "head",
]  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Elements that end the running paragraph (their text starts a new one).
_BREAKS = frozenset(
    {
        "p", "div", "section", "article", "main", "blockquote", "li", "dt", "dd", "ul",
        "ol", "dl", "figure", "figcaption", "address", "details", "summary", "hr", "br",
        "center", "fieldset", "caption", "body",
    }
)  # fmt: skip
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def _declared_charset(data: bytes) -> str | None:
    found = _META_CHARSET.search(data[:4096])
    if not found:
        return None
    name = found.group(1).decode("ascii", "replace").lower()
    return None if name in ("utf-16", "utf-32") else name  # a BOM would have said so


def _space(text: str) -> str:
    return " ".join(text.split())


class _Walker:
    """Walks the tree once, without recursion (a page may nest thousands deep)."""

    def __init__(self, out: Blocks) -> None:
        self.out = out
        self.words: list[str] = []
        self.items: list[str] = []  # list items of the current list, as "- item"

    def flush(self) -> None:
        text = _space(" ".join(self.words))
        self.words = []
        if text:
            self.out.paragraph(text)

    def table(self, node: LexborNode) -> None:
        rows = []
        for row in node.css("tr"):
            cells = [_space(cell.text(separator=" ")) for cell in row.css("th, td")]
            if any(cells):
                rows.append(" | ".join(cells))
        if rows:
            self.out.add(BlockKind.TABLE, "\n".join(rows))

    def walk(self, root: LexborNode) -> None:
        stack: list[tuple[LexborNode, bool]] = [(root, False)]
        while stack and not self.out.full:
            node, leaving = stack.pop()
            tag = node.tag or ""
            if leaving:
                if tag in _BREAKS:
                    self.flush()
                continue
            if node.is_text_node:
                self.words.append(node.text(deep=False) or "")
                continue
            if tag in _HEADINGS:
                self.flush()
                self.out.heading(node.text(separator=" "), _HEADINGS[tag])
                continue
            if tag == "pre":
                self.flush()
                self.out.add(BlockKind.CODE, (node.text(deep=True) or "").strip("\n"))
                continue
            if tag == "table":
                self.flush()
                self.table(node)
                continue
            if tag in _BREAKS:
                self.flush()
                if tag == "li":
                    self.words.append("-")
            stack.append((node, True))
            children = list(node.iter(include_text=True))
            stack.extend((child, False) for child in reversed(children))
        self.flush()


def from_html(html: str, limits: ParseLimits, out: Blocks | None = None) -> Extracted:
    """The blocks of one HTML document (``out``: append to an open builder, for EPUB)."""
    own = out is None
    blocks = Blocks(limits) if out is None else out
    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    title = _space(title_node.text()) if title_node is not None else ""
    tree.strip_tags(_DROPPED)
    root = tree.body or tree.root
    if root is not None:
        _Walker(blocks).walk(root)
    return blocks.result("html", title) if own else Extracted(blocks=(), title=title)


def html_text(data: bytes) -> str:
    """An HTML file's bytes as text, in the encoding its BOM or ``<meta charset>`` names."""
    return decode(data, declared=_declared_charset(data))[0]


def read(path: Path, data: bytes, limits: ParseLimits) -> Extracted:
    return from_html(html_text(data), limits)
