"""Manage presets (saved assistants): rename, delete, update from the current chat's
settings, export to a file and import one, restore the shipped ones.

The presets are read and written on the window's database thread (``DatabaseGateway``);
the list is shown again when each change has been stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QGridLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.chat import GenerationParams
from desktopchat.core.presets import Preset, PresetFileError, preset_from_file
from desktopchat.core.session import Core
from desktopchat.ui.database import DatabaseGateway


class PresetsDialog(QDialog):
    changed = Signal()

    def __init__(
        self,
        database: DatabaseGateway,
        current_params: Callable[[], GenerationParams],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Presets")
        self.resize(520, 380)
        self._database = database
        self._current = current_params
        self.presets: list[Preset] = []
        self.list = QListWidget()
        self.list.setAccessibleName("Presets")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setAccessibleName("Presets status")
        buttons: dict[str, Callable[[], None]] = {
            "Rename…": self.rename,
            "Update from this chat": self.update_from_chat,
            "Delete": self.delete,
            "Export…": self.export,
            "Import…": self.import_file,
            "Restore shipped presets": self.restore,
        }
        grid = QGridLayout()
        self.buttons: dict[str, QPushButton] = {}
        for i, (text, slot) in enumerate(buttons.items()):
            button = QPushButton(text)
            button.setAccessibleName(text.rstrip("…"))
            button.clicked.connect(slot)
            grid.addWidget(button, i // 2, i % 2)
            self.buttons[text] = button
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addLayout(grid)
        layout.addWidget(self.note)
        self.refresh()

    def refresh(self, select: int | None = None) -> None:
        self._database.run(
            lambda core: core.presets.all(),
            lambda presets: self._show(presets, select),
            self.note.setText,
        )

    def _show(self, presets: list[Preset], select: int | None) -> None:
        self.presets = presets
        self.list.clear()
        for preset in self.presets:
            shipped = " (shipped)" if preset.builtin else ""
            self.list.addItem(f"{preset.name}{shipped}")
        row = next((i for i, p in enumerate(self.presets) if p.id == select), 0)
        self.list.setCurrentRow(row if self.presets else -1)

    def selected(self) -> Preset | None:
        row = self.list.currentRow()
        return self.presets[row] if 0 <= row < len(self.presets) else None

    def ask_text(self, title: str, label: str, value: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, label, text=value)
        return text if ok and text.strip() else None

    def save_path(self, name: str) -> str:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export preset", str(Path.home() / f"{name}.json"), "Preset (*.json)"
        )
        return path

    def open_path(self) -> str:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import preset", str(Path.home()), "Preset (*.json);;All files (*)"
        )
        return path

    def _save(self, preset: Preset, done: str) -> None:
        def save(core: Core) -> Preset | str:
            try:
                return core.presets.save(preset)
            except ValueError as exc:
                return str(exc)

        def saved(stored: Preset | str) -> None:
            if isinstance(stored, str):
                self.note.setText(stored)
                return
            self.note.setText(done)
            self.refresh(select=stored.id)
            self.changed.emit()

        self._database.run(save, saved, self.note.setText)

    def _changed(self, done: str) -> None:
        self.note.setText(done)
        self.refresh()
        self.changed.emit()

    @Slot()
    def rename(self) -> None:
        preset = self.selected()
        if preset is None:
            return
        name = self.ask_text("Rename preset", "Name:", preset.name)
        if name is not None:
            self._save(Preset(preset.id, name, preset.params, preset.builtin), "Renamed.")

    @Slot()
    def update_from_chat(self) -> None:
        preset = self.selected()
        if preset is not None:
            updated = Preset(preset.id, preset.name, self._current(), preset.builtin)
            self._save(updated, f"“{preset.name}” now has this chat's settings.")

    @Slot()
    def delete(self) -> None:
        preset = self.selected()
        if preset is None:
            return
        self._database.run(
            lambda core: core.presets.delete(preset.id),
            lambda _: self._changed(f"Deleted “{preset.name}”."),
            self.note.setText,
        )

    @Slot()
    def export(self) -> None:
        preset = self.selected()
        if preset is None:
            return
        path = self.save_path(preset.name)
        if not path:
            return
        try:
            Path(path).write_text(preset.to_file(), encoding="utf-8")
        except OSError as exc:
            self.note.setText(f"Could not write {path}: {exc.strerror or exc}.")
            return
        self.note.setText(f"Exported to {path}.")

    @Slot()
    def import_file(self) -> None:
        path = self.open_path()
        if not path:
            return
        try:
            preset = preset_from_file(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            self.note.setText(f"Could not read {path}: {exc}.")
            return
        except PresetFileError as exc:
            self.note.setText(str(exc))
            return
        self._save(preset, f"Imported “{preset.name}”.")

    @Slot()
    def restore(self) -> None:
        self._database.run(
            lambda core: core.presets.restore_builtins(),
            lambda _: self._changed("The shipped presets are back, as shipped."),
            self.note.setText,
        )
