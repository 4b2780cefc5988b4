"""`desktopchat chat` as scripts use it, on the real starter model (SmolLM2) and Gemma 3:
every per-chat setting reaches the engine and is stored like the window stores it,
presets, JSON output constrained to a schema, the prompt from standard input, the model a
continued conversation uses, and one-line failures for bad values."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jsonschema
import pytest

from desktopchat.core.chat import GenerationParams, Role
from desktopchat.core.paths import AppPaths
from desktopchat.core.presets import BUILTIN_PRESETS, Preset
from desktopchat.core.session import Core, open_core
from tests.core.test_cli import assert_clean_failure
from tests.processes import run_cli


def chat(home: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """``desktopchat chat ARGS`` with ``stdin`` as its standard input (bytes, as a pipe
    gives them)."""
    env = dict(os.environ, DESKTOPCHAT_HOME=str(home))
    done = subprocess.run(
        [sys.executable, "-m", "desktopchat", "chat", *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=env,
        timeout=180,
        check=False,
    )
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def chat_json(home: Path, *args: str, stdin: bytes | None = None) -> dict[str, object]:
    result = chat(home, "--json", *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


@contextmanager
def stored(home: Path) -> Iterator[Core]:
    core = open_core(AppPaths.under(home))
    try:
        yield core
    finally:
        core.close()


@pytest.mark.real_model
def test_every_setting_reaches_the_engine_and_stays_with_the_conversation(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    (tmp_path / "system.txt").write_text("You answer in one word.\n", encoding="utf-8")
    (tmp_path / "examples.txt").write_text("User: Sky?\nAssistant: Blue.\n", encoding="utf-8")
    data = chat_json(
        home,
        "--system-file",
        str(tmp_path / "system.txt"),
        "--examples-file",
        str(tmp_path / "examples.txt"),
        "--temperature",
        "0.3",
        "--top-k",
        "7",
        "--top-p",
        "0.5",
        "--min-p",
        "0.2",
        "--repeat-penalty",
        "1.3",
        "--max-tokens",
        "8",
        "--seed",
        "5",
        "--context",
        "1024",
        "--threads",
        "1",
        "--gpu-layers",
        "0",
        "--flash-attn",
        "--kv-cache",
        "q8_0",
        "--overflow",
        "stop",
        "-",  # the message comes from standard input
        stdin="Grass? Ünïcode ✓\n".encode(),
    )
    expected = GenerationParams(
        system_prompt="You answer in one word.\n",
        examples=(("Sky?", "Blue."),),
        temperature=0.3,
        top_k=7,
        top_p=0.5,
        min_p=0.2,
        repeat_penalty=1.3,
        max_tokens=8,
        seed=5,
        n_ctx=1024,
        n_threads=1,
        n_gpu_layers=0,
        flash_attn=True,
        kv_cache_type="q8_0",
        overflow="stop",
    )
    assert data["seed"] == 5
    with stored(home) as core:
        conversation = core.conversations.get(int(str(data["conversation_id"])))
        assert conversation.params == expected  # stored with the new conversation
        user, reply = core.conversations.active_path(conversation.id)
        assert user.content == "Grass? Ünïcode ✓"  # UTF-8 from the pipe, final newline dropped
        assert reply.stats is not None and reply.stats.context_size == 1024
        assert reply.stats.seed == 5
        record = core.conversations.prompt_for(reply.id)
        assert record is not None and record.params == expected  # what the engine was given
        assert "You answer in one word." in record.text and "Sky?" in record.text
        assert "Blue." in record.text
    # Continued: only what is given changes; the rest stays the conversation's own.
    again = chat_json(home, "--conversation", "1", "--top-k", "3", "And water?")
    assert again["conversation_id"] == 1
    with stored(home) as core:
        assert core.conversations.get(1).params == expected.with_changes(top_k=3)
        last = core.conversations.active_path(1)[-1]
        record = core.conversations.prompt_for(last.id)
        assert record is not None and record.params.top_k == 3 and record.params.min_p == 0.2


@pytest.mark.real_model
def test_presets_shipped_and_saved_with_flags_overriding_them(tmp_path: Path) -> None:
    home = tmp_path / "home"
    translator = next(p for p in BUILTIN_PRESETS if p.builtin == "translator")
    chat_json(home, "--preset", "TRANSLATOR", "--temperature", "0.9", "--max-tokens", "4", "Hallo")
    with stored(home) as core:
        params = core.conversations.get(1).params
        assert params.system_prompt == translator.params.system_prompt
        assert params.temperature == 0.9  # the flag, not the preset's 0.2
        pirate = GenerationParams(system_prompt="Talk like a pirate.", top_k=11)
        core.presets.save(Preset(0, "Pirate talk", pirate))
    chat_json(home, "--preset", "pirate talk", "--max-tokens", "4", "Ahoy")
    with stored(home) as core:
        params = core.conversations.get(2).params
        assert params.system_prompt == "Talk like a pirate." and params.top_k == 11
        record = core.conversations.prompt_for(core.conversations.active_path(2)[-1].id)
        assert record is not None and "Talk like a pirate." in record.text


@pytest.mark.real_model
def test_json_output_follows_the_schema(tmp_path: Path) -> None:
    home = tmp_path / "home"
    schema = {
        "type": "object",
        "properties": {"color": {"type": "string"}, "count": {"type": "integer"}},
        "required": ["color", "count"],
    }
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(schema), encoding="utf-8")
    data = chat_json(
        home,
        "--json-schema",
        str(schema_file),
        "--temperature",
        "0",
        "--max-tokens",
        "80",
        "What color is grass, and how many legs has a cat? Answer in JSON.",
    )
    assert data["finish_reason"] == "stop", data
    jsonschema.validate(json.loads(str(data["reply"])), schema)
    with stored(home) as core:
        params = core.conversations.get(1).params
        assert params.json_mode and json.loads(params.json_schema) == schema
    # Plain text output: stdout is the JSON itself, ready for a pipe.
    plain = chat(
        home,
        "--json-mode",
        "--temperature",
        "0",
        "--max-tokens",
        "120",
        "--system",
        "Reply with a short JSON object.",
        'Say {"ok": true}',
    )
    assert plain.returncode == 0, plain.stderr
    assert "before its JSON was complete" not in plain.stderr
    json.loads(plain.stdout)


@pytest.mark.real_model
def test_a_continued_conversation_answers_with_its_own_model(
    tmp_path: Path, gemma_model: Path
) -> None:
    home = tmp_path / "home"
    gemma = tmp_path / "models" / "gemma-3-270m.gguf"
    gemma.parent.mkdir()
    try:
        os.link(gemma_model, gemma)  # the test removes it later: not the shared copy
    except OSError:
        shutil.copyfile(gemma_model, gemma)
    first = chat_json(home, "--model", str(gemma), "--max-tokens", "4", "Hello")
    assert first["model_path"] == str(gemma)
    again = chat_json(home, "--conversation", "1", "--max-tokens", "4", "Once more")
    assert again["model_path"] == str(gemma)  # not the starter model
    with stored(home) as core:
        replies = [m for m in core.conversations.active_path(1) if m.role is Role.ASSISTANT]
        assert len(replies) == 2 and replies[0].model == replies[1].model
        record = core.conversations.prompt_for(replies[1].id)
        assert record is not None and record.model == replies[0].model
        gemma_name = replies[0].model
    gemma.unlink()
    fallback = chat(home, "--json", "--conversation", "1", "--max-tokens", "4", "And now?")
    assert fallback.returncode == 0, fallback.stderr
    assert "is not installed" in fallback.stderr and gemma.name in fallback.stderr
    assert json.loads(fallback.stdout)["model"] == "SmolLM2-135M-Instruct"
    with stored(home) as core:
        last = core.conversations.active_path(1)[-1]
        assert last.model != gemma_name and "SmolLM2" in last.model


def test_bad_values_fail_in_one_line_before_anything_is_stored(tmp_path: Path) -> None:
    home = tmp_path / "home"
    not_object = tmp_path / "list.json"
    not_object.write_text("[1, 2]", encoding="utf-8")
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": ', encoding="utf-8")
    wrong_type = tmp_path / "wrong.json"
    wrong_type.write_text(
        '{"type": "object", "properties": {"a": {"type": "strin"}}}', encoding="utf-8"
    )
    bad_examples = tmp_path / "examples.txt"
    bad_examples.write_text("User: only a question\n", encoding="utf-8")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9".encode("latin-1"))
    cases: list[tuple[list[str], str]] = [
        (["--top-p", "2", "hi"], "top-p must be between 0 and 1"),
        (["--min-p", "-0.5", "hi"], "min-p must be between 0 and 1"),
        (["--top-k", "-1", "hi"], "top-k"),
        (["--repeat-penalty", "0", "hi"], "repeat penalty"),
        (["--gpu-layers", "-3", "hi"], "GPU layers"),
        (["--kv-cache", "q8_0", "hi"], "needs flash attention"),
        (["--kv-cache", "q3", "--flash-attn", "hi"], "KV cache type must be one of"),
        (["--overflow", "sometimes", "hi"], "overflow policy"),
        (["--top-k", "many", "hi"], "invalid int value"),
        (["--system", "a", "--system-file", str(latin1), "hi"], "not allowed with"),
        (["--system-file", str(tmp_path / "missing.txt"), "hi"], "does not exist"),
        (["--system-file", str(latin1), "hi"], "not UTF-8"),
        (["--examples-file", str(bad_examples), "hi"], "Assistant:"),
        (["--json-schema", str(tmp_path / "nope.json"), "hi"], "does not exist"),
        (["--json-schema", str(broken), "hi"], "not valid JSON"),
        (["--json-schema", str(not_object), "hi"], "must be a JSON object"),
        (["--json-schema", str(wrong_type), "hi"], "'strin' at a, which is not a JSON type"),
        (["--json-schema", str(wrong_type), "--no-json-mode", "hi"], "--no-json-mode"),
        (["--preset", "no such preset", "hi"], "There is no preset 'no such preset'"),
        (["-"], "empty"),
    ]
    for args, message in cases:
        assert_clean_failure(chat(home, *args), message)
    bad_stdin = chat(home, "-", stdin=b"caf\xe9 \xff\n")
    assert_clean_failure(bad_stdin, "Standard input is not UTF-8 text")
    listed = run_cli(home, "conversations", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


def test_import_takes_a_chatgpt_zip_as_downloaded(tmp_path: Path) -> None:
    home = tmp_path / "home"
    conversation = {
        "title": "From ChatGPT",
        "create_time": 1_700_000_000.0,
        "current_node": "b",
        "default_model_slug": "gpt-4o",
        "mapping": {
            "a": {
                "id": "a",
                "parent": None,
                "children": ["b"],
                "message": {
                    "author": {"role": "user"},
                    "content": {"content_type": "text", "parts": ["Hi there"]},
                    "create_time": 1_700_000_000.0,
                },
            },
            "b": {
                "id": "b",
                "parent": "a",
                "children": [],
                "message": {
                    "author": {"role": "assistant"},
                    "content": {"content_type": "text", "parts": ["Hello!"]},
                    "create_time": 1_700_000_001.0,
                },
            },
        },
    }
    export = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(export, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations-000.json", json.dumps([conversation]))
        # a conversation with nothing to import is reported, not a reason to refuse the file
        empty = {"title": "Empty one", "conversation_id": "c-2", "create_time": 1_700_000_500.0}
        archive.writestr("conversations-001.json", json.dumps([empty]))
        archive.writestr("export_manifest.json", "{}")
    result = run_cli(home, "import", str(export))
    assert result.returncode == 0, result.stderr
    assert "Imported 1 conversations (2 messages)" in result.stdout
    assert "left out “Empty one”" in result.stderr
    shown = run_cli(home, "conversations", "show", "1")
    assert "Hi there" in shown.stdout and "Hello!" in shown.stdout
