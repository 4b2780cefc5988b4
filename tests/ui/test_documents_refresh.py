"""The Documents dialog's files table as indexing moves on: a new file list repaints only
the cells that changed (one ``dataChanged`` per run of changed rows, no model reset), the
selection and current row stay, and a list equal to the one shown changes nothing. Real
Qt offscreen, a real QTableView on the model."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QTableView
from pytestqt.qtbot import QtBot

from desktopchat.core.documents.types import DocumentFile, FileState
from desktopchat.ui.documents.files_model import COLUMNS, FilesModel, plan


def files(count: int = 6) -> list[DocumentFile]:
    return [
        DocumentFile(
            id=i + 1,
            collection_id=1,
            path=Path(f"/docs/file-{i}.txt"),
            state=FileState.INDEXED,
            size=1000 + i,
            chunks=10,
            embedded=10 if i < 2 else 3,
        )
        for i in range(count)
    ]


class Signals:
    def __init__(self, model: FilesModel) -> None:
        self.changed: list[tuple[int, int, int, int]] = []
        self.resets = 0
        model.dataChanged.connect(
            lambda a, b, _roles=(): self.changed.append((a.row(), b.row(), a.column(), b.column()))
        )
        model.modelReset.connect(self.on_reset)

    def on_reset(self) -> None:
        self.resets += 1


def shown(qtbot: QtBot) -> tuple[FilesModel, QTableView, Signals]:
    model = FilesModel()
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    model.set_files(files())
    view.show()
    return model, view, Signals(model)


def select_row(view: QTableView, row: int) -> None:
    flags = (
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
    )
    view.selectionModel().setCurrentIndex(view.model().index(row, 0), flags)


def selected_rows(view: QTableView) -> list[int]:
    return sorted(i.row() for i in view.selectionModel().selectedRows())


def test_one_files_state_changes_one_row_without_a_reset(qtbot: QtBot) -> None:
    model, view, signals = shown(qtbot)
    select_row(view, 4)
    new = list(model.files)
    new[3] = dataclasses.replace(new[3], state=FileState.FAILED, reason="no text")
    model.set_files(new)
    assert signals.resets == 0
    assert signals.changed == [(3, 3, 0, len(COLUMNS) - 1)]  # the whole row: its tooltips too
    assert model.cell(model.files[3], 1) == "failed: no text"
    assert selected_rows(view) == [4]
    assert view.currentIndex().row() == 4


def test_an_embedded_count_repaints_only_its_cell(qtbot: QtBot) -> None:
    model, view, signals = shown(qtbot)
    select_row(view, 2)
    new = list(model.files)
    new[2] = dataclasses.replace(new[2], embedded=7)  # still "indexed (embedding…)"
    model.set_files(new)
    assert signals.changed == [(2, 2, 3, 3)]
    assert signals.resets == 0
    assert selected_rows(view) == [2]


def test_neighbouring_changed_rows_are_one_run(qtbot: QtBot) -> None:
    model, _view, signals = shown(qtbot)
    new = list(model.files)
    for row in (2, 3, 5):
        new[row] = dataclasses.replace(new[row], embedded=8)
    model.set_files(new)
    assert signals.changed == [(2, 3, 3, 3), (5, 5, 3, 3)]


def test_an_unchanged_list_changes_nothing(qtbot: QtBot) -> None:
    model, _view, signals = shown(qtbot)
    model.set_files(files())  # equal, not the same list: as the library reads it again
    assert signals.changed == [] and signals.resets == 0


def test_other_rows_reset_the_model(qtbot: QtBot) -> None:
    model, _view, signals = shown(qtbot)
    model.set_files(files()[:-1])  # a file removed
    assert signals.resets == 1
    assert len(model.files) == 5 == model.rowCount()


def test_a_plan_made_off_the_gui_thread_is_applied_as_planned(qtbot: QtBot) -> None:
    model, view, signals = shown(qtbot)
    select_row(view, 1)
    before = model.files
    new = list(before)
    new[1] = dataclasses.replace(new[1], state=FileState.INDEXING)
    planned = []
    worker = threading.Thread(target=lambda: planned.append(plan(before, new)))
    worker.start()
    worker.join()
    model.apply(planned[0])
    assert signals.changed == [(1, 1, 0, len(COLUMNS) - 1)] and signals.resets == 0
    assert model.files is new
    assert selected_rows(view) == [1]


def test_a_plan_against_an_older_list_is_made_again(qtbot: QtBot) -> None:
    model, _view, signals = shown(qtbot)
    stale = plan(model.files, files())  # planned, then the list changed meanwhile
    newer = list(model.files)
    newer[0] = dataclasses.replace(newer[0], embedded=1, state=FileState.INDEXING)
    model.set_files(newer)
    signals.changed.clear()
    model.apply(stale)  # back to files(): row 0 differs from what is shown now
    assert signals.changed == [(0, 0, 0, len(COLUMNS) - 1)] and signals.resets == 0
    assert model.files == files()
