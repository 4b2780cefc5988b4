#!/usr/bin/env bash
# The whole test suite: lint, format, types, and the tests (real llama.cpp on real models,
# real SQLite, real Qt widgets offscreen). Installs the test dependencies into .venv first.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
ensure_venv test
export QT_QPA_PLATFORM=offscreen
"$VENV/bin/python" -m desktopchat.platform_check --platform offscreen --install
# The secrets tests use a real keychain: GNOME Keyring on a private D-Bus session bus.
if ! command -v gnome-keyring-daemon >/dev/null || ! command -v dbus-daemon >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "test.sh: installing gnome-keyring and dbus-daemon for the keychain tests" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq gnome-keyring dbus-daemon >/dev/null ||
            { apt-get update -qq && apt-get install -y -qq gnome-keyring dbus-daemon >/dev/null; }
    else
        echo "test.sh: the keychain tests need: sudo apt-get install -y gnome-keyring dbus-daemon" >&2
        exit 1
    fi
fi
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/mypy"
exec "$VENV/bin/python" -m pytest "$@"
