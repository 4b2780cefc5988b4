"""Export and import, as users run them (the CLI on real SQLite files): our JSON round
trip loses nothing (branches, settings, stats, times), Markdown and HTML show the active
branch, a ChatGPT export comes in with its branches (conversations.json, and the .zip of
2025-2026 as downloaded, with reasoning, code, tool output, images and voice as text),
conversations with nothing to import are reported, damaged and hostile archives are
refused with nothing stored, and search finds imported messages."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import pytest

from desktopchat.core import exchange
from desktopchat.core.chat import (
    Conversation,
    GenerationParams,
    GenerationStats,
    Message,
    MessageStatus,
    Role,
)
from desktopchat.core.exchange import Skipped
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


# -- ChatGPT's data export of 2025-2026: the .zip as downloaded ---------------------------

EXPORT = Path(__file__).parent.parent / "data" / "exchange"


def chatgpt_zip(target: Path, extra: dict[str, bytes] | None = None) -> Path:
    """The archive as ChatGPT sends it: numbered conversation parts, the manifest, the
    viewer, account files, an uploaded photo and a generated image in a user folder."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("conversations-000.json", "conversations-001.json", "export_manifest.json"):
            archive.write(EXPORT / name, name)
        archive.writestr("chat.html", "<html><script>var jsonData = [];</script></html>")
        archive.writestr("user.json", json.dumps({"id": "user-Xy12", "email": "a@b.c"}))
        archive.writestr("message_feedback.json", "[]")
        archive.writestr("file-Kq7XcatPhoto12-IMG_2041.jpeg", b"\xff\xd8\xff\xe0 not a real jpeg")
        archive.writestr("user-Xy12/file_00000000c0ffee11-9b2e.png", b"\x89PNG not real")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return target


def by_title(paths: AppPaths) -> dict[str, tuple[Conversation, list[Message], list[Message]]]:
    core = open_core(paths)
    try:
        return {
            s.title: (
                core.conversations.get(s.id),
                core.conversations.all_messages(s.id),
                core.conversations.active_path(s.id),
            )
            for s in core.conversations.summaries("")
        }
    finally:
        core.close()


def test_a_chatgpt_zip_comes_in_as_downloaded(paths: AppPaths, tmp_path: Path) -> None:
    source = chatgpt_zip(tmp_path / "a1b2c3-2026-11-30-09-12-44-d4e5f6.zip")
    done = run_cli(home_of(paths), "import", str(source))
    assert done.returncode == 0, done.stderr
    assert "Imported 3 conversations (10 messages)" in done.stdout
    found = by_title(paths)
    assert set(found) == {"Cat breed from a photo", "Primes below 50", "Lighthouse picture"}

    cat, cat_all, cat_path = found["Cat breed from a photo"]
    assert cat.created_at == 1767225600.0 and cat.updated_at == 1767225600.0 + 600.25
    # The custom instructions (a hidden user_editable_context) are the system prompt.
    assert "I am a vet in Lyon." in cat.params.system_prompt
    assert "Be brief." in cat.params.system_prompt
    assert [m.content for m in cat_path] == [
        "[image: file-Kq7XcatPhoto12-IMG_2041.jpeg]\nWhat breed is this cat?\n"
        "[file: vet-notes.pdf]",
        "A Chartreux: blue-grey coat, copper eyes.",
        "Is it a healthy weight?",  # a voice message: its transcription, no "[audio]"
        "From the photo it looks healthy.",
    ]
    assert [m.model for m in cat_path] == ["", "gpt-4o-mini", "", "gpt-4o"]
    # The first answer, regenerated, is the current answer's sibling: one of our branches.
    first = [m for m in cat_all if m.parent_id == cat_path[0].id]
    assert [m.content for m in first] == [
        "It looks like a British Shorthair "
        "([Wikipedia](https://en.wikipedia.org/wiki/British_Shorthair)).",
        "A Chartreux: blue-grey coat, copper eyes.",
    ]
    assert first[0].model == "gpt-4o" and first[0].finish_reason == "stop"
    assert not any("\ue200" in m.content or "\ue201" in m.content for m in cat_all)

    _primes, primes_all, primes_path = found["Primes below 50"]
    assert len(primes_path) == 2 and primes_path[1].model == "o3"
    answer = primes_path[1].content
    # A reasoning model's reply: its thoughts are the message's reasoning (the recap, "Thought
    # for 12s", only stands in when there are none); code, its output, a quote and the
    # answer are its content, in that order.
    reasoning = primes_path[1].reasoning
    assert reasoning.startswith("**Planning the check**")
    assert "I will sieve up to 50 in Python." in reasoning and "**Verifying**" in reasoning
    assert "[Thinking]" not in answer and "Thought for 12s" not in answer
    order = [
        "```python\nprint([n for n in range(2, 50) if all(n % d for d in range(2, n))])\n```",
        "[output]\n```\n[2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47]\n```",
        "> A prime number is a natural number greater than 1",
        "> — Prime number - Wikipedia",
        "There are 15 primes below 50, from 2 to 47.",
    ]
    assert [answer.index(part) for part in order] == sorted(answer.index(p) for p in order)
    assert "search_query" not in answer and "Search results" not in answer  # tool calls
    # The answer regenerated after the recap is a sibling that shares the thinking.
    siblings = [m for m in primes_all if m.parent_id == primes_path[0].id]
    assert len(siblings) == 2
    other = next(m for m in siblings if m.id != primes_path[1].id)
    assert other.reasoning == reasoning and "[Thinking]" not in other.content
    assert other.content.endswith(
        "Fifteen: 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47."
    )
    assert "```python" not in other.content and other.finish_reason == "length"

    _light, _light_all, light_path = found["Lighthouse picture"]
    assert [m.content for m in light_path] == [
        "Draw a lighthouse at dusk.",
        "[image: file_00000000c0ffee11-9b2e.png — A lighthouse at dusk, warm light]\n\n"
        "Here is your lighthouse at dusk.",
    ]
    assert light_path[1].status == MessageStatus.STOPPED and light_path[1].model == "gpt-4o"

    # Imported conversations are found by search and come out of every export.
    hits = json.loads(run_cli(home_of(paths), "search", "Chartreux", "--json").stdout)
    assert [h["title"] for h in hits] == ["Cat breed from a photo"]
    out = tmp_path / "again.json"
    assert run_cli(home_of(paths), "export", "--format", "json", str(out)).returncode == 0
    fresh = AppPaths.under(tmp_path / "fresh")
    assert run_cli(home_of(fresh), "import", str(out)).returncode == 0
    assert snapshot(fresh) == snapshot(paths)
    page = tmp_path / "all.md"
    assert run_cli(home_of(paths), "export", "--format", "md", str(page)).returncode == 0
    text = page.read_text(encoding="utf-8")
    assert "## Assistant (stopped)\n\n[image: file_00000000c0ffee11-9b2e.png" in text
    assert "> I am a vet in Lyon." not in text and "I am a vet in Lyon." in text


def test_the_result_says_what_was_skipped_and_why(paths: AppPaths, tmp_path: Path) -> None:
    source = chatgpt_zip(tmp_path / "export.zip")
    core = open_core(paths)
    try:
        result = exchange.import_file(core.conversations, source)
    finally:
        core.close()
    ids, count = result  # unpacks as before
    assert len(ids) == 3 and count == 10
    assert result.skipped == (
        Skipped("Shared from a link", "without a message tree"),
        Skipped("New chat", "with only hidden or system messages"),
    )
    assert result.summary() == (
        "Imported 3 conversations (10 messages); 2 conversations left out: "
        "1 without a message tree, 1 with only hidden or system messages."
    )


def test_one_conversation_without_mapping_no_longer_refuses_the_file(
    paths: AppPaths, tmp_path: Path
) -> None:
    """The 2025-2026 defect: one conversation without `mapping` made the file refused."""
    good = chatgpt_export()
    source = tmp_path / "conversations.json"
    source.write_text(
        json.dumps([{"title": "Gone", "create_time": 1.0, "mapping": None}, *good, {}, None]),
        encoding="utf-8",
    )
    done = run_cli(home_of(paths), "import", str(source))
    assert done.returncode == 0, done.stderr
    assert "Imported 1 conversations (5 messages)" in done.stdout
    assert list(by_title(paths)) == ["GGUF question"]


def test_a_file_with_nothing_to_import_says_why(paths: AppPaths, tmp_path: Path) -> None:
    source = tmp_path / "conversations-000.json"
    members = json.loads((EXPORT / "conversations-000.json").read_text(encoding="utf-8"))
    source.write_text(json.dumps(members[1:]), encoding="utf-8")  # the two empty ones
    done = run_cli(home_of(paths), "import", str(source))
    assert done.returncode == 1
    assert "Nothing in conversations-000.json could be imported" in done.stderr
    assert "1 without a message tree" in done.stderr and "“New chat”" in done.stderr
    assert by_title(paths) == {}


def test_both_layouts_in_one_archive_import_each_conversation_once(
    paths: AppPaths, tmp_path: Path
) -> None:
    """An archive holding the old conversations.json beside the numbered parts."""
    both = [
        *json.loads((EXPORT / "conversations-000.json").read_text(encoding="utf-8")),
        *json.loads((EXPORT / "conversations-001.json").read_text(encoding="utf-8")),
    ]
    source = chatgpt_zip(
        tmp_path / "export.zip",
        {
            "conversations.json": json.dumps(both).encode(),
            "__MACOSX/._conversations-000.json": b"\0\5\26\7 resource fork",
        },
    )
    done = run_cli(home_of(paths), "import", str(source))
    assert done.returncode == 0, done.stderr
    assert "Imported 3 conversations (10 messages)" in done.stdout


def test_a_fork_inside_a_reply_keeps_both_branches_whole() -> None:
    """A regeneration that branches after the thoughts: both answers keep them."""
    mapping = {
        "u": {
            "parent": None,
            "message": {
                "author": {"role": "user"},
                "content": {"content_type": "text", "parts": ["q"]},
            },
        },
        "t": {
            "parent": "u",
            "message": {
                "author": {"role": "assistant"},
                "content": {
                    "content_type": "thoughts",
                    "thoughts": [{"summary": "s", "content": "c"}],
                },
            },
        },
        "a": {
            "parent": "t",
            "message": {
                "author": {"role": "assistant"},
                "content": {"content_type": "text", "parts": ["one"]},
            },
        },
        "b": {
            "parent": "t",
            "message": {
                "author": {"role": "assistant"},
                "content": {"content_type": "text", "parts": ["two"]},
            },
        },
        "u2": {
            "parent": "a",
            "message": {
                "author": {"role": "user"},
                "content": {"content_type": "text", "parts": ["more"]},
            },
        },
    }
    text = json.dumps(
        [
            {
                "title": "t",
                "mapping": mapping,
                "current_node": "b",
                "default_model_slug": "gpt-5-thinking",
            }
        ]
    )
    [(conversation, messages)] = exchange.parse(text)
    thinking = "**s**\nc"
    assert [(m.id, m.parent_id, m.content, m.reasoning, m.model) for m in messages] == [
        (1, None, "q", "", ""),
        (2, 1, "one", thinking, "gpt-5-thinking"),
        (3, 1, "two", thinking, "gpt-5-thinking"),
        (4, 2, "more", "", ""),
    ]
    assert conversation.active_leaf_id == 3


def test_bad_archives_are_refused_and_nothing_is_stored(paths: AppPaths, tmp_path: Path) -> None:
    whole = chatgpt_zip(tmp_path / "whole.zip").read_bytes()
    bomb = tmp_path / "bomb.zip"
    with (
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("conversations-000.json", "w") as member,
    ):
        member.write(b"[" + b" " * (64 << 20) + b"]")  # 64 MiB that pack into 64 KiB
    lying = tmp_path / "lying.zip"
    lying.write_bytes(_shrink_declared_size(whole, "conversations-001.json"))
    cases = {
        "truncated.zip": (whole[: len(whole) // 2], "not a readable zip archive"),
        "random.zip": (bytes(range(256)) * 40, "not a readable zip archive"),
        "flipped.zip": (_flip_a_byte_inside(whole, "conversations-000.json"), "damaged"),
        "empty.zip": (_zip({"notes.txt": b"hello"}), "holds no conversations.json"),
        "latin1.zip": (
            _zip({"conversations-000.json": '[{"title": "Café"}]'.encode("latin-1")}),
            "conversations-000.json in latin1.zip is not UTF-8 text (byte 0xe9 at position 15)",
        ),
        "text.zip": (_zip({"conversations-000.json": b"hello"}), "is not JSON"),
        "latin1.json": ('[{"title": "Café"}]'.encode("latin-1"), "is not UTF-8 text"),
    }
    for name, (content, _reason) in cases.items():
        (tmp_path / name).write_bytes(content)
    cases["bomb.zip"] = (b"", "looks like a zip bomb")
    cases["lying.zip"] = (b"", "download the export again")
    for name, (_content, reason) in cases.items():
        done = run_cli(home_of(paths), "import", str(tmp_path / name))
        assert done.returncode == 1 and reason in done.stderr, (name, done.stderr)
        assert "Traceback" not in done.stderr
    assert by_title(paths) == {}


def test_a_member_over_the_size_limit_is_not_read(paths: AppPaths, tmp_path: Path) -> None:
    """A huge member (here: huge for the limit the test sets) is refused from its
    declared size, and one that lies about its size is stopped while it is read."""
    source = chatgpt_zip(tmp_path / "export.zip")
    core = open_core(paths)
    try:
        small = exchange.Limits(file_bytes=12_000)  # conversations-001.json is 13 kB
        with pytest.raises(exchange.ExchangeError, match=r"conversations-001\.json .* more than"):
            exchange.import_file(core.conversations, source, limits=small)
        total = exchange.Limits(total_bytes=20_000)
        with pytest.raises(exchange.ExchangeError, match=r"more than the 19\.5 KiB"):
            exchange.import_file(core.conversations, source, limits=total)
        plain = tmp_path / "conversations.json"
        plain.write_text(json.dumps(chatgpt_export()), encoding="utf-8")
        with pytest.raises(exchange.ExchangeError, match="more than the 100 bytes"):
            exchange.import_file(core.conversations, plain, limits=exchange.Limits(file_bytes=100))
        assert core.conversations.summaries("") == []
    finally:
        core.close()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _flip_a_byte_inside(archive: bytes, name: str) -> bytes:
    """The archive with one byte of ``name``'s packed data changed (a bad download)."""
    info = zipfile.ZipFile(io.BytesIO(archive)).getinfo(name)
    header = 30 + len(info.filename.encode()) + len(info.extra)
    at = info.header_offset + header + info.compress_size // 2
    return archive[:at] + bytes([archive[at] ^ 0xFF]) + archive[at + 1 :]


def _shrink_declared_size(archive: bytes, name: str) -> bytes:
    """The archive with ``name`` claiming, in both headers, to unpack to 100 bytes."""
    info = zipfile.ZipFile(io.BytesIO(archive)).getinfo(name)
    data = bytearray(archive)
    data[info.header_offset + 22 : info.header_offset + 26] = struct.pack("<I", 100)
    central = data.index(b"PK\x01\x02")
    while True:  # find the central directory entry of this member
        length = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46 : central + 46 + length]) == name.encode():
            break
        central = data.index(b"PK\x01\x02", central + 4)
    data[central + 24 : central + 28] = struct.pack("<I", 100)
    return bytes(data)


def test_a_canvas_is_kept_as_its_document_and_other_tool_calls_are_not() -> None:
    def node(parent: str | None, role: str, content: dict[str, object], to: str = "all") -> object:
        return {
            "parent": parent,
            "message": {"author": {"role": role}, "content": content, "recipient": to},
        }

    code = '{"name": "fib", "type": "code/python", "content": "def fib(n):\\n    ..."}'
    mapping = {
        "u": node(None, "user", {"content_type": "text", "parts": ["Write fib in a canvas"]}),
        "c": node(
            "u", "assistant", {"content_type": "code", "text": code}, "canmore.create_textdoc"
        ),
        "t": node(
            "c", "tool", {"content_type": "text", "parts": ["Successfully created text document"]}
        ),
        "m": node("t", "assistant", {"content_type": "text", "parts": ['{"memory": 1}']}, "bio"),
        "a": node("m", "assistant", {"content_type": "text", "parts": ["Done."]}),
    }
    [(_conversation, messages)] = exchange.parse(json.dumps([{"title": "t", "mapping": mapping}]))
    assert [m.content for m in messages] == [
        "Write fib in a canvas",
        "[canvas: fib]\n```python\ndef fib(n):\n    ...\n```\n\nDone.",
    ]
