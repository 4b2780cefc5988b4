"""Export and import, as users run them (the CLI on real SQLite files): our JSON round
trip loses nothing (branches, settings, stats, times), Markdown and HTML show the active
branch, a ChatGPT export comes in with its branches, and search finds messages."""

from __future__ import annotations

import json
from pathlib import Path

from desktopchat.core.chat import GenerationParams, GenerationStats, MessageStatus, Role
from desktopchat.core.paths import AppPaths
from desktopchat.core.session import open_core
from tests.processes import run_cli


def fill(paths: AppPaths) -> None:
    core = open_core(paths)
    repo = core.conversations
    try:
        params = GenerationParams(system_prompt="Answer like a pirate.", temperature=0.3, seed=7)
        first = repo.create(title="Pirate colours", params=params, model_path="/m/smol.gguf")
        ask = repo.add_message(
            first.id, Role.USER, "Name a colour <script>x</script>", parent_id=None
        )
        old = repo.add_message(
            first.id, Role.ASSISTANT, "Red, arr.", parent_id=ask.id, model="smol"
        )
        stats = GenerationStats(prompt_tokens=12, completion_tokens=4, time_to_first_token=0.1)
        repo.update_message(
            old.id, "Red, arr.", MessageStatus.COMPLETE, finish_reason="stop", stats=stats
        )
        new = repo.add_message(first.id, Role.ASSISTANT, "Blue as the sea", parent_id=ask.id)
        repo.update_message(
            new.id, "Blue as the sea", MessageStatus.STOPPED, finish_reason="cancelled"
        )
        follow = repo.add_message(first.id, Role.USER, "Another?", parent_id=old.id)
        repo.add_message(first.id, Role.ASSISTANT, "Gold!", parent_id=follow.id)
        second = repo.create(title="Ünïcode 🦜")
        repo.add_message(second.id, Role.USER, "χαίρε 👋", parent_id=None)
    finally:
        core.close()


def snapshot(paths: AppPaths) -> dict[str, object]:
    """Everything stored about each conversation, with ids replaced by tree positions."""
    core = open_core(paths)
    try:
        result: dict[str, object] = {}
        for summary in core.conversations.summaries(""):
            conversation = core.conversations.get(summary.id)
            messages = core.conversations.all_messages(summary.id)
            position = {m.id: index for index, m in enumerate(messages)}
            result[conversation.title] = {
                "times": (conversation.created_at, conversation.updated_at),
                "model_path": conversation.model_path,
                "params": conversation.params,
                "active": [m.content for m in core.conversations.active_path(summary.id)],
                "messages": [
                    (
                        position.get(m.parent_id) if m.parent_id else None,
                        m.role,
                        m.content,
                        m.status,
                        m.created_at,
                        m.model,
                        m.finish_reason,
                        m.stats,
                    )
                    for m in messages
                ],
            }
        return result
    finally:
        core.close()


def home_of(paths: AppPaths) -> Path:
    return paths.data.parent


def test_our_json_round_trips_without_loss(paths: AppPaths, tmp_path: Path) -> None:
    fill(paths)
    core = open_core(paths)
    first = core.conversations.summaries("Pirate")[0].id
    old_reply = core.conversations.all_messages(first)[1]
    core.conversations.set_active_leaf(first, old_reply.id + 3)  # "Gold!", on the first branch
    core.close()
    out = tmp_path / "all.json"
    done = run_cli(home_of(paths), "export", "--format", "json", str(out))
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["format"] == "desktopchat-conversations" and data["version"] == 1
    assert len(data["conversations"]) == 2

    fresh = AppPaths.under(tmp_path / "fresh")
    done = run_cli(home_of(fresh), "import", str(out))
    assert done.returncode == 0, done.stderr
    assert "Imported 2 conversations (6 messages)" in done.stdout
    before, after = snapshot(paths), snapshot(fresh)
    assert after == before
    pirate = after["Pirate colours"]
    assert isinstance(pirate, dict)
    assert pirate["active"] == [
        "Name a colour <script>x</script>",
        "Red, arr.",
        "Another?",
        "Gold!",
    ]
    # Imported messages are searchable like any other.
    found = run_cli(home_of(fresh), "search", "gold", "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert [h["snippet"] for h in hits] == ["Gold!"] and hits[0]["title"] == "Pirate colours"


def test_markdown_and_html_show_the_active_branch(paths: AppPaths, tmp_path: Path) -> None:
    fill(paths)
    core = open_core(paths)
    first = core.conversations.summaries("Pirate")[0].id
    blue = next(m for m in core.conversations.all_messages(first) if m.content.startswith("Blue"))
    core.conversations.set_active_leaf(first, blue.id)  # the regenerated answer's branch
    core.close()
    md, page = tmp_path / "chat.md", tmp_path / "chat.html"
    for fmt, target in (("md", md), ("html", page)):
        done = run_cli(
            home_of(paths), "export", "--conversation", str(first), "--format", fmt, str(target)
        )
        assert done.returncode == 0, done.stderr
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# Pirate colours\n")
    assert "> Answer like a pirate." in text and "## You\n\nName a colour" in text
    assert "## Assistant (stopped)\n\nBlue as the sea" in text
    assert "Gold!" not in text  # on the other branch
    html = page.read_text(encoding="utf-8")
    assert (
        html.startswith("<!DOCTYPE html>") and "<title>Pirate colours — DesktopChat</title>" in html
    )
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>" not in html
    assert "http" not in html.lower().replace("http-equiv", "")  # nothing fetched
    assert "Blue as the sea" in html and "Gold!" not in html


def chatgpt_export() -> list[dict[str, object]]:
    def node(
        key: str,
        parent: str | None,
        children: list[str],
        role: str | None,
        text: str,
        **meta: object,
    ) -> dict[str, object]:
        message = None
        if role is not None:
            message = {
                "id": key,
                "author": {"role": role},
                "create_time": 1_700_000_000 + len(key),
                "content": {"content_type": "text", "parts": [text]},
                "metadata": meta,
            }
        return {"id": key, "message": message, "parent": parent, "children": children}

    mapping = {
        "root": node("root", None, ["sys"], None, ""),
        "sys": node("sys", "root", ["u1"], "system", "", is_visually_hidden_from_conversation=True),
        "u1": node("u1", "sys", ["a1", "a2"], "user", "What is a GGUF file?"),
        "a1": node("a1", "u1", [], "assistant", "A model file.", model_slug="gpt-4o"),
        "a2": node(
            "a2", "u1", ["tool"], "assistant", "A llama.cpp model format.", model_slug="gpt-4o"
        ),
        "tool": node("tool", "a2", ["u2"], "tool", "search results"),
        "u2": node("u2", "tool", ["a3"], "user", "Thanks"),
        "a3": node("a3", "u2", [], "assistant", "You're welcome."),
    }
    return [
        {
            "title": "GGUF question",
            "create_time": 1_700_000_000.5,
            "update_time": 1_700_000_100.5,
            "mapping": mapping,
            "current_node": "a3",
        }
    ]


def test_a_chatgpt_export_comes_in_with_its_branches(paths: AppPaths, tmp_path: Path) -> None:
    source = tmp_path / "conversations.json"
    source.write_text(json.dumps(chatgpt_export()), encoding="utf-8")
    done = run_cli(home_of(paths), "import", str(source))
    assert done.returncode == 0, done.stderr
    assert "Imported 1 conversations (5 messages)" in done.stdout
    core = open_core(paths)
    try:
        summary = core.conversations.summaries("")[0]
        conversation = core.conversations.get(summary.id)
        assert conversation.title == "GGUF question" and conversation.created_at == 1_700_000_000.5
        path = core.conversations.active_path(summary.id)
        assert [m.content for m in path] == [
            "What is a GGUF file?",
            "A llama.cpp model format.",
            "Thanks",
            "You're welcome.",
        ]
        assert path[1].model == "gpt-4o"
        siblings = [
            m for m in core.conversations.all_messages(summary.id) if m.parent_id == path[0].id
        ]
        assert sorted(m.content for m in siblings) == ["A llama.cpp model format.", "A model file."]
    finally:
        core.close()


def test_a_bad_file_is_refused_and_nothing_is_stored(paths: AppPaths, tmp_path: Path) -> None:
    cases = {
        "notes.txt": ("hello", "not JSON"),
        "other.json": ('{"a": 1}', "neither a DesktopChat export nor a ChatGPT"),
        "future.json": ('{"format": "desktopchat-conversations", "version": 9}', "version 9"),
        "broken.json": (
            json.dumps(
                {
                    "format": "desktopchat-conversations",
                    "version": 1,
                    "conversations": [
                        {
                            "title": "t",
                            "created_at": 1,
                            "updated_at": 1,
                            "messages": [
                                {
                                    "id": 2,
                                    "parent_id": 1,
                                    "role": "user",
                                    "content": "x",
                                    "status": "complete",
                                    "created_at": 1,
                                }
                            ],
                        }
                    ],
                }
            ),
            "no parent",
        ),
    }
    for name, (content, reason) in cases.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        done = run_cli(home_of(paths), "import", str(path))
        assert done.returncode == 1 and reason in done.stderr, (name, done.stderr)
    listed = run_cli(home_of(paths), "conversations", "list", "--json")
    assert json.loads(listed.stdout) == []
