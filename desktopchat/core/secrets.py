"""The Hugging Face token: kept in the OS keychain (keyring), and never anywhere else.

The only module that imports keyring. When no real keychain is available (no backend,
the "fail" or "null" backend that silently drops writes, or a plain-text file backend),
the token can be kept for this session only, in memory. Every token this module sees is
registered with ``redact``, which the log formatter runs over every line it writes, so a
token cannot reach a log file even by mistake. Keychain calls can block (an unlock
prompt): never call them on the GUI thread.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

from desktopchat.core.errors import DesktopChatError

log = logging.getLogger(__name__)

SERVICE = "DesktopChat"
ACCOUNT = "huggingface-token"
_PROBE_ACCOUNT = "desktopchat-probe"

# Anything shaped like a Hugging Face token, or an Authorization header's value.
_TOKEN_SHAPES = re.compile(
    r"\bhf_[A-Za-z0-9]{16,}\b"
    r"|(?i:(?<=bearer )[A-Za-z0-9._~+/=-]{16,})"
    r"|(?i:(?<=token=)[^\s&\"']{16,})"
)
# Process-wide by nature: logging is (every handler of every thread and library in the
# process), so a secret any SecretStore sees must be hidden from every line it writes.
_known: set[str] = set()
_known_lock = threading.Lock()
REDACTED = "[redacted]"


class KeychainError(DesktopChatError):
    """The keychain cannot store, read or remove the token."""


def remember_secret(value: str) -> None:
    """Make ``redact`` hide this exact value from now on."""
    if len(value) >= 8:
        with _known_lock:
            _known.add(value)


def redact(text: str) -> str:
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, REDACTED)
    return _TOKEN_SHAPES.sub(REDACTED, text)


class RedactingFormatter(logging.Formatter):
    """Formats a record (message, arguments and traceback) and then redacts secrets."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


@dataclass(frozen=True)
class KeychainStatus:
    available: bool
    backend: str  # what the user would call it ("Secret Service", "macOS Keychain", ...)
    reason: str  # why not, when unavailable


def _keyring() -> Any:
    import keyring

    return keyring


def _backend_name(backend: Any) -> str:
    name = getattr(type(backend), "name", None) or type(backend).__name__
    module = type(backend).__module__
    friendly = {
        "keyring.backends.SecretService": "Secret Service (GNOME Keyring, KWallet)",
        "keyring.backends.kwallet": "KWallet",
        "keyring.backends.macOS": "macOS Keychain",
        "keyring.backends.Windows": "Windows Credential Manager",
    }
    return friendly.get(module, str(name))


class SecretStore:
    """Where the token lives: the keychain when there is one, else this session's memory."""

    def __init__(self, backend: Any = None, account: str = ACCOUNT) -> None:
        self._backend = backend
        self._account = account  # the keychain entry: the Hub token, or "mcp:<server>"
        self._session_token: str | None = None
        self._status: KeychainStatus | None = None

    def _get_backend(self) -> Any:
        if self._backend is None:
            self._backend = _keyring().get_keyring()
        return self._backend

    def status(self) -> KeychainStatus:
        """Is there a keychain that really keeps what it is given? (Probed once.)"""
        if self._status is None:
            self._status = self._probe()
        return self._status

    def _probe(self) -> KeychainStatus:
        try:
            backend = self._get_backend()
        except Exception as exc:
            return KeychainStatus(
                False, "none", f"the keychain could not be opened ({type(exc).__name__})"
            )
        name = _backend_name(backend)
        module = type(backend).__module__
        if module.startswith(("keyring.backends.fail", "keyring.backends.null")):
            return KeychainStatus(False, name, "no system keychain was found")
        if module.startswith("keyrings.alt") or "plaintext" in type(backend).__name__.lower():
            return KeychainStatus(False, name, "the only keychain stores passwords in plain text")
        if getattr(backend, "priority", 1) <= 0:
            return KeychainStatus(False, name, "no usable system keychain was found")
        probe = "desktopchat-probe-value"
        try:
            backend.set_password(SERVICE, _PROBE_ACCOUNT, probe)
            kept = backend.get_password(SERVICE, _PROBE_ACCOUNT) == probe
            backend.delete_password(SERVICE, _PROBE_ACCOUNT)
        except Exception as exc:
            log.warning("keychain probe failed: %s", type(exc).__name__)
            return KeychainStatus(
                False, name, f"the keychain refused to store a test entry ({type(exc).__name__})"
            )
        if not kept:
            return KeychainStatus(False, name, "the keychain does not keep what it is given")
        return KeychainStatus(True, name, "")

    def get(self) -> str | None:
        if self._session_token is not None:
            return self._session_token
        if not self.status().available:
            return None
        try:
            token: str | None = self._get_backend().get_password(SERVICE, self._account)
        except Exception as exc:
            raise KeychainError(
                f"The keychain could not be read ({type(exc).__name__}). Unlock it and try again."
            ) from None
        if token:
            remember_secret(token)
        return token or None

    @property
    def session_only(self) -> bool:
        return self._session_token is not None

    def set(self, token: str, *, session_only: bool = False) -> None:
        """Keep the token: in the keychain, or (asked for, or with no keychain) in memory."""
        token = token.strip()
        remember_secret(token)
        if session_only:
            self._session_token = token
            return
        status = self.status()
        if not status.available:
            raise KeychainError(
                f"The token cannot be saved: {status.reason}. You can use it for this session "
                "only; it is then forgotten when DesktopChat closes."
            )
        try:
            self._get_backend().set_password(SERVICE, self._account, token)
        except Exception as exc:
            raise KeychainError(
                f"The keychain refused the token ({type(exc).__name__}). Unlock it and try again, "
                "or use the token for this session only."
            ) from None
        self._session_token = None

    def delete(self) -> None:
        """Forget the token everywhere we keep it."""
        self._session_token = None
        if not self.status().available:
            return
        try:
            if self._get_backend().get_password(SERVICE, self._account) is not None:
                self._get_backend().delete_password(SERVICE, self._account)
        except Exception as exc:
            raise KeychainError(
                f"The keychain could not remove the token ({type(exc).__name__})."
            ) from None
