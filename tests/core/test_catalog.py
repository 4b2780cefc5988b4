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
