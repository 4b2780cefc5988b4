"""Retrieval over a real documents database: rank fusion, the whole text when it fits,
else the best passages within the budget (neighbours merged, duplicates dropped),
keyword only until vectors exist; and once with the real built-in embedder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from desktopchat.core.documents.retrieval import RRF_K, fuse, pack, retrieve
from desktopchat.core.documents.types import Anchor, ChunkText, Embedder, Passage
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.storage.documents import DocumentStore


def words(text: str) -> int:
    """The tests' tokenizer: one token a word (retrieve counts with whatever it is given)."""
    return len(text.split())


def overlapping(text: str, size: int, step: int) -> list[ChunkText]:
    """Chunks of ``size`` characters every ``step`` (they overlap by size - step)."""
    out = []
    for n, at in enumerate(range(0, max(1, len(text) - (size - step)), step)):
        piece = text[at : at + size]
        out.append(
            ChunkText(
                n,
                piece,
                Anchor(page=n // 2 + 1, line_start=n + 1, line_end=n + 1),
                words(piece),
                at,
                at + len(piece),
            )
        )
    return out


def add(
    store: DocumentStore, collection_id: int, name: str, text: str, size: int = 400, step: int = 400
) -> int:
    f = store.upsert_file(collection_id, Path("/docs") / name, len(text), 1)
    store.replace_file_content(
        f.id, sha256=name, format="text", text=text, chunks=overlapping(text, size, step)
    )
    return f.id


def passage(chunk_id: int, file_id: int = 1, text: str = "t") -> Passage:
    return Passage(chunk_id, file_id, 1, Path("/f"), Anchor(), text, 0.0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    s = DocumentStore.open(tmp_path / "documents.sqlite3")
    yield s
    s.close()


FILLER = " ".join(
    f"Section {i} describes the general operation of machine number {i} in the plant."
    for i in range(300)
)


def test_fusion_keeps_both_ranks_and_scores() -> None:
    keyword = [
        Passage(1, 1, 1, Path("/a"), Anchor(), "a", 5.0, keyword_score=-5.0),
        Passage(2, 1, 1, Path("/a"), Anchor(), "b", 4.0, keyword_score=-4.0),
        Passage(3, 1, 1, Path("/a"), Anchor(), "c", 3.0, keyword_score=-3.0),
    ]
    vector = [
        Passage(3, 1, 1, Path("/a"), Anchor(), "c", 0.9, vector_score=0.9),
        Passage(4, 1, 1, Path("/a"), Anchor(), "d", 0.8, vector_score=0.8),
    ]
    fused = fuse(keyword, vector)
    assert [p.chunk_id for p in fused] == [3, 1, 2, 4]  # 2 and 4 tie: both ranked 2nd
    top = fused[0]
    assert (top.keyword_rank, top.vector_rank) == (3, 1)
    assert (top.keyword_score, top.vector_score) == (-3.0, 0.9)
    assert top.score == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert fused[1].score == pytest.approx(1 / (RRF_K + 1))
    assert (fused[1].keyword_rank, fused[1].vector_rank) == (1, None)
    assert (fused[3].keyword_rank, fused[3].vector_rank) == (None, 2)
    assert fuse([], []) == []
    assert [p.chunk_id for p in fuse([], vector)] == [3, 4]


def test_whole_text_when_everything_fits(store: DocumentStore) -> None:
    c = store.create_collection("Report")
    one = add(store, c.id, "a.txt", "The quarterly report shows growth. " * 20)
    two = add(store, c.id, "b.txt", "Appendix with the tables. " * 10)
    other = store.create_collection("Other")
    add(store, other.id, "c.txt", "Not attached. " * 500)
    got = retrieve(store, None, None, "summarize this report", [c.id], 1000, words)
    assert got.whole
    assert [p.file_id for p in got.passages] == [one, two]
    assert got.passages[0].text == store.file_text(one)
    assert (got.passages[0].start, got.passages[0].end) == (0, len(store.file_text(one)))
    assert got.used_tokens == words(store.file_text(one)) + words(store.file_text(two))
    assert got.notes and "whole" in got.notes[0]
    # one token short: passages instead
    short = retrieve(store, None, None, "quarterly growth", [c.id], got.used_tokens - 1, words)
    assert not short.whole and short.passages
    assert short.used_tokens <= got.used_tokens - 1


def test_best_passages_within_the_budget(store: DocumentStore) -> None:
    c = store.create_collection("Manuals")
    text = (
        FILLER[:8000]
        + " The warranty period lasts twenty-four months from the date of purchase. "
        + FILLER[8000:16000]
    )
    target = add(store, c.id, "manual.txt", text)
    add(store, c.id, "other.txt", FILLER[16000:])
    got = retrieve(store, None, None, "How long is the warranty period?", [c.id], 200, words)
    assert not got.whole
    assert got.used_tokens <= 200
    assert got.used_tokens == sum(words(p.text) for p in got.passages)
    assert got.passages[0].file_id == target and "warranty period" in got.passages[0].text
    assert any("keyword only" in n for n in got.notes)
    scores = [p.score for p in got.passages]
    assert scores == sorted(scores, reverse=True)
    # nothing fits: nothing is sent
    assert retrieve(store, None, None, "warranty", [c.id], 3, words).passages == ()
    assert retrieve(store, None, None, "warranty", [c.id], 0, words).passages == ()


def test_neighbouring_chunks_merge_and_overlap_is_not_repeated(store: DocumentStore) -> None:
    c = store.create_collection("Story")
    sentences = [f"Sentence {i} tells of the lighthouse and its keeper." for i in range(40)]
    text = " ".join(sentences)
    file_id = add(store, c.id, "story.txt", text, size=300, step=200)  # 100 shared
    chunks = store.chunks_of_file(file_id)
    hits = [
        replace_score(chunks[3], 0.9),
        replace_score(chunks[4], 0.8),
        replace_score(chunks[9], 0.7),
        replace_score(chunks[3], 0.6),
    ]
    packed, used = pack(store, hits, 10_000, words)
    assert len(packed) == 2
    merged = packed[0]
    assert (merged.start, merged.end) == (chunks[3].start, chunks[4].end)
    assert merged.text == text[chunks[3].start : chunks[4].end]  # the shared text once
    assert merged.chunk_id == chunks[3].chunk_id and merged.score == 0.9
    assert merged.anchor.line_start == 4 and merged.anchor.line_end == 5
    assert packed[1].chunk_id == chunks[9].chunk_id
    assert used == words(merged.text) + words(packed[1].text)
    # a chunk between two taken ones joins all three into one passage
    bridged, _ = pack(
        store,
        [
            replace_score(chunks[3], 0.9),
            replace_score(chunks[5], 0.8),
            replace_score(chunks[4], 0.7),
        ],
        10_000,
        words,
    )
    assert [(p.start, p.end) for p in bridged] == [(chunks[3].start, chunks[5].end)]


def replace_score(p: Passage, score: float) -> Passage:
    from dataclasses import replace

    return replace(p, score=score)


def test_the_same_text_twice_is_sent_once(store: DocumentStore) -> None:
    a = store.create_collection("A")
    b = store.create_collection("B")
    text = "Penguins huddle together to keep warm during the polar winter. " * 3
    add(store, a.id, "p.txt", text)
    add(store, b.id, "copy-of-p.txt", text)
    add(store, b.id, "filler.txt", FILLER)
    got = retrieve(store, None, None, "penguins winter", [a.id, b.id], 100, words)
    assert not got.whole
    assert [p.text for p in got.passages].count(text) == 1


def test_vectors_are_used_as_they_arrive(store: DocumentStore) -> None:
    c = store.create_collection("C")
    file_id = add(store, c.id, "mixed.txt", FILLER[:12000])
    chunks = store.chunks_of_file(file_id)
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((len(chunks), 8)).astype(np.float32)
    secret = 7  # found only by its vector: no word of the question is in it
    question = vectors[secret] + 0.01

    def embed(text: str) -> list[float]:
        return [float(x) for x in question]

    first = retrieve(store, embed, "m", "zebra", [c.id], 200, words)
    assert first.passages == ()  # no keyword matches, no vectors yet
    assert any("still being computed" in n for n in first.notes)
    half = [(p.chunk_id, vectors[i].tolist()) for i, p in enumerate(chunks) if i % 2]
    store.put_vectors("m", 8, half)
    got = retrieve(store, embed, "m", "zebra", [c.id], 200, words)
    assert got.passages[0].chunk_id == chunks[secret].chunk_id
    assert got.passages[0].vector_rank == 1 and got.passages[0].keyword_rank is None
    assert any("have embeddings so far" in n for n in got.notes)

    def broken(text: str) -> list[float]:
        raise DesktopChatError("The embedding engine stopped.")

    fallback = retrieve(store, broken, "m", "machine number 12", [c.id], 200, words)
    assert fallback.passages and any("could not be embedded" in n for n in fallback.notes)


def test_the_real_embedder_finds_a_paraphrase(store: DocumentStore, embedder: Embedder) -> None:
    c = store.create_collection("Household")
    texts = {
        "warranty.txt": "Your appliance is covered for twenty-four months after purchase.",
        "recipe.txt": "Whisk the eggs with sugar, then fold in the flour and bake for an hour.",
        "garden.txt": "Tomatoes need full sun, regular watering and support as they grow.",
        "train.txt": "The night train leaves the central station at eleven and arrives at dawn.",
    }
    ids = {name: add(store, c.id, name, text) for name, text in texts.items()}
    pending = store.chunks_needing_vectors(embedder.model_id, 100)
    vectors = embedder.embed([t for _, t in pending])
    store.put_vectors(
        embedder.model_id,
        embedder.dimensions,
        [(i, v) for (i, _), v in zip(pending, vectors, strict=True)],
    )

    def embed(text: str) -> list[float]:
        return embedder.embed([text])[0]

    question = "How long does the guarantee last?"  # no word in common with the answer
    assert store.keyword_search(question, [c.id]) == []
    hits = store.vector_search(embedder.model_id, embed(question), [c.id], 4)
    assert hits[0].file_id == ids["warranty.txt"]
    got = retrieve(store, embed, embedder.model_id, question, [c.id], 16, words)
    assert not got.whole and got.passages[0].file_id == ids["warranty.txt"]
    assert embed("When does the overnight rail service depart?") is not None
    best = store.vector_search(
        embedder.model_id, embed("When does the overnight rail service depart?"), None, 1
    )
    assert best[0].file_id == ids["train.txt"]


def test_attached_files_and_collections_are_searched_together(store: DocumentStore) -> None:
    """A chat attaches collections and single files: a file counts when it is in one of the
    collections OR is one of the files (keyword, vectors, the whole text, the counts)."""
    manuals = store.create_collection("Manuals")
    warranty = add(store, manuals.id, "warranty.txt", "The warranty lasts five years. " * 5)
    notes = store.create_collection("Notes")
    report = add(store, notes.id, "report.txt", "The quarterly report shows growth. " * 5)
    add(store, notes.id, "diary.txt", "The diary mentions the warranty too. " * 5)

    # Only the file: the diary (same collection, same word) is not searched.
    found = store.keyword_search("warranty", None, 10, file_ids=[report, warranty])
    assert {p.file_id for p in found} == {warranty}
    # The collection or the file: both files, not the diary.
    found = store.keyword_search("report warranty", [manuals.id], 10, file_ids=[report])
    assert {p.file_id for p in found} == {warranty, report}
    assert store.counts(None, [manuals.id], [report]).files_total == 2
    assert store.total_tokens([manuals.id], [report]) == store.total_tokens(
        None, [warranty, report]
    )
    whole = retrieve(store, None, None, "summarize", [manuals.id], 1000, words, file_ids=[report])
    assert whole.whole and [p.file_id for p in whole.passages] == [warranty, report]
    only = retrieve(store, None, None, "summarize this report", [], 1000, words, file_ids=[report])
    assert only.whole and [p.file_id for p in only.passages] == [report]

    # Vectors: the same either-or among the chunks.
    chunks = {f: store.chunks_of_file(f) for f in (warranty, report)}
    every = [p for f in store.indexed_files() for p in store.chunks_of_file(f.id)]
    rng = np.random.default_rng(3)
    vectors = {p.chunk_id: rng.standard_normal(8).astype(np.float32) for p in every}
    store.put_vectors("m", 8, [(c, v.tolist()) for c, v in vectors.items()])
    hits = store.vector_search(
        "m", rng.standard_normal(8).tolist(), [manuals.id], 50, file_ids=[report]
    )
    assert {p.file_id for p in hits} == {warranty, report}
    assert len(hits) == len(chunks[warranty]) + len(chunks[report])


def test_passages_are_held_to_their_own_budget_and_whole_texts_are_not(
    store: DocumentStore,
) -> None:
    c = store.create_collection("Manuals")
    text = FILLER[:4000] + " The warranty period lasts twenty-four months. " + FILLER[4000:8000]
    add(store, c.id, "manual.txt", text)
    add(store, c.id, "other.txt", FILLER[8000:24000])
    wide = retrieve(store, None, None, "warranty period machine", [c.id], 2000, words)
    capped = retrieve(
        store, None, None, "warranty period machine", [c.id], 2000, words, passages_budget=150
    )
    assert not wide.whole and not capped.whole
    assert wide.used_tokens > 150  # the whole free budget is filled with weaker passages
    assert 0 < capped.used_tokens <= 150 and capped.budget_tokens == 150
    assert "warranty period" in capped.passages[0].text
    # The whole text keeps the full budget: the cap is for passages only.
    small = store.create_collection("Small")
    add(store, small.id, "note.txt", "A short note about the warranty. " * 30)
    whole = retrieve(store, None, None, "summarize", [small.id], 2000, words, passages_budget=50)
    assert whole.whole and whole.used_tokens > 50


def test_packing_stops_trying_once_passages_no_longer_fit(store: DocumentStore) -> None:
    """Each try counts a passage with the chat model: after MISFITS_TRIED passages that
    did not fit, the lower-ranked ones are not counted at all."""
    from desktopchat.core.documents.retrieval import MISFITS_TRIED

    c = store.create_collection("Many")
    hits = []
    for n in range(40):  # separate files: nothing merges
        text = f"Passage {n} " + "about the harbour and its ships " * 20
        file_id = add(store, c.id, f"f{n}.txt", text, size=len(text), step=len(text))
        hits += [replace_score(p, 1.0 - n / 100) for p in store.chunks_of_file(file_id)]
    counted: list[str] = []

    def counting(text: str) -> int:
        counted.append(text)
        return words(text)

    size = words(hits[0].text)
    packed, used = pack(store, hits, int(size * 2.5), counting)
    assert [p.chunk_id for p in packed] == [hits[0].chunk_id, hits[1].chunk_id]
    assert used == 2 * size
    assert len(counted) == 2 + MISFITS_TRIED  # not the 38 others
    # a small passage further down still fits while the tries last
    small = replace_score(
        store.chunks_of_file(add(store, c.id, "small.txt", "harbour ships " * 3))[0], 0.5
    )
    packed, _ = pack(store, [*hits[:5], small, *hits[5:]], int(size * 2.5), words)
    assert packed[-1].chunk_id == small.chunk_id
