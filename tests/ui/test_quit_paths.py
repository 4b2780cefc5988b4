"""Leaving the app in every way saves the partial reply and ends every thread and process
(how fast is measured in bench/, not here)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktopchat.core.chat import GenerationParams, MessageStatus
from desktopchat.core.paths import AppPaths
from tests.ui.conftest import WindowFactory

pytestmark = pytest.mark.real_model


def test_closing_during_a_reply_saves_it_and_stops_fast(
    qtbot: QtBot,
    make_window: WindowFactory,
) -> None:
    window = make_window()
    window.settings_panel.set_params(
        GenerationParams(n_ctx=2048, n_threads=2, max_tokens=2000, temperature=0.8)
    )
    qtbot.keyClicks(window.composer, "Write a very long story about the sea.")
    with qtbot.waitSignal(window.controller.reply_text_changed, timeout=60_000):
        qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    conversation = window.current_conversation
    assert conversation is not None
    engine = window.controller.engine
    window.close()
    # Closing returned with everything stopped: the inference thread, the database
    # thread, the engine process.
    assert not window.controller._thread.isRunning()
    assert window.database.shutdown(timeout_s=0)
    assert engine.loaded is None
    from desktopchat.core.session import open_core

    core = open_core(window.paths)
    try:
        reply = core.conversations.active_path(conversation)[-1]
        assert reply.status is MessageStatus.STOPPED and reply.content
    finally:
        core.close()


def test_sigterm_closes_the_gui_cleanly(paths: AppPaths) -> None:
    env = {**os.environ, "DESKTOPCHAT_HOME": str(paths.data.parent), "QT_QPA_PLATFORM": "offscreen"}
    process = subprocess.Popen(
        [sys.executable, "-m", "desktopchat"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    settings = paths.settings_file
    deadline = time.monotonic() + 60
    while not settings.exists() and time.monotonic() < deadline:  # written once loaded
        time.sleep(0.1)
    assert settings.exists(), "the app did not load the starter model"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)  # a hang guard, not a speed limit
    assert process.returncode == 0, stderr
    assert "QThread" not in stderr
    assert "Traceback" not in stderr
