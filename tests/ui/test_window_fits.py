"""Nothing in the window is cut or scrolled sideways: at the default size, at 1280×800 and
at the largest zoom (also in a 1280-pixel-wide window), the settings panel fits its
column, every label, button, check box and combo box in it shows its whole text, the model
picker shows its whole label, and the sidebar and the chat view have no horizontal scroll
bar."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QWidget
from pytestqt.exceptions import TimeoutError as QtBotTimeout
from pytestqt.qtbot import QtBot

from desktopchat.ui import theme
from desktopchat.ui.main_window import MainWindow
from tests.ui.conftest import WindowFactory

pytestmark = pytest.mark.real_model


def _text_fits(widget: QWidget) -> bool:
    """The widget is at least as wide as it asks to be (its text is not elided)."""
    if isinstance(widget, QLabel) and (widget.wordWrap() or not widget.text()):
        return True  # a wrapping label takes more lines, never cuts
    return widget.width() >= widget.sizeHint().width()


def problems(window: MainWindow) -> list[str]:
    found = []
    scroll = window.settings_scroll
    if scroll.horizontalScrollBar().isVisible():
        found.append("the settings panel scrolls sideways")
    if window.sidebar.list.horizontalScrollBar().isVisible():
        found.append("the sidebar scrolls sideways")
    if window.chat_view.horizontalScrollBar().isVisible():
        found.append("the chat view scrolls sideways")
    viewport = scroll.viewport()
    panel = window.settings_panel
    kinds = (QLabel, QAbstractButton, QComboBox)
    for widget in panel.findChildren(QWidget):
        if not isinstance(widget, kinds) or not widget.isVisibleTo(panel):
            continue
        if isinstance(widget.parent(), QComboBox):
            continue  # a combo box's own parts
        name = widget.accessibleName() or getattr(widget, "text", lambda: "")() or "?"
        if not _text_fits(widget):
            found.append(f"{type(widget).__name__} {name!r} is cut")
        right = widget.mapTo(viewport, widget.rect().topRight()).x()
        if right > viewport.width():
            found.append(f"{type(widget).__name__} {name!r} reaches past the column")
    picker = window.model_picker
    text = picker.currentText()
    if not text:
        found.append("the model picker shows nothing")
    elif picker.width() < picker.sizeHint().width():
        found.append(f"the model picker's label {text!r} is cut")
    return found


def check(qtbot: QtBot, window: MainWindow, picture: Path) -> None:
    # Layouts settle through posted events: wait for them (a hang guard), then look.
    with contextlib.suppress(QtBotTimeout):
        qtbot.waitUntil(lambda: problems(window) == [], timeout=10_000)
    window.grab().save(str(picture))
    assert problems(window) == [], f"see {picture}"


def test_nothing_is_cut_at_the_default_size_at_1280x800_and_at_the_largest_zoom(
    qtbot: QtBot, make_window: WindowFactory, tmp_path: Path
) -> None:
    window = make_window()
    assert window.model_picker.count() >= 1
    check(qtbot, window, tmp_path / "default.png")
    window.resize(1280, 800)
    check(qtbot, window, tmp_path / "1280x800.png")
    window.zoom(theme.ZOOM_STEPS[1])  # clamped: the largest zoom
    assert window.settings.zoom == theme.ZOOM_STEPS[1]
    largest = theme.BASE_POINT_SIZE + theme.ZOOM_STEPS[1]
    panel = window.settings_panel
    qtbot.waitUntil(  # the new font reaches the widgets through posted events
        lambda: (
            panel.temperature.font().pointSizeF() == largest
            and window.model_picker.font().pointSizeF() == largest
        ),
        timeout=10_000,
    )
    check(qtbot, window, tmp_path / "largest-zoom.png")
    # ... and still in a window 1280 pixels wide: it does not grow past such a screen
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.minimumSizeHint().width() <= 1280, timeout=10_000)
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.width() == 1280, timeout=10_000)
    check(qtbot, window, tmp_path / "largest-zoom-1280.png")
    window.zoom(0)
