"""`chat --doc-file PATH` as a script uses it: a file from disk, no collection made first,
in subprocesses with DESKTOPCHAT_HOME pointing at an empty folder (the real documents
database, the built-in embedder and the starter model). The file is indexed into the
Attached files collection before the question, its whole text answers "summarize this",
the sources and the file ids are in --json, and the conversation keeps it attached."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.test_cli import assert_clean_failure
from tests.core.test_cli_documents import ok_json
from tests.processes import run_cli

REPORT = (
    "# Quarterly report\n\n"
    "Revenue of the Harbour Bakery grew by eleven percent in the third quarter. The new "
    "rye loaf sold best; flour prices rose, so margins stayed flat.\n"
)


@pytest.mark.real_model
def test_chat_with_a_file_from_disk_answers_from_its_whole_text(tmp_path: Path) -> None:
    home = tmp_path / "home"
    report = tmp_path / "report.md"
    report.write_text(REPORT, encoding="utf-8")
    first = run_cli(
        home,
        "chat",
        "--json",
        "--doc-file",
        str(report),
        "--max-tokens",
        "16",
        "--seed",
        "1",
        "Summarize this report.",
        timeout=300,
    )
    data = ok_json(first)
    assert "Indexing report.md" in first.stderr  # read before the question is asked
    documents = data["documents"]
    assert documents["mode"] == "whole" and documents["collection_ids"] == []
    (file_id,) = documents["file_ids"]
    (source,) = documents["sources"]
    assert Path(source["path"]).name == "report.md" and source["file_id"] == file_id
    assert not documents["still_indexing"]
    assert 0 < documents["used_tokens"] <= documents["budget_tokens"]

    listed = ok_json(run_cli(home, "docs", "list", "--json"))
    assert [(c["name"], c["files"], c["indexed"]) for c in listed] == [("Attached files", 1, 1)]
    status = ok_json(run_cli(home, "docs", "status", "--json"))
    (read,) = status["files"]
    assert 0 < read["embedded"] == read["chunks"]  # embedded before the question was asked

    # The conversation keeps the file: the next question is answered from it again.
    again = ok_json(
        run_cli(
            home,
            "chat",
            "--json",
            "--conversation",
            str(data["conversation_id"]),
            "--max-tokens",
            "8",
            "What grew?",
            timeout=300,
        )
    )
    assert again["documents"]["file_ids"] == [file_id]
    assert [Path(s["path"]).name for s in again["documents"]["sources"]] == ["report.md"]


def test_doc_file_refusals_are_one_clean_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert_clean_failure(
        run_cli(home, "chat", "--doc-file", str(tmp_path / "missing.pdf"), "Hi?"),
        "cannot be read",
    )
    assert_clean_failure(run_cli(home, "chat", "--doc-file", str(tmp_path), "Hi?"), "is a folder")
    assert_clean_failure(
        run_cli(home, "chat", "--no-docs", "--doc-file", str(tmp_path / "a.txt"), "Hi?"),
        "cannot be used together",
    )


@pytest.mark.real_model
def test_a_long_file_is_embedded_before_the_question_so_passages_are_found_by_meaning_too(
    tmp_path: Path,
) -> None:
    """Too long to go in whole: its passages are retrieved, by keyword and by vector (the
    command waited for the embeddings; asked at once it was keyword only)."""
    topics = ("rivers", "bridges", "markets", "harbours", "mills", "roads", "orchards")
    history = tmp_path / "history.txt"
    history.write_text(
        "\n\n".join(
            f"Chapter {i}. The town's {topics[i % 7]} changed in year {1700 + i}; records "
            f"number {i * 37} describe the {topics[(i * 3) % 7]} in detail."
            for i in range(300)
        ),
        encoding="utf-8",
    )
    data = ok_json(
        run_cli(
            tmp_path / "home",
            "chat",
            "--json",
            "--doc-file",
            str(history),
            "--max-tokens",
            "4",
            "When did the mills change?",
            timeout=300,
        )
    )
    documents = data["documents"]
    assert documents["mode"] == "passages"
    assert not any("keyword only" in n for n in documents["notes"]), documents["notes"]
    assert any(s["vector_rank"] is not None for s in documents["sources"])
