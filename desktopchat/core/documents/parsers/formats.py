"""Which files each parser adapter reads, by suffix (and a few names): a table with no
imports, so that telling whether a file is read costs nothing and the adapters (and the
libraries behind them) are imported only when a file of their format is read."""

from __future__ import annotations

PDF_SUFFIXES = frozenset({".pdf"})
WORD_SUFFIXES = frozenset({".docx", ".docm", ".dotx"})
WEB_SUFFIXES = frozenset({".html", ".htm", ".xhtml", ".shtml", ".mht"})
OPENDOCUMENT_SUFFIXES = frozenset({".odt", ".ott"})
SLIDES_SUFFIXES = frozenset({".pptx", ".pptm", ".ppsx"})
SHEETS_SUFFIXES = frozenset({".xlsx", ".xlsm"})
EPUB_SUFFIXES = frozenset({".epub"})

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdown", ".mkd", ".mdx"})
TABLE_SUFFIXES = frozenset({".csv", ".tsv", ".tab"})
CODE_SUFFIXES = frozenset(
    {
        ".py", ".pyi", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".java", ".c", ".h",
        ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx", ".go", ".rs", ".rb", ".php", ".cs",
        ".swift", ".kt", ".kts", ".scala", ".sh", ".bash", ".zsh", ".fish", ".ps1", ".sql",
        ".lua", ".pl", ".pm", ".r", ".m", ".mm", ".dart", ".ex", ".exs", ".erl", ".hs",
        ".clj", ".el", ".vim", ".zig", ".nim", ".jl", ".groovy", ".gradle", ".cmake",
        ".css", ".scss", ".less", ".vue", ".svelte",
    }
)  # fmt: skip
PLAIN_SUFFIXES = frozenset(
    {
        ".txt", ".text", ".log", ".rst", ".adoc", ".asciidoc", ".org", ".tex", ".bib",
        ".json", ".jsonl", ".ndjson", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf",
        ".properties", ".env", ".xml", ".svg", ".srt", ".vtt", ".diff", ".patch",
    }
)  # fmt: skip
TEXT_SUFFIXES = MARKDOWN_SUFFIXES | TABLE_SUFFIXES | CODE_SUFFIXES | PLAIN_SUFFIXES
# Files read as text by their name alone.
PLAIN_NAMES = frozenset(
    {
        "readme", "license", "licence", "copying", "authors", "changelog", "changes",
        "news", "notice", "todo", "install", "makefile", "dockerfile", "containerfile",
        "gemfile", "rakefile", "procfile", "vagrantfile", "justfile",
    }
)  # fmt: skip

# adapter module (in this package) -> the suffixes it reads
ADAPTERS: dict[str, frozenset[str]] = {
    "pdf": PDF_SUFFIXES,
    "word": WORD_SUFFIXES,
    "web": WEB_SUFFIXES,
    "text": TEXT_SUFFIXES,
    "opendocument": OPENDOCUMENT_SUFFIXES,
    "slides": SLIDES_SUFFIXES,
    "sheets": SHEETS_SUFFIXES,
    "epub": EPUB_SUFFIXES,
}
