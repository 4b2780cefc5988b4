"""The attached documents in a reply's prompt: the share of the context they get, the
numbered passages ([1], [2], ...) with their file and place, and the instruction to cite them.

The passages go into the *last* user turn, before the question, and never into the system
prompt or older turns: the history before them stays exactly as it was rendered for the
previous reply (and as ``ChatService.prepare_next_turn`` evaluated it), so llama.cpp's
prefix cache reuses all of it and evaluates only the passages and the question. Stored
messages keep the user's own words; the passages live in the reply's prompt record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from desktopchat.core.chat import DocumentsMode, Overflow, SourcePassage
from desktopchat.core.documents.types import Passage, Retrieved

# The most of the context that retrieved passages take (whole texts are not held to it):
# a long free context is not filled with ever weaker passages, slow to evaluate on a CPU.
PASSAGES_SHARE = 0.25
# ...but never less than this many tokens: a small context (2,048 and below) keeps all it
# can give them (a quarter of 256 tokens would not hold one passage and the instruction).
PASSAGES_MIN_TOKENS = 512
# Tokens kept aside for the instruction, the question's label and the template's markers.
INSTRUCTION_TOKENS = 96
# Tokens of one passage's header ("[3] manual.pdf (page 4 · Setup)") and its blank lines,
# added to each count the library makes so the budget holds once the headers are in.
HEADER_TOKENS = 24

PASSAGES_INSTRUCTION = (
    "Answer the question at the end using the numbered passages from the user's documents "
    "below. Cite each passage you use by its number in square brackets, like [1] or [2][3]. "
    "If the passages do not contain the answer, say so."
)
WHOLE_INSTRUCTION = (
    "The user's documents are below in full, in numbered parts. Answer the question at the "
    "end from them, and cite each part you use by its number in square brackets, like [1] or "
    "[2][3]."
)
EMPTY_INSTRUCTION = (
    "Nothing in the user's attached documents matched this question. Answer it, and say that "
    "the documents had nothing on it."
)
QUESTION_LABEL = "Question:"


def documents_budget(
    *,
    n_ctx: int,
    reserve: int,
    fixed_tokens: int,
    prompt_tokens: int,
    overflow: str,
) -> int:
    """Tokens the attached documents may take in the prompt (their instruction included:
    the passages get ``passages_budget`` of it).

    ``fixed_tokens``: the prompt with only the system prompt, examples, summary and the new
    message (no history); ``prompt_tokens``: the prompt with the history that fits.
    What is free after the fixed part and the reply's reserve is shared: the documents get
    at least half of it, and all that the history leaves unused; older turns beyond the
    other half are left out (or summarized) as the chat's overflow policy says. With the
    "stop" policy the history is never cut for documents: they get only what it leaves.

    This is the budget of the whole texts (all of it: "summarize this report" needs it).
    Passages, when the documents do not fit whole, get at most ``passages_cap`` of it:
    PASSAGES_SHARE (a quarter) of ``n_ctx``, or PASSAGES_MIN_TOKENS in a small context.
    """
    free_total = n_ctx - reserve - fixed_tokens
    free_after_history = n_ctx - reserve - prompt_tokens
    if overflow == Overflow.STOP.value:
        return max(0, free_after_history)
    return max(0, free_after_history, free_total // 2)


def passages_budget(budget: int) -> int:
    """Of the documents' budget, what the passages (with their headers) may take."""
    return max(0, budget - INSTRUCTION_TOKENS)


def passages_cap(budget: int, n_ctx: int) -> int:
    """The documents' budget when they go in as passages: ``budget`` held to
    PASSAGES_SHARE of the context (never below PASSAGES_MIN_TOKENS)."""
    return max(0, min(budget, max(int(n_ctx * PASSAGES_SHARE), PASSAGES_MIN_TOKENS)))


def sources_from(
    retrieved: Retrieved, counted: Mapping[str, int] | None = None
) -> tuple[SourcePassage, ...]:
    """The retrieved passages, numbered from 1 in the order they go into the prompt (with
    their token counts when ``counted`` has them: text -> tokens, as counted for the budget)."""
    counts = counted or {}
    return tuple(
        source_of(number, p, counts.get(p.text, 0))
        for number, p in enumerate(retrieved.passages, start=1)
    )


def source_of(number: int, passage: Passage, tokens: int = 0) -> SourcePassage:
    anchor = passage.anchor
    return SourcePassage(
        number=number,
        chunk_id=passage.chunk_id,
        file_id=passage.file_id,
        collection_id=passage.collection_id,
        path=str(passage.path),
        anchor=anchor.describe(),
        page=anchor.page,
        headings=anchor.headings,
        line_start=anchor.line_start,
        line_end=anchor.line_end,
        score=passage.score,
        keyword_rank=passage.keyword_rank,
        vector_rank=passage.vector_rank,
        keyword_score=passage.keyword_score,
        vector_score=passage.vector_score,
        text=passage.text,
        tokens=tokens,
    )


def source_header(source: SourcePassage) -> str:
    """``[3] manual.pdf (page 4 · Setup)``: how a passage is named in the prompt."""
    place = f" ({source.anchor})" if source.anchor else ""
    return f"[{source.number}] {source.name}{place}"


def documents_message(question: str, sources: Sequence[SourcePassage], mode: str) -> str:
    """The last user turn: the instruction, the numbered passages, then the question."""
    if mode == DocumentsMode.NONE.value or not sources:
        return f"{EMPTY_INSTRUCTION}\n\n{QUESTION_LABEL} {question}"
    instruction = WHOLE_INSTRUCTION if mode == DocumentsMode.WHOLE.value else PASSAGES_INSTRUCTION
    parts = [instruction]
    parts += [f"{source_header(s)}\n{s.text.strip()}" for s in sources]
    parts.append(f"{QUESTION_LABEL} {question}")
    return "\n\n".join(parts)
