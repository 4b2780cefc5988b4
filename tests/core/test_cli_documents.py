"""`desktopchat docs ...` and `chat --docs` as scripts use them: real files in a folder, the
real documents database, the built-in embedder and the starter model, in subprocesses with
DESKTOPCHAT_HOME pointing at an empty folder; clean one-line failures; no network."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.core.test_cli import assert_clean_failure
from tests.core.test_network import inet_connects, offline
from tests.processes import run_cli

WARRANTY = (
    "# Zephyr 3000 warranty\n\n"
    "The warranty period of the Zephyr 3000 espresso machine is five years from the date "
    "of purchase. The warranty covers the pump, the boiler and the grinder. It does not "
    "cover descaling, which the owner does every two months.\n"
)
SETUP = (
    "Setting up the Zephyr 3000\n\n"
    "Fill the water tank with cold filtered water. Press the power button and wait until "
    "the green light stops blinking; the boiler then reached its temperature.\n\n"
    "Grind eighteen grams of coffee for a double shot.\n"
)
NOTES = "Shopping list\n\nmilk, bread, apples, oat flakes, dish soap\n"


def docs(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run_cli(home, "docs", *args, timeout=timeout)


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def manuals(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "warranty.md").write_text(WARRANTY, encoding="utf-8")
    (folder / "setup.txt").write_text(SETUP, encoding="utf-8")
    (folder / "notes.txt").write_text(NOTES, encoding="utf-8")
    return folder


def indexed_home(tmp_path: Path) -> tuple[Path, Path]:
    """A home with the folder of manuals in the collection "Manuals", fully indexed."""
    home, folder = tmp_path / "home", manuals(tmp_path / "manuals")
    added = docs(home, "add", str(folder), "--collection", "Manuals")
    assert added.returncode == 0, added.stderr
    assert "Manuals" in added.stdout
    waited = docs(home, "wait", "--timeout", "240")
    assert waited.returncode == 0, waited.stderr
    assert "Indexing is done" in waited.stdout
    return home, folder


def test_add_wait_then_search_finds_the_passage(tmp_path: Path) -> None:
    home, folder = indexed_home(tmp_path)

    listed = ok_json(docs(home, "list", "--json"))
    assert [(c["name"], c["files"], c["indexed"], c["failed"]) for c in listed] == [
        ("Manuals", 3, 3, 0)
    ]
    assert listed[0]["roots"] == [str(folder.resolve())]
    # a fresh process counts the vectors of the model in use (it loads it to know it)
    assert listed[0]["chunks"] >= 3 and listed[0]["embedded"] == listed[0]["chunks"]

    status = ok_json(docs(home, "status", "--json"))
    assert status["progress"]["idle"] is True
    by_name = {Path(f["path"]).name: f for f in status["files"]}
    assert set(by_name) == {"warranty.md", "setup.txt", "notes.txt"}
    for f in by_name.values():
        assert f["state"] == "indexed" and f["reason"] == ""
        assert f["chunks"] >= 1 and f["embedded"] == f["chunks"]  # vectors for every chunk
        assert f["collection"] == "Manuals"

    found = ok_json(docs(home, "search", "how long is the warranty period", "--json"))
    assert found, "nothing found"
    best = found[0]
    assert Path(best["path"]).name == "warranty.md"
    assert "five years" in best["text"]
    assert best["rank"] == 1 and best["score"] > 0
    assert best["collection"] == "Manuals"
    assert best["lines"] is not None and best["lines"][0] >= 1
    assert isinstance(best["anchor"], str) and best["anchor"]

    # A question in other words than the file's: the vectors find it.
    meaning = ok_json(docs(home, "search", "making coffee at home", "--limit", "1", "--json"))
    assert len(meaning) == 1 and Path(meaning[0]["path"]).name == "setup.txt"

    limited = ok_json(docs(home, "search", "Zephyr", "--collection", "manuals", "--json"))
    assert {Path(p["path"]).name for p in limited[:2]} == {"warranty.md", "setup.txt"}
    assert all(p["collection"] == "Manuals" for p in limited)

    plain = docs(home, "search", "warranty period")
    assert plain.returncode == 0 and "warranty.md" in plain.stdout


def test_remove_files_and_collections(tmp_path: Path) -> None:
    home, folder = indexed_home(tmp_path)
    removed = docs(home, "remove", str(folder / "notes.txt"))
    assert removed.returncode == 0, removed.stderr
    status = ok_json(docs(home, "status", "--json"))
    # Inside a watched folder it stays listed as skipped, so the next scan leaves it out.
    states = {Path(f["path"]).name: (f["state"], f["chunks"]) for f in status["files"]}
    assert states["notes.txt"] == ("skipped", 0)
    assert states["warranty.md"][0] == states["setup.txt"][0] == "indexed"
    nothing = ok_json(docs(home, "search", "shopping list apples", "--json"))
    assert all(Path(p["path"]).name != "notes.txt" for p in nothing)

    deleted = docs(home, "remove", "--collection", "Manuals")
    assert deleted.returncode == 0, deleted.stderr
    assert ok_json(docs(home, "list", "--json")) == []


def test_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert_clean_failure(docs(home, "add", str(tmp_path / "missing.pdf")), "Not found")
    assert ok_json(docs(home, "list", "--json")) == []  # nothing was made
    assert_clean_failure(
        docs(home, "search", "x", "--collection", "Nope"), "no document collection 'Nope'"
    )
    assert_clean_failure(docs(home, "search", "  "), "empty")
    assert_clean_failure(docs(home, "remove"), "Say what to remove")
    assert_clean_failure(docs(home, "remove", str(tmp_path / "x.txt")), "not in any collection")
    assert_clean_failure(
        run_cli(home, "chat", "--docs", "Nope", "Hi?"), "There is no document collection"
    )
    usage = docs(home, "frobnicate")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
    empty = docs(home, "wait", "--timeout", "30")  # nothing to index: done at once
    assert empty.returncode == 0, empty.stderr


@pytest.mark.real_model
def test_chat_with_docs_returns_its_sources(tmp_path: Path) -> None:
    home, _folder = indexed_home(tmp_path)
    question = "How long is the warranty of the Zephyr 3000?"
    result = run_cli(
        home,
        "chat",
        "--json",
        "--docs",
        "Manuals",
        "--max-tokens",
        "24",
        "--seed",
        "1",
        question,
        timeout=300,
    )
    data = ok_json(result)
    assert data["reply"]
    documents = data["documents"]
    # Three small files fit a 4,096-token context whole: the whole text is sent.
    assert documents["mode"] == "whole"
    assert documents["used_tokens"] > 0 and documents["budget_tokens"] >= documents["used_tokens"]
    assert data["documents_tokens"] == documents["used_tokens"]
    names = {Path(s["path"]).name for s in documents["sources"]}
    assert "warranty.md" in names
    assert [s["number"] for s in documents["sources"]] == list(
        range(1, len(documents["sources"]) + 1)
    )
    assert any("five years" in s["text"] for s in documents["sources"])
    assert documents["retrieval_ms"] >= 0

    # The conversation keeps the collection attached: a follow-up retrieves again.
    shown = ok_json(run_cli(home, "conversations", "show", str(data["conversation_id"]), "--json"))
    assert shown["params"]["documents"] == documents["collection_ids"]
    stored = shown["messages"][-1]["stats"]["documents"]
    assert stored["mode"] == "whole" and stored["sources"]

    # A small context: only the best passages fit, numbered, and cited from the right file.
    narrow = ok_json(
        run_cli(
            home,
            "chat",
            "--json",
            "--docs",
            "Manuals",
            "--context",
            "256",
            "--max-tokens",
            "16",
            "--seed",
            "1",
            "What does the warranty cover?",
            timeout=300,
        )
    )
    passages = narrow["documents"]
    assert passages["mode"] == "passages"
    assert Path(passages["sources"][0]["path"]).name == "warranty.md"
    assert passages["sources"][0]["score"] > 0

    plain = run_cli(
        home,
        "chat",
        "--docs",
        "Manuals",
        "--max-tokens",
        "8",
        "--seed",
        "1",
        question,
        timeout=300,
    )
    assert plain.returncode == 0, plain.stderr
    assert "Sources (the whole documents):" in plain.stdout and "warranty.md" in plain.stdout

    detached = ok_json(
        run_cli(
            home,
            "chat",
            "--json",
            "--conversation",
            str(data["conversation_id"]),
            "--no-docs",
            "--max-tokens",
            "8",
            "Thanks!",
            timeout=300,
        )
    )
    assert detached["documents"] is None


@pytest.mark.real_model
def test_documents_work_without_any_network_and_stay_out_of_the_log(tmp_path: Path) -> None:
    home, folder = tmp_path / "home", manuals(tmp_path / "manuals")
    trace = tmp_path / "docs.trace"
    for args in (
        ("docs", "add", str(folder)),
        ("docs", "wait", "--timeout", "240"),
        ("docs", "search", "warranty period", "--json"),
        ("chat", "--docs", "Documents", "--max-tokens", "8", "How long is the warranty?"),
    ):
        done = run_cli(home, *args, wrap=offline(trace), timeout=300)
        assert done.returncode == 0, (args, done.stderr)
        assert inet_connects(trace) == [], args
    log = (home / "logs" / "desktopchat.log").read_text(encoding="utf-8")
    assert "five years from the date" not in log  # the documents' text is not logged
