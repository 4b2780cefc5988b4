"""The stall benchmark's machine reference (bench/stalls.py): a process that only sleeps
reports the moments it was not run, and a GUI pause is the window's own only for the time
the reference ran meanwhile. The pause is made for real: the reference is stopped with
SIGSTOP and continued."""

from __future__ import annotations

import os
import signal
import time

import pytest

from bench import stalls


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="POSIX signals")
def test_the_reference_reports_a_pause_of_the_machine() -> None:
    machine = stalls.MachinePauses()
    machine.start()
    process = machine._process
    assert process is not None
    time.sleep(0.5)  # it is running its loop
    os.kill(process.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    time.sleep(0.2)
    os.kill(process.pid, signal.SIGCONT)
    time.sleep(0.1)
    pauses = machine.stop()
    assert process.returncode == 0  # it ended on stdin's end, not killed
    longest = max(pauses, key=lambda p: p[1])
    assert longest[1] >= 0.15
    assert abs(longest[0] - stopped) < 0.1  # on the same clock as this process


def test_a_pause_shared_with_the_machine_counts_only_its_own_part() -> None:
    machine = [(10.000, 0.030)]
    assert stalls.overlap((10.010, 0.030), machine) == pytest.approx(0.020)
    assert stalls.own_worst([(10.010, 0.030)], machine) == pytest.approx(0.010)
    assert stalls.own_worst([(10.000, 0.030)], machine) == pytest.approx(0.0)
    assert stalls.own_worst([(20.0, 0.012), (10.0, 0.030)], machine) == pytest.approx(0.012)
    assert stalls.own_worst([], machine) == 0.0
