"""The model picker row: the installed models (read on the database thread), Load and
Unload, Import GGUF…, the model manager, the model's state line and the progress bar,
and the automatic load at start (skipped after a crash while loading).

Embedding models (GGUF encoders: they serve Documents and cannot chat) are not offered:
the picker leaves them out, and "Use in chat" on one says why instead of loading it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
)

from desktopchat.core.chat import GenerationParams
from desktopchat.core.models.embedders import is_embedding_model
from desktopchat.core.models.gguf import GGUFInfo, read_gguf
from desktopchat.core.models.library import InstalledModel, ModelLibrary, default_params
from desktopchat.core.models.manager import models_paths
from desktopchat.core.session import Core
from desktopchat.ui.controllers import ModelState
from desktopchat.ui.downloads import DownloadItem
from desktopchat.ui.model_manager import ManagerContext, ModelManagerDialog

if TYPE_CHECKING:
    from desktopchat.ui.main_window import MainWindow


def embedding_refusal(model: InstalledModel) -> str:
    return (
        f"{model.name} is an embedding model: it turns documents into vectors for search "
        "and cannot chat. Choose it for Documents (Documents… › Embedding model); for chat "
        "pick a chat model."
    )


class ModelControls(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.models: list[InstalledModel] = []  # the chat models (no embedding models)
        self.embedding_models: list[InstalledModel] = []  # installed, left out of the picker
        self.manager: ModelManagerDialog | None = None  # once opened
        self._loading_text = ""
        self._library: ModelLibrary | None = None  # the database thread's (copies only)
        self.picker = QComboBox()
        self.picker.setAccessibleName("Model")
        # The whole label (name, quantization, size) shows; a long one shrinks the row
        # rather than being cut.
        self.picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.picker.setSizePolicy(QSizePolicy.Policy.MinimumExpanding, QSizePolicy.Policy.Fixed)
        self.load_button = QPushButton("Load")
        self.load_button.setAccessibleName("Load model")
        self.unload_button = QPushButton("Unload")
        self.unload_button.setToolTip("Free the memory the model uses")
        self.unload_button.setAccessibleName("Unload model")
        self.import_button = QPushButton("Import GGUF…")
        self.import_button.setAccessibleName("Import GGUF")
        self.models_button = QPushButton("Models…")
        self.models_button.setAccessibleName("Model manager")
        self.models_button.setToolTip("Find, download and manage models")
        self.state = QLabel("No model loaded")
        self.state.setAccessibleName("Model state")
        # Long states ("Loaded …") must not widen the window past small screens: they wrap.
        self.state.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.state.setWordWrap(True)
        self.load_bar = QProgressBar()
        self.load_bar.setRange(0, 100)
        self.load_bar.setMaximumWidth(160)
        self.load_bar.setVisible(False)
        self.settings_button = QPushButton("Settings")
        self.settings_button.setAccessibleName("Show chat settings")
        self.settings_button.setCheckable(True)
        self.settings_button.setChecked(True)
        # Three rows, so the picker's whole label fits, also at the largest zoom in a
        # 1280-pixel-wide window: the model; Load/Unload and the other model commands; the
        # model's state (a line that wraps) and the load progress.
        commands = QHBoxLayout()
        commands.setSpacing(4)
        for button in (
            self.load_button,
            self.unload_button,
            self.import_button,
            self.models_button,
            self.settings_button,
        ):
            commands.addWidget(button)
        commands.addStretch(1)
        state = QHBoxLayout()
        state.addWidget(self.state, 1)
        state.addWidget(self.load_bar)
        top = QVBoxLayout()
        top.addWidget(self.picker)
        top.addLayout(commands)
        top.addLayout(state)
        window.lay_out(top)
        # The widgets by their old names on the window (menus and tests use them).
        window.model_picker = self.picker
        window.load_button = self.load_button
        window.unload_button = self.unload_button
        window.import_button = self.import_button
        window.models_button = self.models_button
        window.model_state = self.state
        window.load_bar = self.load_bar
        window.settings_button = self.settings_button
        self.load_button.clicked.connect(self.on_load_clicked)
        self.unload_button.clicked.connect(window.controller.unload)
        self.import_button.clicked.connect(self.on_import_clicked)
        self.models_button.clicked.connect(self.show_manager)
        self.settings_button.toggled.connect(window.settings_scroll.setVisible)
        window.downloads.installed.connect(self.on_download_installed)
        controller = window.controller
        controller.model_state_changed.connect(self.on_controller_model_state_changed)
        controller.load_progress.connect(self.on_controller_load_progress)

    def update_enabled(self, *, loading: bool, generating: bool, ready: bool) -> None:
        self.load_button.setEnabled(not loading and not generating and bool(self.models))
        self.picker.setEnabled(not loading and not generating)
        self.unload_button.setEnabled(ready and not generating)

    # -- the list ------------------------------------------------------------------------

    def refresh(self, *, autoload: bool = False, select: str | None = None) -> None:
        """Read the installed models (records and headers) on the database thread."""

        def scan(core: Core) -> tuple[ModelLibrary, list[InstalledModel]]:
            return core.library, core.library.scan()

        def show(found: tuple[ModelLibrary, list[InstalledModel]]) -> None:
            self._library, models = found
            self._on_models_described(models, autoload, select)

        self.state.setText("Reading models…")
        self.window.database.run(scan, show)

    def _on_models_described(
        self, models: list[InstalledModel], autoload: bool, select: str | None
    ) -> None:
        self.models = [m for m in models if not is_embedding_model(m)]
        self.embedding_models = [m for m in models if is_embedding_model(m)]
        models = self.models
        window = self.window
        self.picker.blockSignals(True)
        self.picker.clear()
        for model in models:
            self.picker.addItem(model.label(), str(model.path))
            if not model.usable:
                index = self.picker.count() - 1
                self.picker.setItemData(index, model.problem, Qt.ItemDataRole.ToolTipRole)
        self.picker.blockSignals(False)
        wanted = select or window.settings.last_model
        index = self.picker.findData(wanted) if wanted else -1
        if index < 0:
            index = next((i for i, m in enumerate(models) if m.source == "starter"), 0)
        if models:
            self.picker.setCurrentIndex(index)
        if not models:
            self.state.setText("No models yet: use Import GGUF… to add one")
        elif window.controller.state is ModelState.NONE:
            self.state.setText("No model loaded")
        if autoload and models:
            self._autoload()
        window.update_enabled()

    def _autoload(self) -> None:
        marker = self.window.paths.loading_marker
        if marker.exists():
            crashed = marker.read_text(encoding="utf-8", errors="replace").strip()
            marker.unlink(missing_ok=True)
            self.window.show_notice(
                f"Loading {Path(crashed).name} crashed last time, so no model was loaded "
                "automatically. Press Load to try again.",
                error=True,
            )
            return
        model = self.selected()
        if model is not None and model.usable:
            self.load_selected()

    def selected(self) -> InstalledModel | None:
        path = self.picker.currentData()
        return next((m for m in self.models if str(m.path) == path), None)

    def loaded(self) -> InstalledModel | None:
        loaded = self.window.controller.loaded
        if loaded is None:
            return None
        return next((m for m in self.models if m.path == loaded.config.path), None)

    # -- loading -------------------------------------------------------------------------

    def load_selected(self) -> None:
        window = self.window
        model = self.selected()
        if model is None:
            return
        if not model.usable or model.warning:
            window.show_error(model.warning or model.problem)
            return
        if window.current_conversation is not None:
            window.controller.load_model(str(model.path), window.settings_panel.params())
            return

        def load(params: GenerationParams) -> None:
            window.settings_panel.set_params(params)
            window.controller.load_model(str(model.path), params)

        window.database.run(lambda core: default_params(model, core.model_records), load)

    @Slot()
    def on_load_clicked(self) -> None:
        self.window.show_notice("")
        self.load_selected()

    def use_model(self, path: Path) -> None:
        """Select ``path`` in the model picker and load it (from the model manager). An
        embedding model is refused with the reason (it serves Documents, not chat)."""
        embedding = next((m for m in self.embedding_models if m.path == path), None)
        if embedding is not None:
            self.window.show_error(embedding_refusal(embedding))
            return
        index = self.picker.findData(str(path))
        if index < 0:
            self.refresh(select=str(path))
            return
        self.picker.setCurrentIndex(index)
        if not self.window.controller.busy:
            self.load_selected()

    @Slot(object, str)
    def on_controller_model_state_changed(self, state: ModelState, detail: str) -> None:
        window = self.window
        self.load_bar.setVisible(state is ModelState.LOADING)
        if state is ModelState.LOADING:
            self.load_bar.setValue(0)
            self._loading_text = f"Loading {Path(detail).name}"
            self.state.setText(f"{self._loading_text}…")
        elif state is ModelState.READY:
            loaded = window.controller.loaded
            assert loaded is not None
            template = "" if loaded.chat_template else " · no chat template: plain fallback"
            capped = (
                f" (capped: the model was trained for {loaded.n_ctx_train:,})"
                if loaded.n_ctx < loaded.config.n_ctx
                else ""
            )
            self.state.setText(
                f"Loaded {loaded.name} on {loaded.backend} · context {loaded.n_ctx:,}"
                f"{capped}{template}"
            )
            self.state.setToolTip(
                f"{loaded.config.path}\nloaded in {loaded.load_seconds:.2f} s, "
                f"{loaded.config.n_threads} threads; {loaded.placement}"
            )
            path = str(loaded.config.path)
            window.change_settings(last_model=path)
            window.database.run(lambda core: core.model_records.mark_used(path), lambda _: None)
            if not loaded.chat_template:
                window.show_notice(
                    "This model has no chat template; DesktopChat uses a plain "
                    "“User: … / Assistant:” format. Base models may ramble.",
                )
        elif state is ModelState.FAILED:
            self.state.setText("Model not loaded")
            window.show_error(detail)
        else:
            self.state.setText("No model loaded")
        window.update_enabled()

    @Slot(float, str)
    def on_controller_load_progress(self, fraction: float, what: str) -> None:
        self.load_bar.setValue(int(fraction * 100))
        self.load_bar.setFormat("%p%")
        if self.window.controller.state is ModelState.LOADING:  # with the plan
            self.state.setText(f"{self._loading_text}: {what}…")

    # -- importing -----------------------------------------------------------------------

    @Slot()
    def on_import_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window,
            "Import a GGUF model",
            str(Path.home()),
            "GGUF models (*.gguf);;All files (*)",
        )
        if path:
            copy = self.window.confirm(
                "Import GGUF",
                "Copy the file into DesktopChat's models folder?\n\n"
                "Yes: copy it (uses disk space). No: use it where it is.",
            )
            self.import_model(Path(path), copy=copy)

    def import_model(self, path: Path, *, copy: bool = False) -> None:
        """Validate (and copy) on the task pool, then record the import."""
        window = self.window
        self.state.setText(f"Checking {path.name}…")
        library = self._library
        if copy and library is not None:  # a copy touches no database
            window.tasks.run(
                lambda: library.import_file(path, copy=True),
                self._on_model_imported,
                self._on_import_failed,
            )
        else:
            window.tasks.run(
                lambda: read_gguf(path),
                lambda info: self._record_import(path, info),
                self._on_import_failed,
            )

    def _record_import(self, path: Path, info: GGUFInfo) -> None:
        self.window.database.run(
            lambda core: core.library.import_file(path, info=info), self._on_model_imported
        )

    def _on_model_imported(self, model: InstalledModel) -> None:
        if model.warning:
            self.window.show_error(f"Imported {model.path.name}, but: {model.warning}")
        elif is_embedding_model(model):
            self.window.show_notice(
                f"Imported {model.label()}: an embedding model, for Documents (Documents… › "
                "Embedding model); it cannot chat, so the model list leaves it out."
            )
        else:
            self.window.show_notice(f"Imported {model.label()}.")
        self.refresh(select=str(model.path))

    def _on_import_failed(self, message: str) -> None:
        self.state.setText("Import failed")
        self.window.show_error(message)

    # -- the model manager ---------------------------------------------------------------

    @Slot()
    def show_manager(self) -> ModelManagerDialog:
        window = self.window
        if self.manager is None:
            context = ManagerContext(
                paths=lambda: models_paths(window.paths, window.settings),
                database=window.database,
                tasks=window.tasks,
                secrets=window.secrets,
                downloads=window.downloads,
                settings=lambda: window.settings,
                change_settings=window.change_settings,
                models_changed=self.refresh,
                use_model=self.use_model,
                gpu_devices=window.controller.gpu_devices,
            )
            self.manager = ModelManagerDialog(context, window)
        self.manager.show()
        self.manager.raise_()
        self.manager.activateWindow()
        return self.manager

    @Slot(object)
    def on_download_installed(self, item: DownloadItem) -> None:
        self.window.show_status(f"Downloaded and verified {item.label}", 8000)
        self.refresh()
