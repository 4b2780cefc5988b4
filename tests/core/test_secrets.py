"""The token lives in the keychain and nowhere else; logs redact anything token-shaped.

The keychain tests use a real one: GNOME Keyring on a private D-Bus session (test.sh
installs both), in child processes so each sees a fresh keyring setup.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from desktopchat.core.secrets import (
    REDACTED,
    KeychainError,
    RedactingFormatter,
    SecretStore,
    redact,
    remember_secret,
)
from tests.processes import run_cli

TOKEN = "hf_TestTokenAbcdefGhijklMnopqrSTUVwxyz012"


def test_token_shapes_are_redacted() -> None:
    line = (
        f"GET https://huggingface.co/x?token=abcdefghijklmnopqrstuv&a=1 "
        f"Authorization: Bearer {TOKEN} and {TOKEN[::-1]}"
    )
    cleaned = redact(line)
    assert TOKEN not in cleaned and "abcdefghijklmnopqrstuv" not in cleaned
    assert cleaned.count(REDACTED) == 2 and "a=1" in cleaned
    assert redact("hf_short is not a token") == "hf_short is not a token"


def test_a_remembered_secret_is_redacted_whatever_its_shape() -> None:
    remember_secret("plain-words-secret")
    assert redact("it was plain-words-secret!") == f"it was {REDACTED}!"


def test_the_log_formatter_redacts_messages_arguments_and_tracebacks() -> None:
    formatter = RedactingFormatter("%(message)s")
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "using %s", (TOKEN,), sys.exc_info()
        )
    text = formatter.format(record)
    assert "ValueError" in text and TOKEN not in text


class DroppingKeyring:
    """A backend that accepts writes and keeps nothing (keyring's "null" behaviour)."""

    priority = 1

    def set_password(self, *_args: Any) -> None:
        pass

    def get_password(self, *_args: Any) -> None:
        return None

    def delete_password(self, *_args: Any) -> None:
        pass


def test_a_keychain_that_drops_writes_is_not_trusted() -> None:
    store = SecretStore(DroppingKeyring())
    assert not store.status().available
    assert "does not keep" in store.status().reason
    with pytest.raises(KeychainError, match="this session only") as caught:
        store.set(TOKEN)
    assert TOKEN not in str(caught.value)


def run_python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_without_a_keychain_the_token_is_kept_for_the_session_only(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS")}
    env["HOME"] = str(tmp_path)
    out = run_python(
        f"""
        from desktopchat.core.secrets import SecretStore, KeychainError
        store = SecretStore()
        status = store.status()
        print(status.available, status.reason)
        try:
            store.set({TOKEN!r})
        except KeychainError as exc:
            print("refused:", exc)
        store.set({TOKEN!r}, session_only=True)
        print(store.get() == {TOKEN!r}, store.session_only)
        """,
        env,
    )
    lines = out.splitlines()
    assert lines[0] == "False no system keychain was found"
    assert lines[1].startswith("refused: The token cannot be saved: no system keychain")
    assert TOKEN not in lines[1]
    assert lines[2] == "True True"
    assert (
        run_python(
            "from desktopchat.core.secrets import SecretStore; print(SecretStore().get())", env
        )
        == "None\n"
    )


def test_the_token_is_kept_in_the_real_keychain_across_processes(
    keychain: dict[str, str], tmp_path: Path
) -> None:
    out = run_python(
        f"""
        from desktopchat.core.secrets import SecretStore
        store = SecretStore()
        print(store.status())
        store.set({TOKEN!r})
        """,
        keychain,
    )
    assert "available=True" in out and "Secret Service" in out
    read = "from desktopchat.core.secrets import SecretStore; print(SecretStore().get())"
    assert run_python(read, keychain) == TOKEN + "\n"  # a new process reads it back
    keyring_files = Path(keychain["XDG_DATA_HOME"]) / "keyrings"
    for path in keyring_files.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes()  # encrypted at rest
    run_python("from desktopchat.core.secrets import SecretStore; SecretStore().delete()", keychain)
    assert run_python(read, keychain) == "None\n"


def test_the_token_appears_in_no_file_the_app_writes(
    keychain: dict[str, str], tmp_path: Path, starter_model: Path
) -> None:
    """A whole session that handles the token, including a bug that logs it and an error
    that carries it, leaves no copy anywhere under the app's folders."""
    home = tmp_path / "app-home"
    env = dict(keychain, DESKTOPCHAT_HOME=str(home))
    run_python(
        f"""
        import logging
        from desktopchat import app
        from desktopchat.core.session import open_core
        from desktopchat.core.paths import AppPaths
        from desktopchat.core.secrets import SecretStore
        paths = AppPaths.resolve(None)
        app.configure_logging(paths, verbose=True)
        SecretStore().set({TOKEN!r})
        token = SecretStore().get()
        log = logging.getLogger("desktopchat.test")
        log.info("a careless line with the token %s", token)
        log.info("an Authorization header: Bearer %s", token)
        try:
            raise RuntimeError("request failed for " + token)
        except RuntimeError:
            log.exception("download failed")
        core = open_core(paths, check=True)
        conv = core.conversations.create(title="chat")
        core.close()
        """,
        env,
    )
    chat = run_cli(home, "--verbose", "chat", "--max-tokens", "4", "Hello", env=keychain)
    assert chat.returncode == 0, chat.stderr
    written = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name == "desktopchat.log" for p in written)
    log_text = (home / "logs" / "desktopchat.log").read_text()
    assert "a careless line with the token [redacted]" in log_text
    for path in written:
        assert TOKEN.encode() not in path.read_bytes(), f"the token is in {path}"
