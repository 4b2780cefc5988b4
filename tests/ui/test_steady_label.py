"""A status line that keeps its height: a text that wraps onto more lines makes it taller,
a shorter text after it does not make it shorter again (the window is not laid out anew
and the table beside it is not repainted in full), and a new width sizes it to its text
again. Real Qt widgets offscreen."""

from __future__ import annotations

from PySide6.QtWidgets import QTableView, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from desktopchat.ui.steady_label import SteadyLabel

LONG = " · ".join(["Files 1,234 of 5,678", "passages embedded 12,345 of 67,890"] * 3)
SHORT = "Files 1 of 2"


def window(qtbot: QtBot) -> tuple[QWidget, SteadyLabel, QTableView]:
    widget = QWidget()
    qtbot.addWidget(widget)
    layout = QVBoxLayout(widget)
    label = SteadyLabel(SHORT)
    table = QTableView()
    layout.addWidget(table, 1)
    layout.addWidget(label)
    widget.resize(320, 400)
    widget.show()
    qtbot.waitExposed(widget)
    return widget, label, table


def laid_out(qtbot: QtBot, widget: QWidget) -> None:
    layout = widget.layout()
    assert layout is not None
    layout.activate()
    qtbot.wait(10)


def test_a_longer_text_makes_it_taller_and_a_shorter_one_keeps_the_height(qtbot: QtBot) -> None:
    widget, label, table = window(qtbot)
    one_line = label.height()
    label.setText(LONG)
    laid_out(qtbot, widget)
    tall, table_height = label.height(), table.height()
    assert tall > one_line  # it wrapped onto more lines and got them
    assert label.heightForWidth(label.width()) <= tall
    for text in (SHORT, LONG, SHORT + " · paused", LONG):
        label.setText(text)
        laid_out(qtbot, widget)
        assert (label.height(), table.height()) == (tall, table_height)


def test_a_new_width_sizes_it_to_its_text_again(qtbot: QtBot) -> None:
    widget, label, _table = window(qtbot)
    label.setText(LONG)
    laid_out(qtbot, widget)
    tall = label.height()
    label.setText(SHORT)
    widget.resize(900, 400)
    laid_out(qtbot, widget)
    assert label.height() < tall
    assert label.height() == max(label.heightForWidth(label.width()), label.minimumHeight())
    assert label.text() == SHORT


def test_the_same_text_again_changes_nothing(qtbot: QtBot) -> None:
    _widget, label, _table = window(qtbot)
    label.setText(LONG)
    before = label.minimumHeight()
    label.setText(LONG)
    assert label.minimumHeight() == before
