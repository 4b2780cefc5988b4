"""Choosing the embedding model, and each model used as it was trained: real GGUF files
(the built-in all-MiniLM-L6-v2 and a second real conversion of it with q8_0 weights),
the real llama.cpp, store and indexer.

- an installed file is matched to its catalogue entry (prefixes, languages);
- the e5 prefixes go before questions and passages, none for the built-in model;
- switching fills the new model's vectors in behind while keyword search works, retrieval
  uses only the current model's vectors, and switching back reuses the old ones;
- a model that cannot be loaded is refused and the one in use stays;
- a question that cannot be embedded leaves retrieval by keyword;
- ``desktopchat docs model`` shows and chooses (the setting the window reads).
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from desktopchat.core.documents.embedder_slot import (
    EmbedderFactory,
    EmbedderSlot,
    EmbedderUnavailableError,
    stored_id,
)
from desktopchat.core.documents.indexer import IndexerConfig
from desktopchat.core.documents.library import LocalDocumentLibrary
from desktopchat.core.documents.types import Embedder
from desktopchat.core.models.catalog import load_catalog
from desktopchat.core.models.embedders import (
    BUILT_IN_ENTRY,
    catalog_entry_for,
    embedding_choices,
    language_names,
)
from desktopchat.core.models.gguf import read_gguf
from desktopchat.core.models.library import InstalledModel
from desktopchat.core.storage.documents import DocumentStore
from tests.core.documents.indexing_helpers import HANG_GUARD, LentEmbedder
from tests.core.documents.second_embedder import FILE_NAME, second_embedder_file, session_folder
from tests.processes import run_cli

FAST = IndexerConfig(watch=False, roots_poll_interval=0.2)
E5_FILE = "multilingual-e5-small-q8_0.gguf"


@pytest.fixture(scope="session")
def second_embedder_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The second real model (see second_embedder.py), made once a session."""
    return second_embedder_file(session_folder(tmp_path_factory))


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return float(np.dot(np.asarray(a), np.asarray(b)))


def test_installed_files_are_matched_to_their_catalogue_entries() -> None:
    def name(path: str, header: str = "") -> str | None:
        entry = catalog_entry_for(Path(path), header)
        return None if entry is None else entry.name

    assert name("/m/multilingual-e5-small-q8_0.gguf") == "Multilingual E5 small"
    assert name("/m/Multilingual-E5-Small-F16.gguf") == "Multilingual E5 small"
    assert name("/m/nomic-embed-text-v1.5.Q4_K_M.gguf") == "Nomic Embed Text v1.5"
    assert name("/m/bge-small-en-v1.5-f32.gguf") == "BGE small English v1.5"
    assert name("/m/embeddinggemma-300M-Q8_0.gguf") == "EmbeddingGemma 300M"
    assert name("/m/bge-m3-q4_k_m.gguf") == "BGE-M3"
    # downloaded into models/OWNER/REPO/FILE: the repository decides, whatever the file
    assert name("/m/keisuke-miyako/multilingual-e5-small-gguf-f16/x.gguf") == (
        "Multilingual E5 small"
    )
    # another model of a family is not taken for the catalogue's one
    assert name("/m/multilingual-e5-large-instruct-q8_0.gguf") is None
    assert name("/m/my-model.gguf") is None
    assert name("/m/my-model.gguf", "all-MiniLM-L6-v2") == BUILT_IN_ENTRY  # by its header
    builtin = catalog_entry_for(None)
    assert builtin is not None and builtin.name == BUILT_IN_ENTRY
    assert builtin.languages == ("en",) and not builtin.query_prefix

    by_name = {e.name: e for e in load_catalog() if e.is_embedding}
    e5 = by_name["Multilingual E5 small"]
    assert (e5.query_prefix, e5.document_prefix) == ("query: ", "passage: ")
    nomic = by_name["Nomic Embed Text v1.5"]
    assert (nomic.query_prefix, nomic.document_prefix) == ("search_query: ", "search_document: ")
    gemma = by_name["EmbeddingGemma 300M"]
    assert (gemma.query_prefix, gemma.document_prefix) == (
        "task: search result | query: ",
        "title: none | text: ",
    )
    bge = by_name["BGE small English v1.5"]
    assert bge.query_prefix == "Represent this sentence for searching relevant passages: "
    assert not bge.document_prefix
    assert language_names(("multi",)) == "about 100 languages"
    assert language_names(("en",)) == "English"


def test_the_choices_are_the_built_in_model_and_the_installed_embedding_models(
    embedder_model: Path, starter_model: Path, second_embedder_model: Path
) -> None:
    models = [
        InstalledModel(starter_model, "starter", read_gguf(starter_model)),
        InstalledModel(second_embedder_model, "folder", read_gguf(second_embedder_model)),
    ]
    choices = embedding_choices(models)
    assert [c.label() for c in choices] == [
        "Built in: all-MiniLM-L6-v2 (English)",
        "all-MiniLM-L6-v2 (English)",
    ]
    assert choices[0].setting == "" and choices[1].setting == str(second_embedder_model)


def test_e5_prefixes_are_put_before_questions_and_passages(
    tmp_path: Path, embedder: Embedder, embedder_model: Path
) -> None:
    e5 = tmp_path / E5_FILE  # the real model's file, under the catalogue's e5 name
    shutil.copyfile(embedder_model, e5)
    slot = EmbedderSlot(lambda _path: LentEmbedder(embedder), e5)
    entry = slot.entry()
    assert entry is not None and entry.name == "Multilingual E5 small"
    model_id, vector = slot.embed_query_with_id("When does the warranty end?")
    assert model_id == stored_id(embedder.model_id, "passage: ") != embedder.model_id
    prefixed = embedder.embed(["query: When does the warranty end?"])[0]
    plain = embedder.embed(["When does the warranty end?"])[0]
    assert cosine(vector, prefixed) > 0.9999
    assert cosine(vector, plain) < 0.999  # the prefix changed what was embedded
    done = slot.embed_batch(["The warranty lasts two years."], threading.Event())
    assert done is not None
    assert done[0] == model_id
    assert cosine(done[2][0], embedder.embed(["passage: The warranty lasts two years."])[0]) > (
        0.9999
    )
    slot.close()

    builtin = EmbedderSlot(lambda _path: LentEmbedder(embedder), None)
    model_id, vector = builtin.embed_query_with_id("When does the warranty end?")
    assert model_id == embedder.model_id  # no prefix: the id as the embedder says it
    assert cosine(vector, plain) > 0.9999
    builtin.close()


class Counting(LentEmbedder):
    """An embedder (lent, or owned and closed with the library) that counts its texts."""

    def __init__(self, embedder: Embedder, *, owned: bool) -> None:
        super().__init__(embedder)
        self.owned = owned
        self.texts = 0

    def embed(
        self, texts: Sequence[str], cancel: threading.Event | None = None
    ) -> list[list[float]]:
        self.texts += len(texts)
        return super().embed(texts, cancel)

    def close(self) -> None:
        super().close()
        if self.owned:
            self._embedder.close()


Made = dict[str, list[Counting]]


@pytest.fixture
def two_models(
    embedder: Embedder, second_embedder_model: Path
) -> Iterator[tuple[Made, EmbedderFactory]]:
    """A factory for a library: the built-in model (the session's) or the q8_0 file (a
    LlamaEmbedder of its own), each embedder it made recorded by model."""
    from desktopchat.core.inference.llama.embedding import LlamaEmbedder

    made: Made = {"builtin": [], "second": []}

    def factory(path: Path | None) -> Embedder:
        if path is None:
            lent = Counting(embedder, owned=False)
            made["builtin"].append(lent)
            return lent
        if path == second_embedder_model:
            own = Counting(LlamaEmbedder(path, n_threads=2), owned=True)
            made["second"].append(own)
            return own
        raise ValueError(f"{path.name} is not a GGUF file")

    yield made, factory


def write_manuals(folder: Path) -> None:
    folder.mkdir(parents=True)
    topics = ("kettle", "toaster", "blender", "fridge", "oven", "grinder")
    for i, topic in enumerate(topics):
        (folder / f"{topic}.txt").write_text(
            f"The {topic} manual.\n\nThe warranty of the {topic} lasts {i + 1} years. "
            f"Clean the {topic} every week with a soft cloth and warm water.\n",
            encoding="utf-8",
        )


def test_switching_models_fills_the_new_vectors_in_and_never_mixes_them(
    tmp_path: Path, two_models: tuple[Made, EmbedderFactory], second_embedder_model: Path
) -> None:
    made, factory = two_models
    path = second_embedder_model
    db = tmp_path / "documents.sqlite3"
    library = LocalDocumentLibrary(db, factory, config=FAST)
    try:
        write_manuals(tmp_path / "manuals")
        col = library.create_collection("Manuals")
        library.add_paths(col.id, [tmp_path / "manuals"])
        assert library.wait(HANG_GUARD)
        first = library.progress()
        assert first.chunks_total > 0 and first.chunks_embedded == first.chunks_total
        builtin_id = made["builtin"][0].model_id

        # The second model, paused: nothing of it is embedded yet, keyword search works.
        library.pause()
        library.set_embedding_model(path)
        assert library.embedder_name() == path.stem
        second_id = made["second"][0].model_id
        assert second_id != builtin_id and second_id.startswith(FILE_NAME)
        now = library.progress()
        assert now.chunks_embedded == 0 and now.chunks_total == first.chunks_total
        hits = library.search("toaster warranty")
        assert hits and hits[0].path.name == "toaster.txt"
        assert all(h.vector_rank is None for h in hits), "no vectors of the old model"
        retrieved = library.retrieve("toaster warranty", [col.id], 400, len)
        assert any("keyword only" in n for n in retrieved.notes), retrieved.notes
        assert all(p.vector_rank is None for p in retrieved.passages)

        # Resumed: the new model's vectors fill in, and the search uses them alone.
        library.resume()
        assert library.wait(HANG_GUARD)
        done = library.progress()
        assert done.chunks_embedded == done.chunks_total == first.chunks_total
        hits = library.search("How long is the toaster warranty?", limit=3)
        assert hits[0].path.name == "toaster.txt" and hits[0].vector_rank is not None
        question = "How long is the toaster warranty?"
        second_query = made["second"][0].embed([question])[0]
        builtin_query = made["builtin"][0].embed([question])[0]
        library.close()

        store = DocumentStore.open(db)
        try:
            vectors = {name: count for name, _, count in store.embedding_models()}
            assert vectors == {builtin_id: first.chunks_total, second_id: first.chunks_total}
            by_second = store.vector_search(second_id, second_query, None, 3)
            by_builtin = store.vector_search(builtin_id, builtin_query, None, 3)
        finally:
            store.close()
        assert by_second[0].chunk_id == hits[0].chunk_id
        score = hits[0].vector_score
        assert score is not None
        assert abs(score - by_second[0].vector_score) < 1e-5  # type: ignore[operator]
        same = next(p for p in by_builtin if p.chunk_id == hits[0].chunk_id)
        assert abs(score - by_second[0].vector_score) < abs(score - same.vector_score)  # type: ignore[operator]

        # Back to the built-in model: its vectors were kept and are used at once.
        library = LocalDocumentLibrary(db, factory, embedding_model=path, config=FAST)
        library.set_embedding_model(None)
        back = library.progress()
        assert back.chunks_embedded == back.chunks_total == first.chunks_total
        before = made["builtin"][-1].texts
        assert library.wait(HANG_GUARD)
        assert made["builtin"][-1].texts == before, "nothing embedded again"
        assert made["second"][-1].closed, "the second model was closed"
        hits = library.search("How long is the toaster warranty?", limit=3)
        assert hits[0].vector_rank is not None
    finally:
        library.close()


def test_a_model_that_cannot_be_loaded_is_refused_and_the_old_one_stays(
    tmp_path: Path, two_models: tuple[Made, EmbedderFactory]
) -> None:
    _made, factory = two_models
    library = LocalDocumentLibrary(tmp_path / "documents.sqlite3", factory, config=FAST)
    try:
        write_manuals(tmp_path / "manuals")
        col = library.create_collection("Manuals")
        library.add_paths(col.id, [tmp_path / "manuals"])
        assert library.wait(HANG_GUARD)
        broken = tmp_path / "broken-embed.gguf"
        broken.write_bytes(b"not a model")
        with pytest.raises(EmbedderUnavailableError, match=r"broken-embed\.gguf could not be"):
            library.set_embedding_model(broken)
        assert library.embedder_name() == "all-MiniLM-L6-v2 (built in)"
        hits = library.search("How long is the toaster warranty?")
        assert hits[0].vector_rank is not None, "search by meaning goes on"
        assert library.progress().chunks_embedded == library.progress().chunks_total
    finally:
        library.close()


class QueriesFail(LentEmbedder):
    """Embeds passages; a question (one text) fails, as a crashed engine would."""

    def embed(
        self, texts: Sequence[str], cancel: threading.Event | None = None
    ) -> list[list[float]]:
        if len(texts) == 1 and texts[0].startswith("QUESTION"):
            raise RuntimeError("the engine process died")
        return super().embed(texts, cancel)


def test_retrieval_falls_back_to_keywords_when_the_question_cannot_be_embedded(
    tmp_path: Path, embedder: Embedder
) -> None:
    library = LocalDocumentLibrary(
        tmp_path / "documents.sqlite3", lambda _p: QueriesFail(embedder), config=FAST
    )
    try:
        write_manuals(tmp_path / "manuals")
        col = library.create_collection("Manuals")
        library.add_paths(col.id, [tmp_path / "manuals"])
        assert library.wait(HANG_GUARD)
        result = library.retrieve("QUESTION toaster warranty", [col.id], 400, len)
        assert result.passages and result.passages[0].path.name == "toaster.txt"
        assert any("could not be embedded" in n for n in result.notes), result.notes
        hits = library.search("QUESTION toaster warranty")
        assert hits and hits[0].vector_rank is None
    finally:
        library.close()


def test_the_advice_follows_the_languages_the_catalogue_says_a_model_serves(
    tmp_path: Path, embedder: Embedder, embedder_model: Path
) -> None:
    ja = tmp_path / "ja"
    ja.mkdir()
    (ja / "guide.txt").write_text(
        "この製品の保証期間は購入日から二年間です。"
        "修理が必要な場合は販売店にご連絡ください。\n" * 12,
        encoding="utf-8",
    )
    e5 = tmp_path / E5_FILE
    shutil.copyfile(embedder_model, e5)
    renamed = tmp_path / "my-own-embedder.gguf"
    shutil.copyfile(embedder_model, renamed)
    english = tmp_path / "bge-small-en-v1.5-q8_0.gguf"
    shutil.copyfile(embedder_model, english)
    library = LocalDocumentLibrary(
        tmp_path / "documents.sqlite3", lambda _p: LentEmbedder(embedder), config=FAST
    )
    try:
        col = library.create_collection("Japanese")
        library.add_paths(col.id, [ja])
        assert library.wait(HANG_GUARD)
        assert library.embedding_languages() == ("en",)
        assert library.suggestion(col.id) is not None  # the built-in model: English only
        library.set_embedding_model(english)
        assert library.embedding_languages() == ("en",)
        advice = library.suggestion(col.id)
        assert advice is not None and "Japanese" in advice
        library.set_embedding_model(e5)
        assert library.embedding_languages() == ("multi",)
        assert library.suggestion(col.id) is None  # it serves Japanese
        library.set_embedding_model(renamed)  # known by the name in its header
        assert library.embedding_languages() == ("en",)
        assert library.suggestion(col.id) is not None
    finally:
        library.close()


def test_docs_model_shows_and_chooses_the_embedding_model(
    tmp_path: Path, second_embedder_model: Path, starter_model: Path
) -> None:
    home = tmp_path / "home"
    models = home / "models"
    models.mkdir(parents=True)
    shutil.copyfile(second_embedder_model, models / FILE_NAME)

    def docs(*args: str) -> dict[str, object]:
        done = run_cli(home, "docs", "model", *args, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        return json.loads(done.stdout) if "--json" in args else {"text": done.stdout}

    shown = docs("--json")
    current = shown["current"]
    assert isinstance(current, dict) and current["builtin"] is True
    assert current["label"] == "Built in: all-MiniLM-L6-v2 (English)"
    choices = shown["choices"]
    assert isinstance(choices, list)
    assert [(c["builtin"], c["current"], c["languages"]) for c in choices] == [
        (True, True, ["en"]),
        (False, False, ["en"]),
    ]
    assert Path(str(choices[1]["path"])).name == FILE_NAME

    chosen = docs(FILE_NAME.removesuffix(".gguf"))
    assert "Embedding model: all-MiniLM-L6-v2 (English)" in str(chosen["text"])
    settings = json.loads((home / "config" / "settings.json").read_text(encoding="utf-8"))
    assert Path(settings["documents_embedding_model"]).name == FILE_NAME
    shown = docs("--json")
    assert shown["current"]["path"] == choices[1]["path"]  # type: ignore[index]

    refused = run_cli(home, "docs", "model", str(starter_model), timeout=120)
    assert refused.returncode != 0 and "not an embedding model" in refused.stderr
    assert "Traceback" not in refused.stderr
    broken = tmp_path / "broken-embed.gguf"
    broken.write_bytes(b"GGUF" + bytes(60))
    refused = run_cli(home, "docs", "model", str(broken), timeout=120)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    settings = json.loads((home / "config" / "settings.json").read_text(encoding="utf-8"))
    assert Path(settings["documents_embedding_model"]).name == FILE_NAME  # unchanged

    docs("--builtin")
    shown = docs("--json")
    assert shown["current"]["builtin"] is True  # type: ignore[index]
