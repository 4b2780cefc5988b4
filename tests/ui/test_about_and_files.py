"""Help → About (version, backend, licences) and models opened from the file manager."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QFileOpenEvent, QGuiApplication
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktopchat import __version__
from desktopchat.core.paths import AppPaths
from desktopchat.ui.about_dialog import AboutDialog
from desktopchat.ui.application import FileOpenEvents
from desktopchat.ui.single_instance import SingleInstance
from tests.ui.conftest import WindowFactory

pytestmark = pytest.mark.real_model


def test_about_shows_the_version_the_backend_and_every_licence(
    qtbot: QtBot, make_window: WindowFactory
) -> None:
    window = make_window()
    assert " on CPU · " in window.model_state.text()  # the backend the model runs on
    window.actions_by_name["about"].trigger()
    dialog = window.dialogs["about"]
    assert isinstance(dialog, AboutDialog) and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.parts.count() > 10, timeout=20_000)
    assert f"DesktopChat {__version__}" in dialog.details()
    assert "backend: CPU" in dialog.backend_label.text()
    assert "llama-cpp-python 0.3.36" in dialog.backend_label.text()
    names = [dialog.parts.item(i).text() for i in range(dialog.parts.count())]
    assert names[0].startswith(f"desktopchat {__version__} — MIT")
    for part in ("Qt ", "llama.cpp ", "SmolLM2-135M-Instruct (starter model)", "keyring "):
        assert any(n.startswith(part) for n in names), part
    dialog.parts.setCurrentRow(next(i for i, n in enumerate(names) if n.startswith("Qt ")))
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in dialog.licence.toPlainText()
    dialog.copy_button.click()
    assert "backend: CPU" in QGuiApplication.clipboard().text()
    window.actions_by_name["about"].trigger()  # a second time: the same dialog, raised
    assert window.dialogs["about"] is dialog
    assert dialog.parts.accessibleName() and dialog.licence.accessibleName()


def test_a_model_double_clicked_while_the_app_runs_is_imported_by_the_window(
    qtbot: QtBot, make_window: WindowFactory, paths: AppPaths, gemma_model: Path
) -> None:
    window = make_window()
    running = SingleInstance(paths)  # wired as run_application wires it
    assert running.listen()
    running.open_requested.connect(window.open_file)
    running.activate_requested.connect(window.bring_to_front)
    try:
        # What a second `desktopchat gemma.gguf` does before it exits.
        assert SingleInstance(paths).activate_running([str(gemma_model)])
        qtbot.waitUntil(lambda: window.model_picker.count() == 2, timeout=20_000)
        assert "gemma3" in window.model_picker.currentText()
        assert "Imported" in window.notice.text()
    finally:
        running.close()


def test_files_sent_by_the_system_as_events_are_opened(
    qtbot: QtBot, make_window: WindowFactory, tmp_path: Path
) -> None:
    window = make_window()
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    events = FileOpenEvents(app)  # macOS delivers Finder double-clicks this way
    events.open_requested.connect(window.open_file)
    try:
        notes = tmp_path / "notes.txt"
        notes.write_text("not a model")
        QApplication.sendEvent(app, QFileOpenEvent(str(notes)))
        assert "opens GGUF models (.gguf files), not notes.txt" in window.notice.text()
    finally:
        app.removeEventFilter(events)
        events.deleteLater()
