"""What a question gets from the attached documents: hybrid search and the token budget.

``fuse`` merges the keyword (BM25) and vector lists by reciprocal rank fusion. ``retrieve``
decides between the two ways a prompt gets documents: the whole text of every attached
file when it all fits the budget (what "summarize this report" needs), else the best
passages that fit, neighbouring or overlapping chunks of one file merged into one
passage, duplicates dropped, best first (their order is their number, [1], [2], ...).
Vectors are used as far as they exist: with none yet for the model, retrieval is by
keyword only and says so in ``Retrieved.notes``.

Tokens are counted with the chat model's tokenizer (``count_tokens``); the chunks' stored
counts (the chunker's tokens, chunks overlapping) only decide quickly that the documents
cannot fit whole. Only the passages' text is counted: the prompt's own framing of them is
the caller's to leave room for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from desktopchat.core.documents.types import Anchor, Passage, Retrieved
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.storage.documents import DocumentStore

log = logging.getLogger(__name__)

RRF_K = 60
CANDIDATES = 50  # from each of the two searches
# The stored token counts are another tokenizer's and count the chunks' overlap: above
# this many times the budget the documents are not counted again, they cannot fit whole.
WHOLE_SLACK = 1.5
# Once the budget is nearly full, pack tries this many more passages that do not fit, then
# stops: each try counts a passage's tokens with the chat model (0.3 ms in this process,
# a round trip to the engine process in the window), and trying all 100 candidates was
# half of the time a question waited for its passages (35 of 75 ms).
MISFITS_TRIED = 8
_OVERLAP_SEARCH = 2000  # characters looked at for the overlap of two chunks without spans

CountTokens = Callable[[str], int]
EmbedQuery = Callable[[str], "list[float] | None"]


def fuse(keyword: Sequence[Passage], vector: Sequence[Passage], k: int = RRF_K) -> list[Passage]:
    """Reciprocal rank fusion: score = sum of 1 / (k + rank) over the lists a chunk is in
    (ranks from 1). Each passage keeps its rank and score in both lists; best first."""
    merged: dict[int, Passage] = {}
    for rank, p in enumerate(keyword, 1):
        if p.chunk_id not in merged:
            merged[p.chunk_id] = replace(
                p, keyword_rank=rank, keyword_score=p.keyword_score, vector_rank=None
            )
    for rank, p in enumerate(vector, 1):
        found = merged.get(p.chunk_id)
        if found is None:
            merged[p.chunk_id] = replace(p, vector_rank=rank, keyword_rank=None)
        elif found.vector_rank is None:
            merged[p.chunk_id] = replace(found, vector_rank=rank, vector_score=p.vector_score)
    fused = [
        replace(
            p,
            score=sum(1.0 / (k + r) for r in (p.keyword_rank, p.vector_rank) if r is not None),
        )
        for p in merged.values()
    ]
    fused.sort(
        key=lambda p: (
            -p.score,
            min(r for r in (p.keyword_rank, p.vector_rank) if r is not None),
            p.chunk_id,
        )
    )
    return fused


def retrieve(
    store: DocumentStore,
    embed_query: EmbedQuery | None,
    model_id: str | None,
    query: str,
    collection_ids: Sequence[int] | None,
    budget_tokens: int,
    count_tokens: CountTokens,
    *,
    file_ids: Sequence[int] | None = None,
    passages_budget: int | None = None,
    candidates: int = CANDIDATES,
) -> Retrieved:
    """The attached documents' whole text when it fits ``budget_tokens``, else the best
    passages within ``passages_budget`` (None: ``budget_tokens``; never more than it),
    hybrid where ``model_id`` has vectors, keyword only before. The documents are the
    files in ``collection_ids`` or among ``file_ids`` (None for both: every file)."""
    if budget_tokens <= 0:
        return Retrieved(
            (), False, budget_tokens, 0, notes=("No room in the context for documents.",)
        )
    whole = _whole(store, collection_ids, file_ids, budget_tokens, count_tokens)
    if whole is not None:
        return whole
    if passages_budget is not None:
        budget_tokens = max(0, min(budget_tokens, passages_budget))
    notes: list[str] = []
    keyword = store.keyword_search(query, collection_ids, candidates, file_ids=file_ids)
    vector: list[Passage] = []
    if embed_query is None or model_id is None:
        notes.append("Found by keyword only: no embedding model is in use.")
    else:
        counts = store.counts(model_id, collection_ids, file_ids)
        if counts.chunks_embedded == 0:
            notes.append("Found by keyword only: the embeddings are still being computed.")
        else:
            vector = _vector(
                store, embed_query, model_id, query, collection_ids, file_ids, candidates, notes
            )
            if vector and counts.chunks_embedded < counts.chunks_total:
                notes.append(
                    f"{counts.chunks_embedded} of {counts.chunks_total} passages have"
                    " embeddings so far; the others are found by keyword."
                )
    passages, used = pack(store, fuse(keyword, vector), budget_tokens, count_tokens)
    return Retrieved(tuple(passages), False, budget_tokens, used, notes=tuple(notes))


def _vector(
    store: DocumentStore,
    embed_query: EmbedQuery,
    model_id: str,
    query: str,
    collection_ids: Sequence[int] | None,
    file_ids: Sequence[int] | None,
    candidates: int,
    notes: list[str],
) -> list[Passage]:
    try:
        vector = embed_query(query) if query.strip() else None
    except DesktopChatError as exc:
        log.warning("the question could not be embedded: %s", exc)
        vector = None
    if vector is None:
        notes.append("Found by keyword only: the question could not be embedded.")
        return []
    try:
        return store.vector_search(model_id, vector, collection_ids, candidates, file_ids=file_ids)
    except ValueError as exc:  # the embedder now gives another dimension
        log.warning("vector search refused the question's vector: %s", exc)
        notes.append("Found by keyword only: the embedding model changed.")
        return []


def _whole(
    store: DocumentStore,
    collection_ids: Sequence[int] | None,
    file_ids: Sequence[int] | None,
    budget: int,
    count_tokens: CountTokens,
) -> Retrieved | None:
    """Every indexed file's whole text, one passage each, when together they fit."""
    if store.total_tokens(collection_ids, file_ids) > budget * WHOLE_SLACK:
        return None
    files = store.indexed_files(collection_ids, file_ids)
    passages: list[Passage] = []
    used = 0
    for f in files:
        text = store.file_text(f.id)
        ids = store.chunk_ids(f.id)
        if not text.strip() or not ids:
            continue
        used += count_tokens(text)
        if used > budget:
            return None
        passages.append(
            Passage(
                chunk_id=ids[0],
                file_id=f.id,
                collection_id=f.collection_id,
                path=f.path,
                anchor=Anchor(),
                text=text,
                score=1.0,
                start=0,
                end=len(text),
            )
        )
    if not passages:
        return None
    note = "The attached documents fit the context whole: their full text was sent."
    return Retrieved(tuple(passages), True, budget, used, notes=(note,))


@dataclass
class _Piece:
    """A passage being assembled: one chunk, or neighbouring chunks of one file."""

    best: Passage  # the chunk that was found (its score and ranks)
    first: Passage  # the earliest chunk in it (its id and anchor lead)
    text: str
    start: int
    end: int
    tokens: int
    ordinals: set[int] = field(default_factory=set)
    spans: bool = True  # start/end are real spans into the file's text
    pages: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def passage(self) -> Passage:
        a = self.first.anchor
        anchor = Anchor(
            page=min(self.pages) if self.pages else None,
            headings=a.headings,
            line_start=min(self.lines) if self.lines else None,
            line_end=max(self.lines) if self.lines else None,
        )
        return replace(
            self.best,
            chunk_id=self.first.chunk_id,
            ordinal=self.first.ordinal,
            anchor=anchor,
            text=self.text,
            start=self.start,
            end=self.end,
        )


def pack(
    store: DocumentStore, fused: Sequence[Passage], budget: int, count_tokens: CountTokens
) -> tuple[list[Passage], int]:
    """The best passages that fit ``budget`` tokens, best first: a chunk that overlaps or
    neighbours one already taken from its file is merged into it, the same text found
    twice (a file in two collections) is taken once. After MISFITS_TRIED passages that
    did not fit, the rest are not tried. Returns them and the tokens used."""
    pieces: list[_Piece] = []
    seen: set[str] = set()
    texts: dict[int, str] = {}
    used = 0
    misfits = 0
    for p in fused:
        if used >= budget or misfits >= MISFITS_TRIED:
            break
        key = " ".join(p.text.split())
        if not key or key in seen:
            continue
        fresh = _piece(p, texts, store)
        target = next((q for q in pieces if _touches(q, fresh)), None)
        if target is None:
            fresh.tokens = count_tokens(fresh.text)
            if used + fresh.tokens > budget:
                misfits += 1
                continue
            pieces.append(fresh)
            used += fresh.tokens
        else:
            joined = _join(target, fresh, texts)
            joined.tokens = count_tokens(joined.text)
            others = [q for q in pieces if q is not target and _touches(q, joined)]
            for other in others:  # the merged piece may now reach another one
                joined = _join(joined, other, texts)
            if others:
                joined.tokens = count_tokens(joined.text)
            before = target.tokens + sum(o.tokens for o in others)
            if used - before + joined.tokens > budget:
                misfits += 1
                continue
            used += joined.tokens - before
            pieces[pieces.index(target)] = joined
            for other in others:
                pieces.remove(other)
        seen.add(key)
    return [q.passage() for q in pieces], used


def _piece(p: Passage, texts: dict[int, str], store: DocumentStore) -> _Piece:
    if p.file_id not in texts:
        texts[p.file_id] = store.file_text(p.file_id)
    whole = texts[p.file_id]
    spans = p.end > p.start and whole[p.start : p.end] == p.text
    anchor = p.anchor
    lines = [n for n in (anchor.line_start, anchor.line_end) if n is not None]
    return _Piece(
        best=p,
        first=p,
        text=p.text,
        start=p.start,
        end=p.end,
        tokens=0,
        ordinals={p.ordinal},
        spans=spans,
        pages=[anchor.page] if anchor.page is not None else [],
        lines=lines,
    )


def _touches(a: _Piece, b: _Piece) -> bool:
    if a.best.file_id != b.best.file_id:
        return False
    if a.spans and b.spans and b.start <= a.end and b.end >= a.start:
        return True
    return any(abs(x - y) <= 1 for x in a.ordinals for y in b.ordinals)


def _join(a: _Piece, b: _Piece, texts: dict[int, str]) -> _Piece:
    """One piece of both (``a`` ranks first: it keeps the score and ranks)."""
    early, late = (a, b) if (min(a.ordinals), a.start) <= (min(b.ordinals), b.start) else (b, a)
    if a.spans and b.spans:
        start, end = min(a.start, b.start), max(a.end, b.end)
        text = texts[a.best.file_id][start:end]
    else:
        start, end = min(a.start, b.start), max(a.end, b.end)
        text = _concatenate(early.text, late.text)
    return _Piece(
        best=a.best,
        first=early.first,
        text=text,
        start=start,
        end=end,
        tokens=0,
        ordinals=a.ordinals | b.ordinals,
        spans=a.spans and b.spans,
        pages=a.pages + b.pages,
        lines=a.lines + b.lines,
    )


def _concatenate(first: str, second: str) -> str:
    """``first`` then ``second`` without the text they share (chunks overlap)."""
    if second in first:
        return first
    if first in second:
        return second
    longest = min(len(first), len(second), _OVERLAP_SEARCH)
    for n in range(longest, 0, -1):
        if first.endswith(second[:n]):
            return first + second[n:]
    return first + "\n\n" + second
