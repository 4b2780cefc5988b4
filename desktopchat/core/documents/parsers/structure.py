"""Building a document's blocks: the heading path as it changes, clean text, the text cap.

Every parser appends its pieces to a ``Blocks`` builder; the builder cleans each text
(``safety.clean``), skips empty ones, keeps the current heading path for the anchors and
stops taking text once ``ParseLimits.max_text_chars`` is reached.
"""

from __future__ import annotations

from desktopchat.core.documents.parsers.safety import TextCap, clean
from desktopchat.core.documents.types import Anchor, Block, BlockKind, Extracted, ParseLimits


class Blocks:
    """The blocks of one document, in reading order."""

    def __init__(self, limits: ParseLimits) -> None:
        self._blocks: list[Block] = []
        self._path: list[tuple[int, str]] = []  # (level, title), outermost first
        self._cap = TextCap(limits.max_text_chars)
        self._sep = False  # "\n\n" is owed before the next text (Extracted.text joins so)
        self.page: int | None = None
        self.warnings: list[str] = []

    @property
    def full(self) -> bool:
        """The text cap is reached: the parser may stop reading."""
        return self._cap.full

    @property
    def headings(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._path)

    def reset_headings(self) -> None:
        self._path.clear()

    def new_page(self, page: int) -> None:
        self.page = page
        self._blocks.append(Block(BlockKind.PAGE_BREAK, "", Anchor(page=page)))

    def _take(self, text: str) -> str:
        text = clean(text)
        if not text.strip() or self._cap.full:
            return ""
        taken = self._cap.take(("\n\n" if self._sep else "") + text)
        if self._sep:
            taken = taken[2:]
        self._sep = True
        return taken

    def heading(self, title: str, level: int, lines: tuple[int, int] | None = None) -> None:
        title = " ".join(clean(title).split())
        if not title:
            return
        level = max(1, level)
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        self._path.append((level, title))
        self.add(BlockKind.HEADING, title, lines, level=level)

    def add(
        self,
        kind: BlockKind,
        text: str,
        lines: tuple[int, int] | None = None,
        *,
        level: int = 0,
    ) -> None:
        taken = self._take(text)
        if not taken:
            return
        anchor = Anchor(
            page=self.page,
            headings=self.headings,
            line_start=lines[0] if lines else None,
            line_end=lines[1] if lines else None,
        )
        self._blocks.append(Block(kind, taken, anchor, level))

    def paragraph(self, text: str, lines: tuple[int, int] | None = None) -> None:
        self.add(BlockKind.PARAGRAPH, text, lines)

    def result(self, fmt: str, title: str = "") -> Extracted:
        warnings = list(self.warnings)
        if self._cap.cut:
            warnings.append(self._cap.warning())
        blocks = list(self._blocks)
        while blocks and blocks[-1].kind is BlockKind.PAGE_BREAK:
            blocks.pop()  # trailing empty pages carry nothing
        return Extracted(
            blocks=tuple(blocks),
            title=" ".join(clean(title).split()),
            format=fmt,
            warnings=tuple(warnings),
        )
