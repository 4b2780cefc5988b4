#!/usr/bin/env bash
# The whole test suite: lint, format, types, and the tests (real llama.cpp on real models,
# real SQLite, real Qt widgets offscreen). Installs the test dependencies into .venv first.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
ensure_venv test
export QT_QPA_PLATFORM=offscreen
"$VENV/bin/python" -m desktopchat.platform_check --platform offscreen --install
# System tools some tests use: a real keychain (GNOME Keyring on a private D-Bus session
# bus), strace + unshare to prove a chat makes no network connection (and, for the built
# bundle, that it needs no Python), and the desktop-file validators.
packages=()
command -v gnome-keyring-daemon >/dev/null || packages+=(gnome-keyring)
command -v dbus-daemon >/dev/null || packages+=(dbus-daemon)
command -v strace >/dev/null || packages+=(strace)
command -v unshare >/dev/null || packages+=(util-linux)
# Validators for the Linux desktop entry and AppStream metadata (tests/packaging).
command -v desktop-file-validate >/dev/null || packages+=(desktop-file-utils)
command -v appstreamcli >/dev/null || packages+=(appstream)
if [ ${#packages[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "test.sh: installing ${packages[*]} for the tests" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq "${packages[@]}" >/dev/null ||
            { apt-get update -qq && apt-get install -y -qq "${packages[@]}" >/dev/null; }
    else
        echo "test.sh: some tests need: sudo apt-get install -y ${packages[*]}" >&2
        exit 1
    fi
fi
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/mypy"
exec "$VENV/bin/python" -m pytest "$@"
