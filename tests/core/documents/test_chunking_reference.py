"""The chunker gives exactly the chunks (text, span, anchor, tokens, ordinal) of its frozen
reference (chunking_reference.py, the implementation before it was made faster), on
generated documents of every block kind and script, on real files read by the real
parsers (the AWS CLI's .rst documentation that the venv ships, generated prose, Markdown,
code, CSV), with several budgets, overlaps and counters."""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.prose import Prose
from desktopchat.core.documents.chunking import approx_tokens, chunk
from desktopchat.core.documents.parsers import extract
from desktopchat.core.documents.types import Extracted
from tests.core.documents import chunking_reference as reference
from tests.core.documents.files import write_csv, write_text
from tests.core.documents.test_chunking import SENTENCES, documents

SETTINGS = ((256, 32), (64, 16), (24, 0), (512, 128), (16, 8))


def words_plus_two(text: str) -> int:
    """A counter that is not the default (and not additive over pieces cut in words)."""
    return len(text.split()) + 2


def same(extracted: Extracted, budget: int, overlap: int, count: Callable[[str], int]) -> None:
    ours = chunk(extracted, budget_tokens=budget, overlap_tokens=overlap, count_tokens=count)
    # each with its own default counter (the chunker knows its own by identity)
    their_count = reference.approx_tokens if count is approx_tokens else count
    theirs = reference.chunk(
        extracted, budget_tokens=budget, overlap_tokens=overlap, count_tokens=their_count
    )
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a == b


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.integers(8, 160), st.integers(0, 60), st.booleans())
def test_generated_documents_give_the_reference_chunks(
    extracted: Extracted, budget: int, overlap: int, other_counter: bool
) -> None:
    same(extracted, budget, overlap, words_plus_two if other_counter else approx_tokens)


def awscli_files(count: int, seed: int) -> list[Path]:
    spec = importlib.util.find_spec("awscli")
    assert spec is not None and spec.origin is not None
    examples = Path(spec.origin).parent / "examples"
    files = sorted(examples.rglob("*.rst"))
    return random.Random(seed).sample(files, min(count, len(files)))


@pytest.mark.parametrize(("budget", "overlap"), SETTINGS)
def test_real_documentation_gives_the_reference_chunks(budget: int, overlap: int) -> None:
    for path in awscli_files(40, seed=budget):
        same(extract(path), budget, overlap, approx_tokens)


def test_prose_markdown_code_csv_and_other_scripts_give_the_reference_chunks(
    tmp_path: Path,
) -> None:
    prose = Prose(3, sentences=2_000)
    rng = random.Random(7)
    files = [
        write_text(tmp_path / "prose.txt", prose.text(100_000)),
        write_text(tmp_path / "one-block.txt", prose.text(60_000).replace("\n\n", " ")),
        write_text(
            tmp_path / "notes.md",
            "\n\n".join(
                f"{'#' * rng.randint(1, 4)} Part {i}\n\n{prose.text(rng.randint(50, 3_000))}"
                for i in range(40)
            ),
        ),
        write_text(
            tmp_path / "code.py",
            "\n\n".join(
                f"def f{i}(x):\n" + "".join(f"    x = x * {j} + {i}\n" for j in range(i % 50))
                for i in range(120)
            ),
        ),
        write_csv(
            tmp_path / "table.csv",
            [["name", "value", "note"]]
            + [[f"row {i}", str(i * 37), prose.paragraph()[:80]] for i in range(600)],
        ),
        write_text(
            tmp_path / "scripts.txt",
            "\n\n".join(
                " ".join(rng.choice(list(SENTENCES.values())) for _ in range(rng.randint(1, 60)))
                for _ in range(80)
            ),
        ),
        write_text(
            tmp_path / "unspaced.txt",
            SENTENCES["ja"] * 300 + "\n\n" + SENTENCES["th"] * 300 + "\n\n" + "x" * 20_000,
        ),
    ]
    for path in files:
        extracted = extract(path)
        for budget, overlap in SETTINGS:
            same(extracted, budget, overlap, approx_tokens)
        same(extracted, 128, 32, words_plus_two)


PIECES = [
    "internationalization", "antidisestablishment", "word", "seven77", "abcdefg", "abcdefgh",
    "abcdefghi", "_", "__init__", "1", "12", "123", "1234567890", "１２３", "๑๒๓", "3.14",
    "東京", "。", "ภาษา", "서울은", "Москва", "Ωμέγα", "é", "naïve", "\x1c", "\x1f", "\t",
    "\u3000", "\u00a0", " ", "\n", "!?", "“quoted”", "a_b", "x2y", "٣٤٥", "ﾃｽﾄ",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=12)), max_size=60),
    st.sampled_from(["", " ", "\n"]),
)
def test_the_default_counter_counts_as_the_reference(parts: list[str], glue: str) -> None:
    text = glue.join(parts)
    assert approx_tokens(text) == reference.approx_tokens(text)
    assert approx_tokens(text.encode("ascii", "ignore").decode()) == reference.approx_tokens(
        text.encode("ascii", "ignore").decode()
    )


ASCII_PIECES = [p for p in PIECES if p.isascii()] + ["a", "Zz", "1a2b3c", "99999999999", "--"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(ASCII_PIECES),
            st.text(st.characters(max_codepoint=127), max_size=12),
        ),
        max_size=80,
    ),
    st.sampled_from(["", " ", "\n", "."]),
    st.data(),
)
def test_ascii_spans_count_as_the_default_counter(
    parts: list[str], glue: str, data: st.DataObject
) -> None:
    """The chunker's prefix sums give approx_tokens of every span of an ASCII text."""
    from desktopchat.core.documents.chunking import _AsciiSpans

    text = glue.join(parts)
    spans = _AsciiSpans(text)
    for _ in range(20):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, len(text)))
        assert spans(start, end) == reference.approx_tokens(text[start:end])
