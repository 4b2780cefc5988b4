#!/usr/bin/env bash
# Check the installed dependencies against known vulnerabilities (pip-audit, PyPI's
# vulnerability data). Needs network access to pypi.org's JSON API, which our CI machines
# do not have, so it is run by hand before each release; see the README.
set -euo pipefail
cd "$(dirname "$0")/.."
audit_venv="${TMPDIR:-/tmp}/desktopchat-audit"
[ -x "$audit_venv/bin/pip-audit" ] || { python3 -m venv "$audit_venv" && "$audit_venv/bin/pip" install -q pip-audit; }
exec "$audit_venv/bin/pip-audit" --path .venv/lib/python3.*/site-packages --strict "$@"
