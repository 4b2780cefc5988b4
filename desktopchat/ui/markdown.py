"""Markdown to Qt rich text, with highlighted code blocks that carry a Copy link.

Raw HTML in model output is escaped, never rendered. Qt's rich text understands a subset
of HTML 4 and CSS, so code blocks are tables with inline styles (Pygments, no classes).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

COPY_SCHEME = "copy:"
# The languages models write most: their highlighters are prepared off the GUI thread at
# start (a lexer compiles its regular expressions when first used: Python's took 110 ms,
# a visible freeze the first time a conversation with a Python block was opened).
COMMON_LANGUAGES = ("python", "bash", "javascript", "json")

_CODE_STYLE = "font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; white-space: pre-wrap;"


@dataclass(frozen=True)
class Rendered:
    html: str
    code_blocks: tuple[str, ...]


def stable_prefix(text: str, start: int = 0) -> int:
    """Where the finished blocks of a growing Markdown text end: after the last blank line
    outside a code fence. ``start`` is a previous answer (always outside a fence), so a
    streaming reply is scanned once, not once per repaint."""
    end = position = start
    in_fence = False
    while (newline := text.find("\n", position)) >= 0:
        line = text[position:newline].strip()
        if line.startswith(("```", "~~~")):
            in_fence = not in_fence
        elif not line and not in_fence:
            end = newline + 1
        position = newline + 1
    return end


class MarkdownRenderer:
    def __init__(self) -> None:
        self._md = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(
            ["table", "strikethrough"]
        )

        # markdown-it binds render rules to its renderer, so hand it a plain function.
        def fence(_renderer: Any, tokens: Any, idx: int, _options: Any, env: Any) -> str:
            return self._fence(tokens[idx], env)

        self._md.add_render_rule("fence", fence)
        self._md.add_render_rule("code_block", fence)
        self._formatter = HtmlFormatter(nowrap=True, noclasses=True, style="default")

    def warm_up(self) -> None:
        """Prepare the highlighters of COMMON_LANGUAGES (slow: run it on the task pool;
        Pygments keeps what it compiled on the lexer classes, so every renderer gains)."""
        for language in COMMON_LANGUAGES:
            self._highlight("x = 1\n", language)

    def render(self, text: str, *, first_code_block: int = 0) -> Rendered:
        """``first_code_block`` numbers the Copy links when ``text`` is the tail of a
        message whose earlier part has that many code blocks."""
        env: dict[str, Any] = {"code_blocks": [], "first": first_code_block}
        body = self._md.render(text, env).replace(
            "<table>", '<table border="1" cellspacing="0" cellpadding="4">'
        )
        return Rendered(f"<div>{body}</div>", tuple(env["code_blocks"]))

    def _fence(self, token: Any, env: dict[str, Any]) -> str:
        code: str = token.content
        language = (token.info or "").strip().split(" ")[0]
        blocks: list[str] = env["code_blocks"]
        index = env["first"] + len(blocks)
        blocks.append(code)
        body = self._highlight(code, language)
        label = html.escape(language) if language else "code"
        return (
            '<table width="100%" cellspacing="0" cellpadding="6" '
            'style="background-color: #f6f8fa; border: 1px solid #d0d7de; margin: 4px 0;">'
            f'<tr><td style="color: #57606a; font-size: small;">{label}'
            f'&nbsp;&nbsp;<a href="{COPY_SCHEME}{index}">Copy</a></td></tr>'
            f'<tr><td><pre style="{_CODE_STYLE}">{body}</pre></td></tr></table>'
        )

    def _highlight(self, code: str, language: str) -> str:
        if language:
            try:
                lexer = get_lexer_by_name(language)
            except ClassNotFound:
                lexer = None
            if lexer is not None:
                return str(highlight(code, lexer, self._formatter)).rstrip("\n")
        return html.escape(code.rstrip("\n"))
