"""The shipped model catalogue: a versioned format, every entry complete."""

from __future__ import annotations

import json

import pytest

from desktopchat.core.models.catalog import FORMAT, CatalogError, load_catalog, parse_catalog


def test_the_shipped_catalogue_reads_and_covers_the_families_users_ask_for() -> None:
    entries = load_catalog()
    repos = [e.repo for e in entries]
    assert len(repos) == len(set(repos))
    families = {e.family for e in entries}
    for wanted in ("Llama 2", "Mistral", "Code Llama", "Llama 3.x", "Qwen 2.5", "Qwen 3"):
        assert wanted in families
    assert {"Gemma 3", "Phi", "SmolLM2"} <= families
    assert any(e.gated for e in entries) and any(not e.gated for e in entries)
    for entry in entries:
        assert entry.quantization[0] in "QIF" and entry.description.endswith(".")
        assert entry.licence_url == f"https://huggingface.co/{entry.repo}"


def _catalogue(**changes: object) -> str:
    entry = {
        "repo": "owner/model-GGUF",
        "name": "Model",
        "family": "Family",
        "parameters": "1B",
        "quantization": "Q4_K_M",
        "licence": "mit",
        "gated": False,
        "description": "A model.",
    }
    data: dict[str, object] = {"format": FORMAT, "models": [entry]}
    for key, value in changes.items():
        if key == "format":
            data["format"] = value
        else:
            entry[key] = value
    return json.dumps(data)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": 99}, "format 99"),
        ({"repo": "no-owner"}, "owner/name"),
        ({"name": ""}, "lacks name"),
        ({"gated": "yes"}, "lacks gated"),
    ],
)
def test_a_bad_catalogue_is_refused_with_the_reason(
    changes: dict[str, object], message: str
) -> None:
    assert len(parse_catalog(_catalogue())) == 1
    with pytest.raises(CatalogError, match=message):
        parse_catalog(_catalogue(**changes))
    with pytest.raises(CatalogError, match="not valid JSON"):
        parse_catalog("{")


def test_the_catalogue_offers_embedding_models_with_their_languages() -> None:
    from desktopchat.core.models.catalog import embedding_models

    entries = load_catalog()
    embedders = {e.name: e for e in embedding_models(entries)}
    for wanted in (
        "all-MiniLM-L6-v2",
        "BGE small English v1.5",
        "Nomic Embed Text v1.5",
        "Multilingual E5 small",
        "BGE-M3",
        "EmbeddingGemma 300M",
    ):
        assert wanted in embedders
    for entry in embedders.values():
        assert entry.kind == "embedding" and entry.dimensions > 0 and entry.languages
        assert entry.file.endswith(".gguf") and entry.size_mb > 0
    multilingual = {n for n, e in embedders.items() if e.serves("ko")}
    assert multilingual == {"Multilingual E5 small", "BGE-M3", "EmbeddingGemma 300M"}
    assert embedders["all-MiniLM-L6-v2"].serves("en")
    assert not embedders["all-MiniLM-L6-v2"].serves("ja")
    assert embedders["Multilingual E5 small"].query_prefix == "query: "
    chats = [e for e in entries if not e.is_embedding]
    assert chats and all(e.kind == "chat" and e.dimensions == 0 for e in chats)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "reranker"}, "kind 'reranker'"),
        ({"kind": "embedding"}, "without dimensions"),
        ({"kind": "embedding", "dimensions": "384"}, "not a count"),
        ({"languages": "en"}, "not a list of codes"),
        ({"query_prefix": 3}, "query_prefix that is not text"),
    ],
)
def test_a_bad_embedding_entry_is_refused_with_the_reason(
    changes: dict[str, object], message: str
) -> None:
    entry = parse_catalog(_catalogue())[0]
    assert entry.kind == "chat" and entry.languages == ()  # the fields are optional
    with pytest.raises(CatalogError, match=message):
        parse_catalog(_catalogue(**changes))
