"""Measuring the GUI thread from inside: how long it was unable to run a timer."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer, Slot

PAUSES_KEPT = 10_000


class StallProbe(QObject):
    """A timer that should fire every ``interval_ms``; the worst lateness of any tick is
    the longest the GUI thread was busy (a frozen window, from the user's side).

    ``pauses`` keeps each lateness over ``record_ms`` as (start, seconds) on the
    ``time.monotonic`` clock (CLOCK_MONOTONIC, the same in every process of the machine),
    so a benchmark can tell the window's own stalls from moments the whole machine was
    not running anything (bench/stalls.py's ``MachinePauses``)."""

    def __init__(
        self, interval_ms: int = 5, parent: QObject | None = None, record_ms: float = 4.0
    ) -> None:
        super().__init__(parent)
        self._interval = interval_ms / 1000
        self._record = record_ms / 1000
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.on_timer_timeout)
        self._last = 0.0
        self.worst = 0.0  # seconds
        self.ticks = 0
        self.pauses: list[tuple[float, float]] = []

    def start(self) -> None:
        self.worst = 0.0
        self.ticks = 0
        self.pauses = []
        self._last = time.monotonic()
        self._timer.start()

    def stop(self) -> float:
        self._timer.stop()
        return self.worst

    @Slot()
    def on_timer_timeout(self) -> None:
        now = time.monotonic()
        late = now - self._last - self._interval
        self.worst = max(self.worst, late)
        if late > self._record and len(self.pauses) < PAUSES_KEPT:
            self.pauses.append((self._last + self._interval, late))
        self._last = now
        self.ticks += 1
