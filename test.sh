#!/usr/bin/env bash
# The whole test suite: lint, format, types, and the tests (real llama.cpp on real models,
# real SQLite, real Qt widgets offscreen). Installs the test dependencies into .venv first.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
ensure_venv test
export QT_QPA_PLATFORM=offscreen
"$VENV/bin/python" -m desktopchat.platform_check --platform offscreen --install
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/mypy"
exec "$VENV/bin/python" -m pytest "$@"
