"""The CLI as users run it: a subprocess with DESKTOPCHAT_HOME pointing at an empty folder."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from desktopchat import __version__
from tests.processes import run_cli as run


def assert_clean_failure(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("desktopchat: ")
    assert message in lines[0], lines[0]


def test_version(tmp_path: Path) -> None:
    result = run(tmp_path, "--version")
    assert result.returncode == 0 and result.stdout.strip() == f"DesktopChat {__version__}"


def test_bench_is_reachable_from_the_cli(tmp_path: Path) -> None:
    result = run(tmp_path, "bench", "--help")  # the benchmark's own options
    assert result.returncode == 0, result.stderr
    assert "--batch-sizes" in result.stdout and "--model" in result.stdout


@pytest.mark.real_model
def test_chat_then_show(tmp_path: Path) -> None:
    home = tmp_path / "empty-home"
    result = run(home, "chat", "--max-tokens", "40", "Name three colors.")
    assert result.returncode == 0, result.stderr
    reply = result.stdout.strip()
    assert reply
    assert (home / "data" / "desktopchat.sqlite3").is_file()
    shown = run(home, "conversations", "show", "1")
    assert shown.returncode == 0
    assert "Name three colors." in shown.stdout
    assert reply[:40] in shown.stdout
    listed = run(home, "conversations", "list", "--json")
    assert json.loads(listed.stdout)[0]["message_count"] == 2


@pytest.mark.real_model
def test_chat_json_and_continue(tmp_path: Path) -> None:
    first = run(
        tmp_path,
        "chat",
        "--json",
        "--seed",
        "3",
        "--max-tokens",
        "20",
        "--system",
        "You are terse.",
        "Say hi.",
    )
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert set(data) >= {
        "conversation_id",
        "user_message_id",
        "assistant_message_id",
        "reply",
        "finish_reason",
        "time_to_first_token",
        "tokens_per_second",
    }
    assert data["finish_reason"] in ("stop", "length") and data["seed"] == 3
    second = run(
        tmp_path,
        "chat",
        "--json",
        "--max-tokens",
        "10",
        "--conversation",
        str(data["conversation_id"]),
        "And again?",
    )
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["conversation_id"] == data["conversation_id"]
    assert again["prompt_tokens"] > data["prompt_tokens"]  # the history is in the prompt
    shown = json.loads(run(tmp_path, "conversations", "show", "1", "--json").stdout)
    assert [m["role"] for m in shown["messages"]] == ["user", "assistant"] * 2
    assert shown["params"]["system_prompt"] == "You are terse."


def test_models_list_and_import(tmp_path: Path, starter_model: Path) -> None:
    listed = run(tmp_path, "models", "list", "--json")
    models = json.loads(listed.stdout)
    assert models[0]["source"] == "starter" and models[0]["quantization"] == "Q4_1"
    assert models[0]["chat_template"] is True
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    copy = outside / "my-model.Q4_1.gguf"
    copy.write_bytes(starter_model.read_bytes())
    imported = run(tmp_path, "models", "import", str(copy))
    assert imported.returncode == 0, imported.stderr
    paths = [m["path"] for m in json.loads(run(tmp_path, "models", "list", "--json").stdout)]
    assert str(copy) in paths  # kept in place, not copied
    assert not list((tmp_path / "models").glob("*.gguf"))


def test_bad_inputs_fail_cleanly(tmp_path: Path) -> None:
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("just some text, not a model")
    assert_clean_failure(run(tmp_path, "models", "import", str(not_gguf)), "not a GGUF model")
    assert_clean_failure(
        run(tmp_path, "chat", "--model", str(not_gguf), "hello"), "not a GGUF model"
    )
    assert_clean_failure(run(tmp_path, "chat", "   "), "empty")
    assert_clean_failure(run(tmp_path, "chat", "--model", "no-such-model", "hi"), "No installed")
    assert_clean_failure(run(tmp_path, "conversations", "show", "42"), "no conversation 42")
    assert_clean_failure(run(tmp_path, "chat", "--temperature", "9", "hi"), "temperature")


@pytest.mark.real_model
def test_truncated_model_and_too_long_prompt(tmp_path: Path, starter_model: Path) -> None:
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(starter_model.read_bytes()[:20_000_000])
    assert_clean_failure(run(tmp_path, "chat", "--model", str(truncated), "hi"), "truncated")
    too_long = "word " * 3000
    assert_clean_failure(
        run(tmp_path, "chat", "--context", "1024", too_long), "too long for the context"
    )
    listed = json.loads(run(tmp_path, "conversations", "list", "--json").stdout)
    assert all(c["message_count"] == 0 for c in listed)  # nothing half-stored


def test_unreadable_and_locked_database(tmp_path: Path) -> None:
    run(tmp_path, "conversations", "list")
    database = tmp_path / "data" / "desktopchat.sqlite3"
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = run(tmp_path, "chat", "hi", timeout=60)
        assert_clean_failure(result, "locked")
    finally:
        holder.close()
    bad_home = tmp_path / "bad"
    (bad_home / "data").mkdir(parents=True)
    (bad_home / "data" / "desktopchat.sqlite3").write_bytes(b"garbage" * 1000)
    assert_clean_failure(run(bad_home, "conversations", "list"), "damaged")


def test_about_names_the_version_backend_starter_model_and_licences(tmp_path: Path) -> None:
    result = run(tmp_path, "about", "--json")
    assert result.returncode == 0, result.stderr
    about = json.loads(result.stdout)
    assert about["version"] == __version__
    assert about["backend"].startswith("CPU") and about["backends"] == ["CPU"]
    assert about["starter_model"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert about["folders"]["data"] == str(tmp_path / "data")
    assert about["keychain"]["available"] in (True, False)
    names = [c["name"] for c in about["components"]]
    assert names[0] == "desktopchat" and "Qt" in names and "llama.cpp" in names
    text = run(tmp_path, "about").stdout
    assert text.startswith(f"DesktopChat {__version__}") and "Backend: CPU" in text
    licences = run(tmp_path, "about", "--licences").stdout
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in licences and "ggml authors" in licences
