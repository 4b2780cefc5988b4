"""The window's non-modal dialogs: About (the engine's facts asked of the engine on the
task pool), keyboard shortcuts, network activity, search (and jumping to a hit), the
prompt inspector and presets. Each is kept in ``window.dialogs`` by kind while open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Slot

from desktopchat.core import network
from desktopchat.core.chat import Message, PromptRecord
from desktopchat.core.inference.engine import BackendInfo
from desktopchat.core.notices import Component, components
from desktopchat.core.session import Core
from desktopchat.core.storage.repositories import SearchHit
from desktopchat.core.tools.servers import McpServerConfig, McpServers, key_store
from desktopchat.core.tools.setup import list_server_tools
from desktopchat.core.tools.types import ToolSpec
from desktopchat.ui.about_dialog import AboutDialog
from desktopchat.ui.help_dialog import ShortcutsDialog
from desktopchat.ui.inspector import PromptInspector
from desktopchat.ui.network_dialog import NetworkActivityDialog
from desktopchat.ui.presets_dialog import PresetsDialog
from desktopchat.ui.search_dialog import Hits, SearchDialog
from desktopchat.ui.tools_dialog import ToolsDialog

if TYPE_CHECKING:
    from desktopchat.ui.main_window import MainWindow


class Dialogs(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    @Slot()
    def show_about(self) -> AboutDialog:
        """The version, backend and licences: the engine (its own process) and the package
        metadata are asked on the task pool."""
        window = self.window
        dialog = window.dialogs.get("about")
        if not isinstance(dialog, AboutDialog):
            dialog = AboutDialog(window.paths, window)
            window.dialogs["about"] = dialog
            controller = window.controller

            def facts() -> tuple[BackendInfo, list[Component]]:
                return controller.backend_info(), components()

            def show(found: tuple[BackendInfo, list[Component]]) -> None:
                info, parts = found
                dialog.set_backend(info.summary(), info.version)
                dialog.set_components(parts)

            window.tasks.run(facts, show, window.show_error)
        dialog.show()
        dialog.raise_()
        return dialog

    @Slot()
    def show_shortcuts(self) -> ShortcutsDialog:
        window = self.window
        dialog = ShortcutsDialog(list(window.actions_by_name.values()), window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        window.dialogs["shortcuts"] = dialog
        return dialog

    @Slot()
    def show_tools(self) -> ToolsDialog:
        """Tools → Tools and MCP servers: the servers (tools.json, read again by the
        inference thread's toolbox at the next reply), their tools' permissions, the
        built-ins and the folders read_file may read."""
        window = self.window

        def list_tools(config: McpServerConfig) -> list[ToolSpec]:  # on the task pool
            return list_server_tools(config, offline=lambda: window.settings.offline_mode)

        dialog = ToolsDialog(
            McpServers.in_folder(window.paths.config),
            window.tasks,
            list_tools=list_tools,
            save_key=lambda name, key: key_store(name).set(key),
            forget_key=lambda name: key_store(name).delete(),
            folders=list(window.settings.tool_folders),
            parent=window,
        )
        dialog.folders_changed.connect(
            lambda folders: window.change_settings(tool_folders=list(folders))
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def show_network_activity(self) -> NetworkActivityDialog:
        dialog = NetworkActivityDialog(network.activity, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    # -- search --------------------------------------------------------------------------

    @Slot()
    def show_search(self) -> SearchDialog:
        window = self.window

        def search(text: str, newest: bool, answer: Hits) -> None:
            window.database.run(
                lambda core: core.conversations.search(text, newest_first=newest), answer
            )

        dialog = SearchDialog(search, window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.hit_chosen.connect(self.open_hit)
        dialog.show()
        window.dialogs["search"] = dialog
        return dialog

    @Slot(object)
    def open_hit(self, hit: SearchHit) -> None:
        """Open the conversation on the branch through the message, scrolled to it."""
        window = self.window
        if window.sidebar.showing_trash:
            window.sidebar.trash_button.setChecked(False)
        streaming = window.controller.generating_conversation == hit.conversation_id

        def switch(core: Core) -> bool:
            repo = core.conversations
            path = repo.active_path(hit.conversation_id)
            if hit.message_id in {m.id for m in path}:
                return True
            if streaming:
                return False
            repo.switch_branch(hit.conversation_id, hit.message_id)
            return True

        def switched(ok: bool) -> None:
            if not ok:
                window.show_error("That message is on another branch: stop the reply first.")
                return
            window.open_conversation(hit.conversation_id)
            window.refresh_conversations()

            # After the open's answer (the gateway answers in order): scroll to the hit.
            def scroll(_: None) -> None:
                window.chat_view.scroll_to_message(hit.message_id)

            window.database.run(lambda _core: None, scroll)

        window.database.run(switch, switched)

    # -- the prompt inspector, presets ---------------------------------------------------

    @Slot(int)
    def show_inspector(self, message_id: int) -> None:
        window = self.window

        def read(core: Core) -> tuple[Message, PromptRecord | None]:
            repo = core.conversations
            return repo.get_message(message_id), repo.prompt_for(message_id)

        def show(found: tuple[Message, PromptRecord | None]) -> None:
            dialog = PromptInspector(found[0], found[1], window)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.show()
            window.dialogs["inspector"] = dialog

        window.database.run(read, show)

    @Slot()
    def show_presets(self) -> PresetsDialog:
        window = self.window
        dialog = PresetsDialog(window.database, window.settings_panel.params, window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.changed.connect(window.chat_settings.refresh_presets)
        dialog.show()
        window.dialogs["presets"] = dialog
        return dialog
