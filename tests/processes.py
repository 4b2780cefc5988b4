"""Running the app as users do (a subprocess), and waiting for processes to end."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def run_cli(
    home: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    wrap: Sequence[str] = (),
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``python -m desktopchat ARGS`` with DESKTOPCHAT_HOME=home, optionally run inside
    ``wrap`` (a command prefix such as unshare/strace)."""
    full_env = {k: v for k, v in (os.environ if env is None else env).items()}
    full_env["DESKTOPCHAT_HOME"] = str(home)
    return subprocess.run(
        [*wrap, sys.executable, "-m", "desktopchat", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # it ended (and was reaped) meanwhile
        return False


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
