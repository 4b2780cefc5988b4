"""Measuring the GUI thread from inside: how long it was unable to run a timer."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer, Slot


class StallProbe(QObject):
    """A timer that should fire every ``interval_ms``; the worst lateness of any tick is
    the longest the GUI thread was busy (a frozen window, from the user's side)."""

    def __init__(self, interval_ms: int = 5, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._interval = interval_ms / 1000
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.on_timer_timeout)
        self._last = 0.0
        self.worst = 0.0  # seconds
        self.ticks = 0

    def start(self) -> None:
        self.worst = 0.0
        self.ticks = 0
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> float:
        self._timer.stop()
        return self.worst

    @Slot()
    def on_timer_timeout(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self._last - self._interval)
        self._last = now
        self.ticks += 1
