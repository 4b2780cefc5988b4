"""The model manager's Installed tab: the models this computer has (bundled, downloaded,
in the models folder, imported) with size, last use and whether each fits; delete, open
the folder, change the models folder; and models other apps already have (Hugging Face
cache, LM Studio, GPT4All), to use in place."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl, Slot
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktopchat.core.chat import GenerationParams
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.models.elsewhere import FoundModel, find_elsewhere, other_app_folders
from desktopchat.core.models.fit import available_memory, estimate, verdict
from desktopchat.core.models.gguf import GGUFInfo, read_gguf
from desktopchat.core.models.library import InstalledModel, human_size, is_inside
from desktopchat.core.models.manager import remove_model
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


class InstalledTab(QWidget):
    def __init__(
        self,
        context: ManagerContext,
        shell: Shell,
        devices: Devices,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.shell = shell
        self.devices = devices
        self.models: list[InstalledModel] = []
        self.found: list[FoundModel] = []
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
        library = self.context.core.library
        try:
            candidates = library.candidates()
            last_used = self.context.core.model_records.last_used()
        except DesktopChatError as exc:
            self.shell.show_error(str(exc))
            return
        self.folder_label.setText(f"Models folder: {library.models_dir}")
        devices = self.devices

        def describe() -> tuple[list[InstalledModel], list[str], list[FoundModel]]:
            models = [library.describe(path, source) for path, source in candidates]
            gpus = devices.get()
            free = available_memory()
            n_ctx = GenerationParams().n_ctx
            fits = [
                verdict(
                    estimate(m.info, min(n_ctx, m.info.context_length or n_ctx)), free, gpus
                ).text
                if m.info is not None
                else m.problem
                for m in models
            ]
            known = {path.resolve() for path, _ in candidates}
            found = find_elsewhere(other_app_folders(Path.home()), known)
            return models, fits, found

        def show(result: tuple[list[InstalledModel], list[str], list[FoundModel]]) -> None:
            models, fits, found = result
            self._show_installed(models, fits, last_used)
            self._show_found(found)

        self.context.tasks.run(describe, show, self.shell.show_error)

    def _show_installed(
        self, models: list[InstalledModel], fits: list[str], last_used: dict[str, float]
    ) -> None:
        self.models = models
        self.table.setRowCount(len(models))
        for row, (model, fit) in enumerate(zip(models, fits, strict=True)):
            status = model.warning or fit
            fill_row(
                self.table,
                row,
                [
                    cell(model.label(), model, tip=str(model.path)),
                    cell(SOURCES.get(model.source, model.source)),
                    cell(human_size(model.disk_size)),
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
        model: InstalledModel | None = selected(self.table)
        if model is None:
            return
        if not model.usable or model.warning:
            self.shell.show_error(model.warning or model.problem)
            return
        self.context.use_model(model.path)
        self.shell.show_notice(f"Loading {model.name} in the chat window.")

    @Slot()
    def on_delete_clicked(self) -> None:
        model: InstalledModel | None = selected(self.table)
        if model is None:
            return
        if model.source == "starter":
            self.shell.show_error("The starter model comes with DesktopChat and cannot be removed.")
            return
        inside = is_inside(model.path, self.context.core.library.models_dir)
        size = human_size(model.disk_size)
        question = (
            f"Delete {model.path.name} from the models folder? This frees {size}."
            if inside
            else f"Stop listing {model.path.name}? The file stays where it is ({model.path})."
        )
        if not self.shell.confirm("Delete model", question):
            return
        core = self.context.core
        try:
            removed = remove_model(model, core.library.models_dir, core.model_records)
        except DesktopChatError as exc:
            self.shell.show_error(str(exc))
            return
        self.shell.show_notice(
            f"Deleted {removed.path.name}: {human_size(removed.freed)} freed."
            if removed.freed
            else f"{removed.path.name} is no longer listed; the file was left in place."
        )
        self.refresh()
        self.context.models_changed()

    @Slot()
    def on_open_folder_clicked(self) -> None:
        model: InstalledModel | None = selected(self.table)
        folder = model.path.parent if model is not None else self.context.core.library.models_dir
        self.shell.open_url(QUrl.fromLocalFile(str(folder)).toString())

    @Slot()
    def on_change_folder_clicked(self) -> None:
        current = self.context.core.library.models_dir
        chosen = self.shell.choose_folder(current)
        if chosen is None or chosen == current:
            return
        try:
            chosen.mkdir(parents=True, exist_ok=True)
            probe = chosen / ".desktopchat-write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            self.shell.show_error(f"{chosen} cannot be used as the models folder: {exc.strerror}.")
            return
        if self.context.downloads.active():
            self.shell.show_error("Wait for the running download to finish or pause it first.")
            return
        self.context.change_settings(models_folder=str(chosen))
        core = self.context.core
        core.paths = core.paths.with_models(chosen)
        core.library.models_dir = chosen
        self.shell.show_notice(
            f"Models are now kept in {chosen}. Models already in {current} stay there and "
            "are no longer listed; move them into the new folder to keep using them."
        )
        self.refresh()
        self.context.models_changed()

    @Slot()
    def on_use_found_clicked(self) -> None:
        found: FoundModel | None = selected(self.found_table)
        if found is None:
            return
        library = self.context.core.library

        def check() -> GGUFInfo:
            return read_gguf(found.path)

        def record(info: GGUFInfo) -> None:
            try:
                model = library.import_file(found.path, info=info)
            except DesktopChatError as exc:
                self.shell.show_error(str(exc))
                return
            note = f" {model.warning}" if model.warning else ""
            self.shell.show_notice(
                f"{model.path.name} from {found.app} is now listed, in place.{note}"
            )
            self.refresh()
            self.context.models_changed()

        self.shell.run_task(check, record, f"Checking {found.path.name}…")
