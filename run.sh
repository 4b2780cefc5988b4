#!/usr/bin/env bash
# Start DesktopChat. The first run installs everything it needs into .venv
# (the app, llama.cpp, the bundled starter model); later runs start at once.
# Arguments are passed on: ./run.sh --home /tmp/portable, ./run.sh chat "Hello"
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
ensure_venv app
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
  # Opening the window: make sure Qt's system libraries are there first.
  "$VENV/bin/python" -m desktopchat.platform_check --install
fi
exec "$VENV/bin/desktopchat" "$@"
