"""The settings panel's wiring: a chat's settings saved with it, a model's defaults
(saved, reset, shown for a new chat), and presets (listed, applied, saved).

Every read and write runs on the database thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QDialog

from desktopchat.core.chat import GenerationParams, Overflow
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.models.library import InstalledModel, default_params
from desktopchat.core.presets import Preset
from desktopchat.core.session import Core
from desktopchat.core.tools.setup import available_tools
from desktopchat.ui.tools_dialog import ToolPicker

if TYPE_CHECKING:
    from desktopchat.ui.main_window import MainWindow


class ChatSettings(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        panel = window.settings_panel
        panel.params_changed.connect(self.on_settings_params_changed)
        panel.save_defaults_requested.connect(self.on_settings_save_defaults)
        panel.reset_requested.connect(self.on_settings_reset)
        panel.preset_chosen.connect(self.on_settings_preset_chosen)
        panel.save_preset_requested.connect(self.on_settings_save_preset)
        panel.manage_presets_requested.connect(window.show_presets)
        panel.choose_tools_requested.connect(self.choose_tools)
        self.picker: ToolPicker | None = None  # the open one (tests answer it)

    @Slot()
    def choose_tools(self) -> None:
        """The tools a chat can offer, listed off the GUI thread (each MCP server is asked),
        then the picker."""
        window = self.window
        panel = window.settings_panel
        panel.choose_tools.setEnabled(False)
        offline = window.settings.offline_mode
        config = window.paths.config

        def listing() -> list[tuple[str, str, str, str]]:
            return available_tools(config, offline=offline)

        def show(available: list[tuple[str, str, str, str]]) -> None:
            panel.choose_tools.setEnabled(True)
            picker = ToolPicker(available, panel.chosen_tools(), window)
            self.picker = picker

            def done(result: int) -> None:
                if result == QDialog.DialogCode.Accepted:
                    panel.set_tools(picker.chosen())
                self.picker = None

            picker.finished.connect(done)
            picker.open()

        def failed(message: str) -> None:
            panel.choose_tools.setEnabled(True)
            window.show_error(f"The tools could not be listed: {message}")

        window.tasks.run(listing, show, failed)

    def _model(self) -> InstalledModel | None:
        controls = self.window.model_controls
        return controls.loaded() or controls.selected()

    def show_model_defaults(self) -> None:
        """A new chat starts from the model's saved defaults."""
        model = self._model()
        if model is None:
            self.window.settings_panel.set_params(GenerationParams())
            return
        self.window.database.run(
            lambda core: default_params(model, core.model_records),
            self.window.settings_panel.set_params,
        )

    @Slot(object)
    def on_settings_params_changed(self, params: GenerationParams) -> None:
        window = self.window
        conversation_id = window.current_conversation
        if conversation_id is None:
            return

        def store(core: Core) -> str:
            try:
                core.conversations.set_params(conversation_id, params)
            except ValueError as exc:
                return f"Check the chat settings: {exc}."
            return ""

        def stored(problem: str) -> None:
            if problem:
                window.show_error(problem)

        window.database.run(store, stored)

    @Slot(object)
    def on_settings_save_defaults(self, params: GenerationParams) -> None:
        window = self.window
        model = self._model()
        if model is None:
            return

        def store(core: Core) -> str:
            try:
                core.model_records.set_defaults(str(model.path), params)
            except ValueError as exc:
                return str(exc)
            return ""

        def stored(problem: str) -> None:
            if problem:
                window.show_error(problem)
            else:
                window.settings_panel.note.setText(f"Saved as defaults for {model.name}.")

        window.database.run(store, stored)

    @Slot()
    def on_settings_reset(self) -> None:
        window = self.window
        model = self._model()

        def reset(params: GenerationParams) -> None:
            window.settings_panel.set_params(params)
            self.on_settings_params_changed(params)

        if model is None:
            reset(GenerationParams())
        else:
            window.database.run(lambda core: default_params(model, core.model_records), reset)

    def resend_with(self, policy: Overflow) -> None:
        """Change the chat's overflow policy and send the message again."""
        window = self.window
        window.clear_action()
        params = window.settings_panel.params().with_changes(overflow=policy.value)
        window.settings_panel.set_params(params)
        self.on_settings_params_changed(params)
        window.replies.send()

    # -- presets -------------------------------------------------------------------------

    def refresh_presets(self) -> None:
        self.window.database.run(
            lambda core: core.presets.all(), self.window.settings_panel.set_presets
        )

    @Slot(object)
    def on_settings_preset_chosen(self, preset: Preset) -> None:
        window = self.window
        params = preset.apply(window.settings_panel.params())
        window.settings_panel.set_params(params)
        self.on_settings_params_changed(params)
        window.show_status(f"Using the preset “{preset.name}”", 4000)

    @Slot(object)
    def on_settings_save_preset(self, params: GenerationParams) -> None:
        window = self.window
        name = window.ask_text("Save as preset", "Name of the new preset:", "")
        if not name or not name.strip():
            return

        def save(core: Core) -> Preset | str:
            try:
                return core.presets.save(Preset(0, name, params))
            except (ValueError, DesktopChatError) as exc:
                return f"The preset was not saved: {exc}"

        def saved(result: Preset | str) -> None:
            if isinstance(result, str):
                window.show_error(result)
                return
            self.refresh_presets()
            window.show_status(f"Saved the preset “{result.name}”", 4000)

        window.database.run(save, saved)
