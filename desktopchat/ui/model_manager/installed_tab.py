"""The model manager's Installed tab: the models this computer has (bundled, downloaded,
in the models folder, imported) with size, last use and whether each fits (an embedding
model is marked as one: it serves Documents, not chat); delete, open
the folder, change the models folder; and models other apps already have (Hugging Face
cache, LM Studio, GPT4All), to use in place.

The model records come from the database thread (``context.database``); walking the
folders, reading headers, sizes and deleting files run on the task pool. The GUI thread
only shows what they found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QUrl, Slot
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktopchat.core.chat import GenerationParams
from desktopchat.core.errors import ModelNotFoundError
from desktopchat.core.models.elsewhere import FoundModel, find_elsewhere, other_app_folders
from desktopchat.core.models.embedders import is_embedding_model
from desktopchat.core.models.fit import available_memory, estimate, verdict
from desktopchat.core.models.gguf import read_gguf
from desktopchat.core.models.library import (
    InstalledModel,
    ModelReader,
    human_size,
    is_inside,
    list_candidates,
    model_path,
)
from desktopchat.core.models.manager import (
    Removed,
    check_models_folder,
    delete_model_files,
    use_models_folder,
)
from desktopchat.core.session import Core
from desktopchat.core.storage.repositories import ModelRecord
from desktopchat.ui.model_manager.common import (
    Devices,
    Shell,
    cell,
    fill_row,
    make_button,
    make_row,
    make_table,
    selected,
    when_text,
)
from desktopchat.ui.model_manager.context import ManagerContext

SOURCES = {"starter": "bundled", "folder": "in the models folder"}


@dataclass(frozen=True)
class Records:
    """What the database thread knows about the models: the recorded ones, when each was
    last used, and the folder its Core lists models from."""

    records: list[ModelRecord]
    last_used: dict[str, float]
    models_dir: Path
    starter: Path | None


@dataclass(frozen=True)
class Listed:
    """One installed model as the table shows it, worked out on the task pool."""

    model: InstalledModel
    fit: str
    disk_size: int
    inside: bool  # in the models folder (deleting frees space) or only listed


def read_records(core: Core) -> Records:
    """On the database thread."""
    return Records(
        core.model_records.all(),
        core.model_records.last_used(),
        core.library.models_dir,
        core.library.starter,
    )


class InstalledTab(QWidget):
    def __init__(
        self,
        context: ManagerContext,
        shell: Shell,
        devices: Devices,
        reader: ModelReader,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.shell = shell
        self.devices = devices
        self.reader = reader
        self.models: list[InstalledModel] = []
        self.listed: list[Listed] = []
        self.found: list[FoundModel] = []
        self.models_dir = context.paths().models  # until the database thread says
        self._request = 0  # a newer refresh makes an older one's answers stale
        self.table = make_table(
            "Installed models",
            ["Model", "Source", "Size on disk", "Last used", "On this computer"],
            0,
            4,
        )
        self.use_button = make_button("Use in chat")
        self.delete_button = make_button("Delete…", "Delete model")
        self.open_folder_button = make_button("Open folder", "Open containing folder")
        self.folder_label = QLabel()
        self.folder_label.setAccessibleName("Models folder")
        self.folder_label.setWordWrap(True)
        self.change_folder_button = make_button("Change…", "Change models folder")
        self.found_label = QLabel()
        self.found_label.setWordWrap(True)
        self.found_table = make_table(
            "Models in other apps", ["File", "App", "Size", "Folder"], 0, 3
        )
        self.use_found_button = make_button("Use in place", "Use found model in place")
        self.look_button = make_button("Look again", "Look for models in other apps")
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 2)
        layout.addLayout(make_row(self.use_button, self.delete_button, self.open_folder_button))
        layout.addLayout(make_row(self.folder_label, self.change_folder_button, stretch_first=True))
        layout.addWidget(self.found_label)
        layout.addWidget(self.found_table, 1)
        layout.addLayout(make_row(self.use_found_button, self.look_button))
        self.use_button.clicked.connect(self.on_use_clicked)
        self.delete_button.clicked.connect(self.on_delete_clicked)
        self.open_folder_button.clicked.connect(self.on_open_folder_clicked)
        self.change_folder_button.clicked.connect(self.on_change_folder_clicked)
        self.use_found_button.clicked.connect(self.on_use_found_clicked)
        self.look_button.clicked.connect(self.refresh)

    # -- listing ---------------------------------------------------------------------------

    @Slot()
    def refresh(self) -> None:
        """List the models again: the records from the database thread, then the folders,
        headers and fits on the task pool."""
        self._request += 1
        request = self._request
        self.context.database.run(
            read_records, lambda records: self._describe(records, request), self.shell.show_error
        )

    def _describe(self, known: Records, request: int) -> None:
        if request != self._request:
            return
        self.models_dir = known.models_dir
        self.folder_label.setText(f"Models folder: {known.models_dir}")
        reader, devices = self.reader, self.devices

        def describe() -> tuple[list[Listed], list[FoundModel]]:
            candidates = list_candidates(known.models_dir, known.starter, known.records)
            models = [reader.describe(path, source) for path, source in candidates]
            gpus = devices.get()
            free = available_memory()
            n_ctx = GenerationParams().n_ctx
            listed = [
                Listed(
                    m,
                    verdict(
                        estimate(m.info, min(n_ctx, m.info.context_length or n_ctx)), free, gpus
                    ).text
                    if m.info is not None
                    else m.problem,
                    m.disk_size,
                    is_inside(m.path, known.models_dir),
                )
                for m in models
            ]
            seen = {path.resolve() for path, _ in candidates}
            found = find_elsewhere(other_app_folders(Path.home()), seen)
            return listed, found

        def show(result: tuple[list[Listed], list[FoundModel]]) -> None:
            if request == self._request:
                self._show_installed(result[0], known.last_used)
                self._show_found(result[1])

        self.context.tasks.run(describe, show, self.shell.show_error)

    def _show_installed(self, listed: list[Listed], last_used: dict[str, float]) -> None:
        self.listed = listed
        self.models = [entry.model for entry in listed]
        self.table.setRowCount(len(listed))
        for row, entry in enumerate(listed):
            model = entry.model
            status = model.warning or entry.fit
            if is_embedding_model(model):
                status = f"Embedding model: for Documents, not for chat · {status}"
            fill_row(
                self.table,
                row,
                [
                    cell(model.label(), entry, tip=str(model.path)),
                    cell(SOURCES.get(model.source, model.source)),
                    cell(human_size(entry.disk_size)),
                    cell(when_text(last_used.get(str(model.path)))),
                    cell(status, tip=status),
                ],
            )
        self.table.resizeRowsToContents()

    def _show_found(self, found: list[FoundModel]) -> None:
        self.found = found
        self.found_label.setText(
            f"Models other apps already have ({len(found)}): use them in place, without "
            "a second copy."
            if found
            else "No models found in the Hugging Face cache, LM Studio or GPT4All folders."
        )
        self.found_table.setRowCount(len(found))
        for row, model in enumerate(found):
            fill_row(
                self.found_table,
                row,
                [
                    cell(model.path.name, model),
                    cell(model.app),
                    cell(human_size(model.size)),
                    cell(str(model.path.parent), tip=str(model.path)),
                ],
            )
        self.found_table.setVisible(bool(found))
        self.use_found_button.setVisible(bool(found))

    # -- actions ---------------------------------------------------------------------------

    @Slot()
    def on_use_clicked(self) -> None:
        entry: Listed | None = selected(self.table)
        if entry is None:
            return
        model = entry.model
        if not model.usable or model.warning:
            self.shell.show_error(model.warning or model.problem)
            return
        if is_embedding_model(model):
            self.shell.show_error(
                f"{model.name} is an embedding model: it serves Documents and cannot chat."
            )
            return
        self.context.use_model(model.path)
        self.shell.show_notice(f"Loading {model.name} in the chat window.")

    @Slot()
    def on_delete_clicked(self) -> None:
        entry: Listed | None = selected(self.table)
        if entry is None:
            return
        model = entry.model
        if model.source == "starter":
            self.shell.show_error("The starter model comes with DesktopChat and cannot be removed.")
            return
        size = human_size(entry.disk_size)
        question = (
            f"Delete {model.path.name} from the models folder? This frees {size}."
            if entry.inside
            else f"Stop listing {model.path.name}? The file stays where it is ({model.path})."
        )
        if not self.shell.confirm("Delete model", question):
            return
        models_dir = self.models_dir

        def delete_files(_forgotten: None) -> None:
            self.shell.run_task(
                lambda: delete_model_files(model, models_dir), self._on_model_removed
            )

        # The record first (on the database thread), then the files (on the task pool).
        self.context.database.run(
            lambda core: core.model_records.remove(str(model.path)),
            delete_files,
            self.shell.show_error,
        )

    def _on_model_removed(self, removed: Removed) -> None:
        self.shell.show_notice(
            f"Deleted {removed.path.name}: {human_size(removed.freed)} freed."
            if removed.freed
            else f"{removed.path.name} is no longer listed; the file was left in place."
        )
        self.refresh()
        self.context.models_changed()

    @Slot()
    def on_open_folder_clicked(self) -> None:
        entry: Listed | None = selected(self.table)
        folder = entry.model.path.parent if entry is not None else self.models_dir
        self.shell.open_url(QUrl.fromLocalFile(str(folder)).toString())

    @Slot()
    def on_change_folder_clicked(self) -> None:
        current = self.models_dir
        chosen = self.shell.choose_folder(current)
        if chosen is None or chosen == current:
            return
        self.shell.run_task(
            lambda: check_models_folder(chosen), lambda _: self._use_folder(chosen, current)
        )

    def _use_folder(self, chosen: Path, previous: Path) -> None:
        if self.context.downloads.active():
            self.shell.show_error("Wait for the running download to finish or pause it first.")
            return
        # The setting moves the window's paths (downloads, the picker's folder); the
        # database thread's Core lists from the new folder once this query has run.
        self.context.change_settings(models_folder=str(chosen))

        def moved(_: None) -> None:
            self.shell.show_notice(
                f"Models are now kept in {chosen}. Models already in {previous} stay there "
                "and are no longer listed; move them into the new folder to keep using them."
            )
            self.refresh()
            self.context.models_changed()

        self.context.database.run(
            lambda core: use_models_folder(core, chosen), moved, self.shell.show_error
        )

    @Slot()
    def on_use_found_clicked(self) -> None:
        found: FoundModel | None = selected(self.found_table)
        if found is None:
            return
        reader = self.reader

        def check() -> InstalledModel:
            path = model_path(found.path)
            if not path.is_file():
                raise ModelNotFoundError(f"There is no file {path}.")
            read_gguf(path)  # raises InvalidModelFileError with the reason
            return reader.describe(path, "imported")

        def record(model: InstalledModel) -> None:
            self.context.database.run(
                lambda core: core.model_records.add(str(model.path), "imported"),
                lambda _: self._on_found_listed(model, found),
                self.shell.show_error,
            )

        self.shell.run_task(check, record, f"Checking {found.path.name}…")

    def _on_found_listed(self, model: InstalledModel, found: FoundModel) -> None:
        note = f" {model.warning}" if model.warning else ""
        self.shell.show_notice(f"{model.path.name} from {found.app} is now listed, in place.{note}")
        self.refresh()
        self.context.models_changed()
