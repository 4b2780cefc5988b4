"""Excel .xlsx (the openpyxl adapter, read-only): each sheet's rows, the sheet name as heading.

Cells hold their cached values (``data_only``: formulas as last computed); a row is one
line with cells joined by " | ", trailing empty cells dropped. The zip container is
measured first (``safety.check_zip``).
"""

from __future__ import annotations

import datetime as dt
import io
import warnings
from pathlib import Path

import openpyxl

from desktopchat.core.documents.parsers.formats import SHEETS_SUFFIXES
from desktopchat.core.documents.parsers.safety import check_zip
from desktopchat.core.documents.parsers.structure import Blocks
from desktopchat.core.documents.types import BlockKind, DocumentError, Extracted, ParseLimits

SUFFIXES = SHEETS_SUFFIXES


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return " ".join(str(value).split())


def read(path: Path, data: bytes, limits: ParseLimits) -> Extracted:
    check_zip(data, limits, "Excel file")
    out = Blocks(limits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about styles and extensions it skips
        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises KeyError, InvalidFileException, lxml errors
            raise DocumentError("damaged: not a readable Excel file") from exc
        try:
            title = book.properties.title or ""
            for sheet in book.worksheets:
                if out.full:
                    break
                out.reset_headings()
                out.heading(sheet.title, 1)
                rows: list[str] = []
                size = 0
                for values in sheet.iter_rows(values_only=True):
                    cells = [_cell(v) for v in values]
                    while cells and not cells[-1]:
                        cells.pop()
                    if cells:
                        rows.append(" | ".join(cells))
                        size += len(rows[-1]) + 1
                        if size > limits.max_text_chars:
                            break  # the builder cuts at the cap and says so
                if rows:
                    out.add(BlockKind.TABLE, "\n".join(rows))
        except Exception as exc:
            raise DocumentError("damaged: parts of this Excel file cannot be read") from exc
        finally:
            book.close()
    return out.result("xlsx", title)
