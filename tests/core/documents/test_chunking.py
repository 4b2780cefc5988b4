"""The chunker: spans in the text that cover all of it in order, structure as boundaries,
the budget by any counter, overlap within a section, anchors, and the default budget
checked against all-MiniLM-L6-v2's real WordPiece tokenizer."""

from __future__ import annotations

import ast
import itertools
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktopchat.core.documents.chunking import approx_tokens, chunk
from desktopchat.core.documents.parsers import extract
from desktopchat.core.documents.types import Anchor, Block, BlockKind, ChunkText, Extracted
from tests.core.documents.files import H, write_csv, write_markdown, write_pdf, write_text

SENTENCES = {
    "en": "The quick brown fox jumps over the lazy dog near the riverbank.",
    "ja": "東京は日本の首都であり、世界で最も人口の多い都市圏の一つです。",
    "zh": "北京是中华人民共和国的首都，也是全国的政治和文化中心。",
    "ko": "서울은 대한민국의 수도이며 정치, 경제, 문화의 중심지입니다.",
    "ru": "Москва является столицей Российской Федерации и крупнейшим городом страны.",
    "th": "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
}


def spans_hold(
    extracted: Extracted,
    chunks: list[ChunkText],
    budget: int,
    count: Callable[[str], int] = approx_tokens,
) -> None:
    """The invariants every chunking keeps."""
    text = extracted.text
    covered = bytearray(len(text))
    previous_start = previous_end = -1
    for ordinal, piece in enumerate(chunks):
        assert piece.ordinal == ordinal
        assert 0 <= piece.start < piece.end <= len(text)
        span = text[piece.start : piece.end]
        assert span == span.strip()
        assert piece.text.endswith(span)
        assert count(piece.text) <= piece.tokens <= budget  # the default counter: its sum
        assert piece.start >= previous_start and piece.end > previous_end
        previous_start, previous_end = piece.start, piece.end
        covered[piece.start : piece.end] = b"\x01" * (piece.end - piece.start)
    missing = [i for i, ch in enumerate(text) if not covered[i] and not ch.isspace()]
    assert not missing, f"not in any chunk: {text[missing[0] : missing[0] + 20]!r}"


def placed(extracted: Extracted) -> list[tuple[int, int, Block]]:
    out = []
    offset = 0
    for block in extracted.blocks:
        if block.text:
            out.append((offset, offset + len(block.text), block))
            offset += len(block.text) + 2
    return out


def blocks_in(extracted: Extracted, piece: ChunkText) -> list[tuple[int, Block]]:
    return [(s, b) for s, e, b in placed(extracted) if s < piece.end and e > piece.start]


@st.composite
def documents(draw: st.DrawFn) -> Extracted:
    words = st.sampled_from(
        [
            "alpha",
            "beta",
            "gamma.",
            "delta!",
            "日本語。",
            "中文，",
            "ภาษาไทย",
            "Ωμέγα",
            "x = 1",
            "internationalization",
            "1234567",
            "\t",
            "end?",
        ]
    )
    blocks: list[Block] = []
    path: list[str] = []
    page = 1
    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(list(BlockKind)))
        if kind is BlockKind.PAGE_BREAK:
            page += 1
            blocks.append(Block(kind, "", Anchor(page=page)))
            continue
        if kind is BlockKind.HEADING:
            level = draw(st.integers(1, min(3, len(path) + 1)))
            path = [*path[: level - 1], f"Heading {len(blocks)}"]
            blocks.append(Block(kind, path[-1], Anchor(page=page, headings=tuple(path)), level))
            continue
        lines = [
            " ".join(draw(st.lists(words, min_size=1, max_size=30)))
            for _ in range(draw(st.integers(1, 12)))
        ]
        blocks.append(Block(kind, "\n".join(lines), Anchor(page=page, headings=tuple(path))))
    return Extracted(blocks=tuple(blocks))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.integers(12, 120), st.integers(0, 40))
def test_chunks_cover_the_text_in_order_and_keep_to_the_structure(
    extracted: Extracted, budget: int, overlap: int
) -> None:
    chunks = chunk(extracted, budget_tokens=budget, overlap_tokens=overlap)
    spans_hold(extracted, chunks, budget)
    for piece in chunks:
        inside = blocks_in(extracted, piece)
        _, first = inside[0]
        assert {b.anchor.page for _, b in inside} == {piece.anchor.page}  # never across pages
        assert piece.anchor.headings == first.anchor.headings
        section = len(first.anchor.headings)
        for _, block in inside[1:]:
            if block.kind is BlockKind.HEADING:  # only a subsection may join a chunk
                assert first.anchor.headings and block.level > section


def test_pdf_pages_are_chunk_boundaries(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "a.pdf", ["Short page one.", "Short page two.", "Page three."])
    chunks = chunk(extract(path))
    assert [(c.text, c.anchor.page) for c in chunks] == [
        ("Short page one.", 1),
        ("Short page two.", 2),
        ("Page three.", 3),
    ]


def test_sections_and_their_subsections(tmp_path: Path) -> None:
    path = write_markdown(
        tmp_path / "a.md",
        ["Preamble.", H(1, "Install"), "Get it.", H(2, "Linux"), "apt.", H(1, "Use"), "Run."],
    )
    extracted = extract(path)
    chunks = chunk(extracted)
    assert [
        (c.text, c.anchor.headings, c.anchor.line_start, c.anchor.line_end) for c in chunks
    ] == [
        ("Preamble.", (), 1, 1),
        ("Install\n\nGet it.\n\nLinux\n\napt.", ("Install",), 3, 9),
        ("Use\n\nRun.", ("Use",), 11, 13),
    ]


def test_long_prose_is_cut_at_sentence_ends_with_overlap(tmp_path: Path) -> None:
    sentences = [f"Sentence number {i} says something about topic {i % 7}." for i in range(80)]
    extracted = extract(write_text(tmp_path / "a.txt", " ".join(sentences)))
    chunks = chunk(extracted, budget_tokens=64, overlap_tokens=16)
    spans_hold(extracted, chunks, 64)
    assert len(chunks) > 5
    for before, after in itertools.pairwise(chunks):
        assert before.text.endswith(".")  # cut at a sentence end...
        assert after.start < before.end  # ...and the next one starts with its tail
        assert approx_tokens(extracted.text[after.start : before.end]) - 2 <= 16
        assert extracted.text[after.start - 1].isspace()  # at a word boundary


@pytest.mark.parametrize("language", ["ja", "zh", "th"])
def test_text_without_spaces_is_cut_at_its_sentence_ends(tmp_path: Path, language: str) -> None:
    sentence = SENTENCES[language]
    joiner = " " if language == "th" else ""
    extracted = extract(write_text(tmp_path / "a.txt", joiner.join([sentence] * 40)))
    chunks = chunk(extracted, budget_tokens=100, overlap_tokens=0)
    spans_hold(extracted, chunks, 100)
    assert len(chunks) > 3
    for piece in chunks:
        assert piece.text.startswith(sentence[:3]) and piece.text.endswith(sentence[-3:])


def test_code_is_cut_at_lines_with_line_ranges(tmp_path: Path) -> None:
    body = "\n".join(f"    value_{i} = compute(value_{i - 1}, {i})" for i in range(1, 120))
    source = f"import math\n\n\ndef long_function():\n{body}\n    return value_119\n"
    path = write_text(tmp_path / "long.py", source)
    extracted = extract(path)
    chunks = chunk(extracted, budget_tokens=80, overlap_tokens=20)
    spans_hold(extracted, chunks, 80)
    lines = source.split("\n")
    for piece in chunks:
        assert piece.anchor.line_start is not None and piece.anchor.line_end is not None
        span = extracted.text[piece.start : piece.end].split("\n")
        assert lines[piece.anchor.line_start - 1].strip() == span[0].strip()
        assert lines[piece.anchor.line_end - 1].strip() == span[-1].strip()
        assert lines[piece.anchor.line_start - 1].endswith(span[0])  # whole lines
    assert chunks[0].anchor.line_start == 1
    assert chunks[-1].anchor.line_end == len(lines) - 1


def test_tables_are_cut_at_rows_and_repeat_their_header(tmp_path: Path) -> None:
    rows = [["id", "name", "city"]] + [[str(i), f"person {i}", "Springfield"] for i in range(200)]
    extracted = extract(write_csv(tmp_path / "people.csv", rows))
    chunks = chunk(extracted, budget_tokens=60)
    spans_hold(extracted, chunks, 60)
    assert len(chunks) > 5
    for piece in chunks:
        lines = piece.text.split("\n")
        assert lines[0] == "id | name | city"
        assert all(line.count(" | ") == 2 for line in lines)  # whole rows
        first_row = int(lines[1].split(" | ")[0]) if len(lines) > 1 else -1
        if piece.ordinal:
            assert piece.anchor.line_start == first_row + 2  # the file's line of that row
    last = chunks[-1]
    assert last.anchor.line_end == 201


def test_a_counter_that_is_not_additive_is_still_kept(tmp_path: Path) -> None:
    def lumpy(text: str) -> int:
        return len(text) // 3 + 10 + text.count("\n\n") * 5

    extracted = extract(
        write_markdown(tmp_path / "a.md", [f"Paragraph {i} text." for i in range(60)])
    )
    chunks = chunk(extracted, budget_tokens=60, count_tokens=lumpy)
    spans_hold(extracted, chunks, 60, lumpy)


def test_budget_is_checked() -> None:
    with pytest.raises(ValueError, match="at least 8"):
        chunk(Extracted(blocks=()), budget_tokens=4)
    assert chunk(Extracted(blocks=())) == []


def english_corpus() -> str:
    """Real English prose: the standard library's long docstrings."""
    texts = []
    folder = Path(os.__file__).parent
    for module in sorted(folder.glob("*.py"))[:50]:
        try:
            tree = ast.parse(module.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Module):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 300:
                    texts.append(doc)
    return "\n\n".join(texts)


@pytest.fixture(scope="module")
def wordpiece() -> Callable[[str], int]:
    """all-MiniLM-L6-v2's own tokenizer (from the installed embeddings package)."""
    from tokenizers import Tokenizer

    from desktopchat.core.documents.default_embedder import (
        EmbedderUnavailableError,
        tokenizer_path,
    )

    try:
        path = tokenizer_path()
    except EmbedderUnavailableError as error:
        pytest.skip(f"the embedder's tokenizer is not installed: {error}")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return lambda text: len(tokenizer.encode(text).ids)  # [CLS] and [SEP] included


@pytest.mark.parametrize("language", ["en", "code", "numbers", "ja", "zh", "ko", "ru"])
def test_the_default_budget_fits_the_embedders_window(
    tmp_path: Path, wordpiece: Callable[[str], int], language: str
) -> None:
    if language == "en":
        text = english_corpus()
    elif language == "code":
        text = Path(ast.__file__).read_text(encoding="utf-8")
    elif language == "numbers":
        text = "\n".join(
            f"{i}, {i * 7919 % 100003}, {i * 3.14159:.5f}, 0x{i * 2654435761:x}"
            for i in range(3000)
        )
    else:
        text = "\n\n".join(
            (SENTENCES[language] + (" " if language in ("ko", "ru") else "")) * (5 + i % 7)
            for i in range(60)
        )
    suffix = {"code": ".py", "numbers": ".csv", "en": ".md"}.get(language, ".txt")
    extracted = extract(write_text(tmp_path / f"sample{suffix}", text))
    chunks = chunk(extracted)  # the default budget (256) and counter
    assert len(chunks) > 10
    real = [wordpiece(piece.text) for piece in chunks]
    assert max(real) <= 256, f"a chunk of {max(real)} real tokens"
    # ... and with the real counter, the real budget is met exactly
    exact = chunk(extracted, count_tokens=wordpiece)
    spans_hold(extracted, exact, 256, wordpiece)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("abcdefghij0123456789_.,;日本語한국어ภาษาΩμé |\n"))),
    st.text(alphabet=st.sampled_from(list("klmnopqrst9876543210-!?中文Привет \t"))),
)
def test_the_default_count_of_a_whole_is_never_more_than_of_its_parts(a: str, b: str) -> None:
    # what lets the chunker sum its parts instead of counting a chunk again
    assert approx_tokens(a + " " + b) <= approx_tokens(a) + approx_tokens(b) - approx_tokens("")
    assert approx_tokens(a) >= approx_tokens("") == 2
