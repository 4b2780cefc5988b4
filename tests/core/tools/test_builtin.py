"""BuiltinTools: which tools it offers for what it was given, their schemas, argument
checks, and each tool on real data: the SQLite store's full-text search, the documents
library on real files, real files for read_file."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from desktopchat.core.chat import Role
from desktopchat.core.documents.indexer import IndexerConfig
from desktopchat.core.documents.library import LocalDocumentLibrary
from desktopchat.core.documents.types import Embedder
from desktopchat.core.errors import ToolError
from desktopchat.core.session import Core
from desktopchat.core.tools.builtin import (
    BUILTIN_TOOL_NAMES,
    BUILTIN_TOOL_TITLES,
    BUILTIN_TOOLS,
    MAX_CONVERSATION_HITS,
    BuiltinTools,
    describe_now,
)
from desktopchat.core.tools.types import BUILTIN_SOURCE, ToolOutcome, ToolProvider
from tests.core.documents.indexing_helpers import HANG_GUARD, lend, write_corpus


def call(tools: BuiltinTools, name: str, **arguments: Any) -> ToolOutcome:
    return tools.call(name, arguments, threading.Event())


def names(tools: BuiltinTools) -> list[str]:
    return [spec.name for spec in tools.list_tools()]


@pytest.fixture
def library(tmp_path: Path, embedder: Embedder) -> Iterator[LocalDocumentLibrary]:
    lib = LocalDocumentLibrary(
        tmp_path / "documents.sqlite3",
        lend(embedder),
        config=IndexerConfig(watch=False, roots_poll_interval=0.2),
    )
    yield lib
    lib.close()


def test_only_the_tools_that_can_work_are_offered(tmp_path: Path) -> None:
    bare = BuiltinTools()
    provider: ToolProvider = bare  # the protocol, checked by mypy
    assert provider.source == BUILTIN_SOURCE
    assert names(bare) == ["calculator", "current_datetime"]

    chosen: list[Path] = []
    tools = BuiltinTools(
        search_conversations=lambda _query, _limit: [],
        documents=_NoDocuments(),
        folders=lambda: chosen,
    )
    assert names(tools) == ["calculator", "current_datetime", "search_conversations",
                            "search_documents"]  # fmt: skip
    chosen.append(tmp_path)  # read_file is offered once a folder is chosen
    assert names(tools) == list(BUILTIN_TOOL_NAMES)
    [read] = [spec for spec in tools.list_tools() if spec.name == "read_file"]
    assert str(tmp_path) in read.description  # the model is told where it may read


def test_the_specs_have_schemas_titles_and_descriptions(tmp_path: Path) -> None:
    tools = BuiltinTools(
        search_conversations=lambda _query, _limit: [],
        documents=_NoDocuments(),
        folders=lambda: [tmp_path],
    )
    required = {
        "calculator": ["expression"],
        "current_datetime": [],
        "search_conversations": ["query"],
        "search_documents": ["query"],
        "read_file": ["path"],
    }
    for spec in tools.list_tools():
        assert spec.source == BUILTIN_SOURCE
        assert spec.title == BUILTIN_TOOL_TITLES[spec.name] and spec.label == spec.title
        assert spec.description
        assert re.fullmatch(r"[a-z_]+", spec.name)
        schema = spec.parameters
        assert schema["type"] == "object"
        assert schema["required"] == required[spec.name]
        for parameter in schema["properties"].values():
            assert parameter["type"] in {"string", "integer"} and parameter["description"]
        function = spec.to_openai()["function"]
        assert function["name"] == spec.name and function["parameters"] == schema
    assert [tool.name for tool in BUILTIN_TOOLS] == list(BUILTIN_TOOL_NAMES)
    assert all(tool.title and tool.summary for tool in BUILTIN_TOOLS)


def test_calculator() -> None:
    tools = BuiltinTools()
    assert call(tools, "calculator", expression="(2 + 5) * 6") == ToolOutcome("42")
    assert call(tools, "calculator", expression="2^0.5").text == "1.4142135623731"
    failed = call(tools, "calculator", expression="1/0")
    assert failed.is_error and "division by zero" in failed.text
    hostile = call(tools, "calculator", expression="__import__('os').system('true')")
    assert hostile.is_error and "attribute access" in hostile.text


def test_arguments_are_checked() -> None:
    tools = BuiltinTools(search_conversations=lambda _query, _limit: [])
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("calculator", {}, "“expression” is missing"),
        ("calculator", {"expression": None}, "“expression” is missing"),
        ("calculator", {"expression": 12}, "“expression” must be a string"),
        ("calculator", {"expression": "  "}, "“expression” is empty"),
        ("search_conversations", {}, "“query” is missing"),
        ("search_conversations", {"query": ["a"]}, "“query” must be a string"),
        ("search_conversations", {"query": "a", "limit": "many"}, "“limit” must be a whole"),
        ("search_conversations", {"query": "a", "limit": True}, "“limit” must be a whole"),
        ("search_conversations", {"query": "a", "limit": 2.5}, "“limit” must be a whole"),
    ]
    for name, arguments, message in cases:
        outcome = tools.call(name, arguments, threading.Event())
        assert outcome.is_error, (name, arguments)
        assert message in outcome.text, (outcome.text, message)
        assert outcome.text.startswith(f"{name} failed: ")
    # Extra arguments (models add them) are ignored; a whole float is a whole number.
    assert call(tools, "calculator", expression="1+1", precision=3).text == "2"
    assert not call(tools, "search_conversations", query="a", limit=3.0).is_error


def test_an_unknown_tool_raises_and_one_not_offered_is_an_error_outcome() -> None:
    tools = BuiltinTools()
    with pytest.raises(ToolError, match="no built-in tool named “rm_rf”"):
        call(tools, "rm_rf")
    for name in ("search_conversations", "search_documents", "read_file"):
        outcome = call(tools, name, query="x", path="x")
        assert outcome.is_error and "not available" in outcome.text


def test_a_cancelled_call_does_not_run() -> None:
    asked: list[str] = []

    def search(query: str, _limit: int) -> list[Any]:
        asked.append(query)
        return []

    tools = BuiltinTools(search_conversations=search)
    cancel = threading.Event()
    cancel.set()
    outcome = tools.call("search_conversations", {"query": "x"}, cancel)
    assert outcome.is_error and "cancelled" in outcome.text and asked == []


def test_current_datetime() -> None:
    zone = timezone(timedelta(hours=5, minutes=30), "IST")
    fixed = datetime(2024, 5, 6, 14, 3, 12, tzinfo=zone)
    text = call(BuiltinTools(now=lambda: fixed), "current_datetime").text
    lines = text.splitlines()
    assert lines[0] == "Date: Monday, 2024-05-06 (06 May 2024)"
    assert lines[1] == "Time: 14:03:12"
    assert lines[2].startswith("Time zone: ") and lines[2].endswith("IST (UTC+05:30)")
    assert lines[3] == "ISO 8601: 2024-05-06T14:03:12+05:30"
    west = datetime(2024, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))
    assert "(UTC-03:30)" in describe_now(west)

    real = call(BuiltinTools(), "current_datetime")  # the real clock, in local time
    assert not real.is_error
    iso = real.text.splitlines()[-1].removeprefix("ISO 8601: ")
    parsed = datetime.fromisoformat(iso)
    assert parsed.tzinfo is not None
    assert abs((parsed - datetime.now().astimezone()).total_seconds()) < 60


def test_search_conversations_on_the_real_store(core: Core) -> None:
    repo = core.conversations
    trip = repo.create(title="Trip to Lisbon")
    question = repo.add_message(
        trip.id, Role.USER, "Which pastel de nata bakery should we try?", parent_id=None
    )
    repo.add_message(
        trip.id,
        Role.ASSISTANT,
        "Try the bakery in Belém for the original pastel de nata.",
        parent_id=question.id,
    )
    other = repo.create(title="Recipes")
    repo.add_message(other.id, Role.USER, "A pastel \x1b[31mrecipe\x1b[0m please", parent_id=None)
    gone = repo.create(title="Deleted pastel talk")
    repo.add_message(gone.id, Role.USER, "pastel in the trash", parent_id=None)
    repo.move_to_trash(gone.id)
    current = repo.create(title="Now")
    repo.add_message(current.id, Role.USER, "find my pastel chats", parent_id=None)

    asked: list[int] = []

    def search(query: str, limit: int) -> list[Any]:
        asked.append(limit)
        return list(repo.search(query, limit=limit))

    tools = BuiltinTools(search_conversations=search, current_conversation=lambda: current.id)
    outcome = call(tools, "search_conversations", query="pastel nata")
    assert not outcome.is_error
    text = outcome.text
    assert text.startswith("2 matching messages")
    assert "“Trip to Lisbon”" in text and f"(conversation {trip.id})" in text
    assert ", user:" in text and ", assistant:" in text
    assert "Belém" in text and "\x02" not in text and "\x03" not in text
    when = datetime.fromtimestamp(question.created_at).strftime("%Y-%m-%d")
    assert when in text
    assert "Recipes" not in text and "trash" not in text and "“Now”" not in text

    everything = call(tools, "search_conversations", query="pastel", limit=500).text
    assert asked[-1] >= MAX_CONVERSATION_HITS  # the limit is bounded, then the current left out
    assert "“Recipes”" in everything and "“Now”" not in everything and "trash" not in everything
    assert "\x1b" not in everything  # a message's control characters are not passed on
    one = call(tools, "search_conversations", query="pastel", limit=1).text
    assert one.startswith("1 matching messages") and one.count("\n[") == 1

    none = call(tools, "search_conversations", query="zeppelin")
    assert not none.is_error and "No messages" in none.text and "zeppelin" in none.text


def test_search_documents_on_the_real_library(
    library: LocalDocumentLibrary, tmp_path: Path
) -> None:
    files = write_corpus(tmp_path / "docs")
    household = library.create_collection("Household")
    library.add_paths(household.id, [tmp_path / "docs"])
    other = library.create_collection("Other")
    assert library.wait(HANG_GUARD)

    tools = BuiltinTools(documents=library)
    outcome = call(tools, "search_documents", query="espresso boiler", limit=2)
    assert not outcome.is_error
    text = outcome.text
    assert "cite its file name" in text
    first = text.split("\n[1] ", 1)[1]
    assert first.startswith("manual.txt") and str(files["manual"]) in first
    assert "boiler heats for five minutes" in first
    assert text.count("\n[") <= 2

    warranty = call(tools, "search_documents", query="how long is the warranty").text
    assert "notes.md" in warranty and "two years" in warranty
    assert "Warranty" in warranty.split("\n[1] ", 1)[1].splitlines()[0]  # the heading path

    scoped = BuiltinTools(documents=library, collection_ids=lambda: [other.id])
    empty = call(scoped, "search_documents", query="espresso")
    assert not empty.is_error and "No passages" in empty.text


def test_read_file_through_the_tool(tmp_path: Path) -> None:
    folder = tmp_path / "chosen"
    folder.mkdir()
    (folder / "colours.txt").write_text("\x1b[31mred\x1b[0m\r\nblue\u202e", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("no", encoding="utf-8")
    tools = BuiltinTools(folders=lambda: [folder])
    outcome = call(tools, "read_file", path="colours.txt")
    assert not outcome.is_error
    assert outcome.text.endswith("\n\ufffd[31mred\ufffd[0m\nblue\ufffd")  # untrusted text
    refused = call(tools, "read_file", path="../secret.txt")
    assert refused.is_error and "outside the folders" in refused.text
    listing = call(tools, "read_file", path=".")
    assert listing.text.splitlines()[1:] == ["colours.txt"]

    (folder / "big.txt").write_text("word " * 100_000, encoding="utf-8")
    big = call(tools, "read_file", path="big.txt")
    assert not big.is_error and "the file goes on" in big.text
    assert len(big.text) <= 32_000


class _NoDocuments:
    def search(
        self,
        query: str,
        *,
        collection_ids: Any = None,
        file_ids: Any = None,
        limit: int = 10,
    ) -> list[Any]:
        return []
