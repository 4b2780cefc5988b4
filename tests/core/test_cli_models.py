"""`desktopchat models search|files|download|remove` and `desktopchat token`, as a user
runs them, against a local Hub on 127.0.0.1 (HF_ENDPOINT)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub_server import GRANTED_TOKEN, HostedFile, HostedRepo, HubState, LocalHub, serve_hub
from tests.processes import run_cli

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

REPO = "test/SmolLM2-135M-Instruct-GGUF"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture
def local_hub(starter_model: Path) -> Iterator[LocalHub]:
    state = HubState()
    state.add(HostedRepo(REPO, [HostedFile(FILE, starter_model)], downloads=10))
    state.add(HostedRepo("test/Gated-GGUF", [HostedFile("g-Q4_0.gguf", b"G" * 900)], "manual"))
    with serve_hub(state) as served:
        yield served


def hub_env(local_hub: LocalHub, base: dict[str, str] | None = None) -> dict[str, str]:
    return dict(base or os.environ, HF_ENDPOINT=local_hub.url)


def test_search_and_files_with_fit_verdicts(local_hub: LocalHub, tmp_path: Path) -> None:
    env = hub_env(local_hub)
    found = run_cli(tmp_path, "models", "search", "smollm2", "--json", env=env)
    assert found.returncode == 0, found.stderr
    assert [r["repo_id"] for r in json.loads(found.stdout)] == [REPO]
    files = run_cli(tmp_path, "models", "files", REPO, "--json", env=env)
    assert files.returncode == 0, files.stderr
    (entry,) = json.loads(files.stdout)
    assert entry["name"] == FILE and entry["quantization"] == "Q4_1"
    assert entry["fits"] is True and entry["fit"].startswith("CPU only")
    assert not entry["estimated_from_size"], "read from the header by Range requests"
    text = run_cli(tmp_path, "models", "files", REPO, env=env)
    assert "Q4_1" in text.stdout and "CPU only" in text.stdout


def test_a_killed_download_continues_when_run_again(
    local_hub: LocalHub, tmp_path: Path, starter_model: Path
) -> None:
    local_hub.state.throttle = 0.01  # ~25 MB/s: time to kill it part-way
    env = hub_env(local_hub, dict(os.environ, DESKTOPCHAT_HOME=str(tmp_path)))
    first = subprocess.Popen(
        [sys.executable, "-m", "desktopchat", "models", "download", REPO, FILE],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    partials = tmp_path / "cache" / "downloads"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sizes = [p.stat().st_size for p in partials.glob("*.part")] if partials.is_dir() else []
        if sizes and sizes[0] > 10_000_000:
            break
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    (partial,) = partials.glob("*.part")
    kept = partial.stat().st_size
    assert 10_000_000 < kept < starter_model.stat().st_size
    local_hub.state.throttle = 0.0
    again = run_cli(tmp_path, "models", "download", REPO, FILE, env=env)
    assert again.returncode == 0, again.stderr
    assert "Downloaded and verified" in again.stdout and "100%" in again.stderr
    last = [h.get("range") for _p, h in local_hub.requests_to("cdn")][-1]
    assert last is not None and int(last.removeprefix("bytes=").rstrip("-")) >= kept - 2**20
    installed = tmp_path / "models" / "test" / "SmolLM2-135M-Instruct-GGUF" / FILE
    assert installed.read_bytes() == starter_model.read_bytes()
    listed = run_cli(tmp_path, "models", "list", "--json", env=env)
    (entry,) = [m for m in json.loads(listed.stdout) if m["path"] == str(installed)]
    assert entry["usable"] and entry["source"] == "downloaded"
    removed = run_cli(tmp_path, "models", "remove", str(installed), env=env)
    assert removed.returncode == 0 and "freed" in removed.stdout
    assert not installed.exists()


def test_gated_downloads_explain_what_to_do(local_hub: LocalHub, tmp_path: Path) -> None:
    result = run_cli(
        tmp_path, "models", "download", "test/Gated-GGUF", "g-Q4_0.gguf", env=hub_env(local_hub)
    )
    assert result.returncode == 1
    assert (
        "accept its licence" in result.stderr
        and f"{local_hub.url}/test/Gated-GGUF" in result.stderr
    )


def test_offline_mode_refuses_before_connecting(local_hub: LocalHub, tmp_path: Path) -> None:
    (tmp_path / "config").mkdir(parents=True)
    (tmp_path / "config" / "settings.json").write_text(json.dumps({"offline_mode": True}))
    result = run_cli(tmp_path, "models", "search", "smollm2", env=hub_env(local_hub))
    assert result.returncode == 1 and "Offline mode is on" in result.stderr
    assert not local_hub.requests_to("api")


def test_the_token_goes_to_the_keychain_and_nowhere_else(
    local_hub: LocalHub, keychain: dict[str, str], tmp_path: Path
) -> None:
    env = hub_env(local_hub, keychain)
    home = tmp_path / "home"
    assert "No Hugging Face token" in run_cli(home, "token", "status", env=env).stdout
    stored = subprocess.run(
        [sys.executable, "-m", "desktopchat", "token", "set"],
        input=GRANTED_TOKEN + "\n",
        capture_output=True,
        text=True,
        env=dict(env, DESKTOPCHAT_HOME=str(home)),
        timeout=60,
        check=False,
    )
    assert stored.returncode == 0, stored.stderr
    assert "Signed in as granted-user" in stored.stdout
    assert "Signed in as granted-user" in run_cli(home, "token", "status", env=env).stdout
    gated = run_cli(home, "models", "download", "test/Gated-GGUF", "g-Q4_0.gguf", env=env)
    assert gated.returncode == 0, gated.stderr
    for path in home.rglob("*"):
        if path.is_file():
            assert GRANTED_TOKEN.encode() not in path.read_bytes(), path
    assert run_cli(home, "token", "clear", env=env).returncode == 0
    assert "No Hugging Face token" in run_cli(home, "token", "status", env=env).stdout
