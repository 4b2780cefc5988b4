"""PySide6 6.12.0 on Python 3.11 aborts the interpreter after ~570 Signal.emit() calls
(a reference to True is dropped on every emit). The pinned pair must survive 100,000
emits from a worker thread to the GUI thread, the pattern the inference worker uses."""

from __future__ import annotations

import sys

import PySide6
from PySide6.QtCore import QObject, QThread, Signal, Slot
from pytestqt.qtbot import QtBot

EMITS = 100_000


class Emitter(QObject):
    token = Signal(str)
    done = Signal()

    @Slot()
    def run(self) -> None:
        for i in range(EMITS):
            self.token.emit("x" if i % 2 else "yz")
        self.done.emit()


class Receiver(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.chars = 0

    @Slot(str)
    def on_emitter_token(self, text: str) -> None:
        self.count += 1
        self.chars += len(text)


def test_pinned_pyside6_version() -> None:
    major, minor, patch = (int(p) for p in PySide6.__version__.split(".")[:3])
    assert (major, minor) == (6, 11) and patch >= 3, PySide6.__version__


def test_many_signals_across_threads(qtbot: QtBot) -> None:
    refs_before = sys.getrefcount(True)
    thread = QThread()
    emitter = Emitter()
    receiver = Receiver()
    emitter.moveToThread(thread)
    emitter.token.connect(receiver.on_emitter_token)
    thread.started.connect(emitter.run)
    with qtbot.waitSignal(emitter.done, timeout=120_000):
        thread.start()
    qtbot.waitUntil(lambda: receiver.count == EMITS, timeout=60_000)
    thread.quit()
    thread.wait()
    assert receiver.chars == EMITS // 2 * 3
    # The 6.12.0 bug shows up as a falling reference count on True.
    assert sys.getrefcount(True) >= refs_before - 100
