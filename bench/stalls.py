"""GUI stalls on a large history: how long the window's event loop was unable to run while
a user types a search over 200,000 messages, pastes 10 MB into the composer, and while the
CLI writes into the same database beside the window. Each figure is the worst lateness of
a 5 ms timer on the GUI thread (StallProbe); one frame at 60 Hz is 16 ms.

The window is the real one (offscreen) on the real history database; the CLI is the real
``desktopchat`` command in its own process.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QEventLoop, QMimeData, QTimer
from PySide6.QtTest import QTest

from desktopchat.ui.main_window import MainWindow
from desktopchat.ui.probes import StallProbe

PASTE_BYTES = 10_000_000
SEARCH_TEXT = "kettle lamp"
TYPING_PAUSE_MS = 120  # a fast typist
CLI_IMPORTS = 6  # `desktopchat import` runs, one after another, beside the window


# The machine's reference: a process of its own, at the window's priority, that does
# nothing but wait 5 ms at a time and writes down each wait that took more than 4 ms
# longer (its start and length on CLOCK_MONOTONIC). It ends when its stdin closes.
_REFERENCE = """
import select, sys, time
interval = 0.005
last = time.monotonic()
while True:
    readable, _, _ = select.select([sys.stdin], [], [], interval)
    now = time.monotonic()
    if readable:
        break
    late = now - last - interval
    if late > 0.004:
        print(f"{last + interval:.6f} {late:.6f}", flush=True)
    last = now
"""


class MachinePauses:
    """Moments the whole machine ran nothing of ours: a second process, which only
    sleeps, woke late at the same time as the window's GUI thread. On a shared virtual
    machine the hypervisor deschedules the vCPUs now and then (tens of ms, seen by both
    processes at once, with the window idle too); those are not stalls the window caused.
    ``start()`` before the probe, ``stop()`` after it: the reference's pauses."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.pauses: list[tuple[float, float]] = []

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _REFERENCE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> list[tuple[float, float]]:
        process, self._process = self._process, None
        if process is None:
            return self.pauses
        output, _ = process.communicate(input="", timeout=30)
        for line in output.splitlines():
            start, length = line.split()
            self.pauses.append((float(start), float(length)))
        return self.pauses


def overlap(pause: tuple[float, float], machine: Sequence[tuple[float, float]]) -> float:
    """How long the machine's reference was paused during ``pause`` (seconds)."""
    start, length = pause
    return sum(
        max(0.0, min(start + length, m_start + m_length) - max(start, m_start))
        for m_start, m_length in machine
    )


def own_worst(
    pauses: Sequence[tuple[float, float]], machine: Sequence[tuple[float, float]]
) -> float:
    """The longest of the window's ``pauses`` (StallProbe.pauses) with the time the
    machine's reference was paused too taken out: the stalls the window itself caused,
    in seconds."""
    return max(
        (length - overlap((start, length), machine) for start, length in pauses), default=0.0
    )


def idle(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def wait_for(done: Callable[[], bool], timeout: float, step: float = 0.02) -> None:
    """Run the event loop until ``done()``, looking every ``step`` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not finish in time")
        idle(step)


def wait_for_exit(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for ``process`` with the event loop running (the window keeps working)."""
    wait_for(lambda: process.poll() is not None, timeout)


def typing_a_search(window: MainWindow) -> float:
    """Open the search dialog and type a query key by key; the results of each pause in
    typing arrive while the probe runs. Returns the worst stall in seconds."""
    dialog = window.show_search()
    dialog.query.clear()
    idle(0.5)
    probe = StallProbe(5)
    probe.start()
    for char in SEARCH_TEXT:
        QTest.keyClicks(dialog.query, char)
        idle(TYPING_PAUSE_MS / 1000)
    wait_for(lambda: dialog.results.count() > 0, 120)
    idle(1.0)  # the last query's results are laid out
    worst = probe.stop()
    dialog.close()
    return worst


def pasting(window: MainWindow) -> float:
    """Paste 10 MB of text into the composer as the clipboard would deliver it."""
    text = ("All work and no play makes a long paste. " * (PASTE_BYTES // 41 + 1))[:PASTE_BYTES]
    mime = QMimeData()
    mime.setText(text)
    composer = window.composer
    composer.setFocus()
    probe = StallProbe(5)
    probe.start()
    composer.insertFromMimeData(mime)
    idle(2.0)  # token counting and the attachment's description
    worst = probe.stop()
    composer.clear()
    return worst


def cli_writing(window: MainWindow, home: Path) -> float:
    """The real CLI imports a conversation into the same database, one run after another,
    while the window watches for outside changes. Returns the worst stall in seconds."""
    with tempfile.TemporaryDirectory(prefix="desktopchat-bench-cli-") as temp:
        export = Path(temp) / "one.json"
        exported = subprocess.run(
            _cli(home, "export", "--format", "json", "--conversation", "1", str(export)),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if exported.returncode != 0:
            raise RuntimeError(f"desktopchat export failed: {exported.stderr[-2000:]}")
        probe = StallProbe(5)
        probe.start()
        for _ in range(CLI_IMPORTS):
            process = subprocess.Popen(
                _cli(home, "import", str(export)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_for_exit(process, 600)
        idle(3.5)  # two turns of the window's 1.5 s watch after the last write
        return probe.stop()


def _cli(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "desktopchat", "--home", str(home), *args]
