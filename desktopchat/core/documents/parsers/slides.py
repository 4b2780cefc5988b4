"""PowerPoint .pptx (the python-pptx adapter): one block per slide, its number as the page.

A slide's block is its title, then the text of its shapes (grouped shapes and tables too)
in their order, then its speaker notes; the slide title is its heading.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE

from desktopchat.core.documents.parsers.formats import SLIDES_SUFFIXES
from desktopchat.core.documents.parsers.safety import check_zip
from desktopchat.core.documents.parsers.structure import Blocks
from desktopchat.core.documents.types import BlockKind, DocumentError, Extracted, ParseLimits

SUFFIXES = SLIDES_SUFFIXES


def _shape_lines(shapes: Any, skip: Any) -> list[str]:
    lines: list[str] = []
    stack = [iter(shapes)]
    while stack:
        shape = next(stack[-1], None)
        if shape is None:
            stack.pop()
            continue
        if skip is not None and shape.shape_id == skip.shape_id:
            continue
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            stack.append(iter(shape.shapes))
        elif getattr(shape, "has_table", False) and shape.has_table:
            for row in shape.table.rows:
                cells = [" ".join(cell.text.split()) for cell in row.cells]
                if any(cells):
                    lines.append(" | ".join(cells))
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            lines.extend(p.strip() for p in shape.text_frame.text.split("\n") if p.strip())
    return lines


def read(path: Path, data: bytes, limits: ParseLimits) -> Extracted:
    check_zip(data, limits, "PowerPoint file")
    try:
        presentation = Presentation(io.BytesIO(data))
    except Exception as exc:  # python-pptx raises KeyError, ValueError, lxml errors...
        raise DocumentError("damaged: not a readable PowerPoint file") from exc
    out = Blocks(limits)
    try:
        title = presentation.core_properties.title or ""
        for number, slide in enumerate(presentation.slides, start=1):
            if out.full:
                break
            out.new_page(number)
            out.reset_headings()
            title_shape = slide.shapes.title
            heading = " ".join(title_shape.text.split()) if title_shape is not None else ""
            if heading:
                out.heading(heading, 1)
            lines = _shape_lines(slide.shapes, title_shape)
            if slide.has_notes_slide:
                notes = slide.notes_slide.notes_text_frame
                if notes is not None and notes.text.strip():
                    lines.append("Notes: " + " ".join(notes.text.split()))
            if lines:
                out.add(BlockKind.PARAGRAPH, "\n".join(lines))
    except Exception as exc:
        raise DocumentError("damaged: parts of this PowerPoint file cannot be read") from exc
    return out.result("pptx", title)
