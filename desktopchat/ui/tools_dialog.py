"""*Tools* settings: the MCP servers (add a command or a URL, import ``mcpServers`` JSON,
remove), each server's permission and whether it is used, the selected server's tools with
a permission of their own, the built-in tools, and the folders ``read_file`` may read.

``ToolPicker`` chooses the tools of one chat.

Listing a server's tools starts it (or reaches it over the network): that always runs on
the TaskRunner, as do the keychain's calls (``save_key``, ``forget_key``); an answer for a
server that is no longer selected is dropped. What a server says about its tools (names,
titles, descriptions, error text) is untrusted: it is only ever shown as plain text.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import shiboken6
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.tools.builtin import BUILTIN_TOOLS
from desktopchat.core.tools.servers import (
    McpServerConfig,
    McpServers,
    ServerConfigError,
    import_mcp_servers_json,
    name_problem,
)
from desktopchat.core.tools.setup import BUILTIN_PERMISSIONS
from desktopchat.core.tools.toolbox import entry_of
from desktopchat.core.tools.types import ToolPermission, ToolSpec
from desktopchat.ui.workers import TaskRunner

PERMISSION_LABELS: dict[ToolPermission, str] = {
    ToolPermission.ASK: "Ask first",
    ToolPermission.ALLOW: "Allow",
    ToolPermission.OFF: "Off",
}
AS_THE_SERVER = "As the server"
LISTING = "Listing tools…"
NOT_AVAILABLE = "(not available now)"
MAX_IMPORT_BYTES = 1_000_000  # an mcpServers file is a few kilobytes
MAX_PICKER_DESCRIPTION = 300
MAX_TABLE_DESCRIPTION = 1_000  # a server may describe a tool at length

# the server table's columns
NAME_COLUMN, WHERE_COLUMN, PERMISSION_COLUMN, ENABLED_COLUMN = range(4)
# the tools table's columns
TOOL_COLUMN, TITLE_COLUMN, DESCRIPTION_COLUMN, OVERRIDE_COLUMN = range(4)


def split_command_line(line: str) -> list[str]:
    """A command line as a program and its arguments (shell quoting; raises ValueError for
    an unclosed quote). On Windows backslashes are kept and quotes removed."""
    if os.name != "nt":
        return shlex.split(line)
    parts = shlex.split(line, posix=False)
    return [p[1:-1] if len(p) >= 2 and p[0] == p[-1] and p[0] in "\"'" else p for p in parts]


def where_of(config: McpServerConfig) -> str:
    """A stdio server's command line, or an HTTP server's URL."""
    if config.transport == "http":
        return config.url
    return shlex.join([config.command, *config.args])


def _plain_label(text: str = "", name: str = "") -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setText(text)
    if name:
        label.setAccessibleName(name)
    return label


def _item(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)  # an item's text is never interpreted as markup
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    return item


def _permission_combo(accessible: str, *, as_server: bool) -> QComboBox:
    combo = QComboBox()
    combo.setAccessibleName(accessible)
    if as_server:
        combo.addItem(AS_THE_SERVER, "")
    for permission, label in PERMISSION_LABELS.items():
        combo.addItem(label, permission.value)
    return combo


def _select(combo: QComboBox, value: str) -> None:
    combo.blockSignals(True)
    try:
        combo.setCurrentIndex(max(0, combo.findData(value)))
    finally:
        combo.blockSignals(False)


class _AddServerDialog(QDialog):
    """Asks for a new server's settings; OK runs ``submit`` and closes only when it
    returns no problem (the problem is shown, nothing is saved)."""

    def __init__(self, title: str, submit: Callable[[], str], parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.submit = submit
        self.form = QFormLayout()
        self.problem = _plain_label(name="What is wrong")
        self.problem.setVisible(False)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.try_accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)

    def field(self, label: str, tooltip: str, placeholder: str = "") -> QLineEdit:
        edit = QLineEdit()
        edit.setAccessibleName(label.rstrip(":"))
        edit.setToolTip(tooltip)
        edit.setPlaceholderText(placeholder)
        self.form.addRow(label, edit)
        return edit

    @Slot()
    def try_accept(self) -> None:
        problem = self.submit()
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        if not problem:
            self.accept()


class _ImportDialog(QDialog):
    """A paste box (or a file) of ``{"mcpServers": {...}}`` JSON; Import shows the notes."""

    def __init__(self, owner: ToolsDialog) -> None:
        super().__init__(owner)
        self._owner = owner
        self.setWindowTitle("Import MCP servers")
        self.resize(560, 420)
        intro = QLabel(
            'Paste the "mcpServers" JSON of Claude Desktop, Cursor or LM Studio, or open its '
            "file. Keys in Authorization headers go to the keychain, not to the settings."
        )
        intro.setWordWrap(True)
        self.text = QPlainTextEdit()
        self.text.setAccessibleName("mcpServers JSON")
        self.text.setPlaceholderText('{"mcpServers": {"name": {"command": "…", "args": []}}}')
        self.notes = _plain_label(name="Import notes")
        self.open_button = QPushButton("Open a file…")
        self.open_button.setToolTip("Read the JSON from a file (its text replaces the box's)")
        self.open_button.clicked.connect(self.open_file)
        self.import_button = QPushButton("Import")
        self.import_button.setToolTip("Add the servers this JSON lists")
        self.import_button.clicked.connect(self.run_import)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.import_button, QDialogButtonBox.ButtonRole.ApplyRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.notes)
        layout.addWidget(buttons)

    @Slot()
    def open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open mcpServers JSON", str(Path.home()), "JSON (*.json);;All files (*)"
        )
        if path:
            self.notes.setText(f"Reading {path}…")
            self._owner.tasks.run(lambda: _read_import_file(path), self._file_read, self._failed)

    def _file_read(self, text: str) -> None:
        if shiboken6.isValid(self):
            self.text.setPlainText(text)
            self.notes.setText("")

    def _failed(self, message: str) -> None:
        if shiboken6.isValid(self):
            self.notes.setText(message)

    @Slot()
    def run_import(self) -> None:
        self.notes.setText("\n".join(self._owner.import_json(self.text.toPlainText())))


def _read_import_file(path: str) -> str:
    from desktopchat.core.errors import DesktopChatError

    try:
        with open(path, "rb") as file:
            data = file.read(MAX_IMPORT_BYTES + 1)
    except OSError as exc:
        raise DesktopChatError(f"Could not read {path}: {exc.strerror or exc}.") from None
    if len(data) > MAX_IMPORT_BYTES:
        raise DesktopChatError(f"{path} is too large for an mcpServers file.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DesktopChatError(f"{path} is not UTF-8 text.") from None


class ToolsDialog(QDialog):
    """The *Tools* settings. Every change is saved at once (tools.json, the keychain) and
    announced by ``changed``; the read_file folders by ``folders_changed``."""

    changed = Signal()
    folders_changed = Signal(list)  # list[str]

    def __init__(
        self,
        servers: McpServers,
        tasks: TaskRunner,
        *,
        list_tools: Callable[[McpServerConfig], list[ToolSpec]],
        save_key: Callable[[str, str], None],
        forget_key: Callable[[str], None],
        folders: list[str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Tools")
        self.resize(760, 600)
        self.servers = servers
        self.tasks = tasks
        self._list_tools = list_tools
        self._save_key = save_key
        self._forget_key = forget_key
        self._folders: list[str] = list(dict.fromkeys(folders))
        self._names: list[str] = []  # the server table's rows
        self._shown = ""  # the server whose tools are shown (or being listed)
        self._listing = 0  # the latest listing's number: older answers are dropped
        self.tools: list[ToolSpec] = []  # the shown server's tools
        self.listing = False  # a listing is under way

        self.file_problem = _plain_label(servers.problem, "The server list's problem")
        self.file_problem.setVisible(bool(servers.problem))
        self.note = _plain_label(name="Tools status")

        tabs = QTabWidget()
        tabs.addTab(self._servers_page(), "MCP servers")
        tabs.addTab(self._builtins_page(), "Built-in tools")
        self.tabs = tabs
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.file_problem)
        layout.addWidget(tabs, 1)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self.tools_status.setText("Select a server to see its tools.")
        self.refresh_servers()
        self._show_folders()

    # -- building --------------------------------------------------------------------

    def _servers_page(self) -> QWidget:
        self.server_list = QTableWidget(0, 4)
        self.server_list.setAccessibleName("MCP servers")
        self.server_list.setHorizontalHeaderLabels(["Name", "Command or URL", "Permission", "Use"])
        header = self.server_list.horizontalHeader()
        header.setSectionResizeMode(WHERE_COLUMN, QHeaderView.ResizeMode.Stretch)
        self.server_list.verticalHeader().setVisible(False)
        self.server_list.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.server_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.server_list.itemSelectionChanged.connect(self._on_selection)

        self.add_stdio_button = QPushButton("Add a command (stdio)…")
        self.add_stdio_button.setAccessibleName("Add a command server")
        self.add_stdio_button.setToolTip(
            "A server DesktopChat starts as a program on this computer"
        )
        self.add_stdio_button.clicked.connect(self.ask_stdio)
        self.add_http_button = QPushButton("Add a URL (HTTP)…")
        self.add_http_button.setAccessibleName("Add a URL server")
        self.add_http_button.setToolTip("A server reached over Streamable HTTP, with its key")
        self.add_http_button.clicked.connect(self.ask_http)
        self.import_button = QPushButton("Import mcpServers JSON…")
        self.import_button.setAccessibleName("Import mcpServers JSON")
        self.import_button.setToolTip("Servers from Claude Desktop, Cursor or LM Studio settings")
        self.import_button.clicked.connect(self.ask_import)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setAccessibleName("Remove the selected server")
        self.remove_button.setToolTip("Remove the selected server and forget its key")
        self.remove_button.clicked.connect(self.remove_selected)
        row = QHBoxLayout()
        for button in (
            self.add_stdio_button,
            self.add_http_button,
            self.import_button,
            self.remove_button,
        ):
            row.addWidget(button)
        row.addStretch(1)

        self.tools_box = QGroupBox("The selected server's tools")
        self.tools_status = _plain_label(name="Listing status")
        self.tools_error = _plain_label(name="Why the tools could not be listed")
        self.tools_error.setVisible(False)
        self.refresh_tools_button = QPushButton("List again")
        self.refresh_tools_button.setToolTip("Ask the server for its tools again")
        self.refresh_tools_button.clicked.connect(self.list_selected_tools)
        self.tools_table = QTableWidget(0, 4)
        self.tools_table.setAccessibleName("The server's tools")
        self.tools_table.setHorizontalHeaderLabels(["Tool", "Title", "Description", "Permission"])
        self.tools_table.horizontalHeader().setSectionResizeMode(
            DESCRIPTION_COLUMN, QHeaderView.ResizeMode.Stretch
        )
        self.tools_table.verticalHeader().setVisible(False)
        self.tools_table.setWordWrap(True)
        status_row = QHBoxLayout()
        status_row.addWidget(self.tools_status, 1)
        status_row.addWidget(self.refresh_tools_button)
        box = QVBoxLayout(self.tools_box)
        box.addLayout(status_row)
        box.addWidget(self.tools_error)
        box.addWidget(self.tools_table, 1)

        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(self.server_list, 1)
        layout.addLayout(row)
        layout.addWidget(self.tools_box, 2)
        return page

    def _builtins_page(self) -> QWidget:
        self.builtin_table = QTableWidget(len(BUILTIN_TOOLS), 4)
        self.builtin_table.setAccessibleName("Built-in tools")
        self.builtin_table.setHorizontalHeaderLabels(
            ["Tool", "What it does", "Needs", "Permission"]
        )
        self.builtin_table.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.ResizeMode.Stretch
        )
        self.builtin_table.verticalHeader().setVisible(False)
        self.builtin_table.setWordWrap(True)
        self.builtin_combos: dict[str, QComboBox] = {}
        for row, tool in enumerate(BUILTIN_TOOLS):
            for column, text in enumerate((tool.title, tool.summary, tool.needs or "nothing")):
                self.builtin_table.setItem(row, column, _item(text))
            default = BUILTIN_PERMISSIONS.get(tool.name, ToolPermission.ASK)
            combo = QComboBox()
            combo.setAccessibleName(f"{tool.title}: permission")
            combo.addItem(f"Default ({PERMISSION_LABELS[default].lower()})", "")
            for permission, label in PERMISSION_LABELS.items():
                combo.addItem(label, permission.value)
            chosen = self.servers.builtin_permission(tool.name)
            _select(combo, chosen.value if chosen is not None else "")
            combo.currentIndexChanged.connect(
                lambda _i, n=tool.name, c=combo: self.set_builtin_permission(
                    n, ToolPermission(c.currentData()) if c.currentData() else None
                )
            )
            self.builtin_combos[tool.name] = combo
            self.builtin_table.setCellWidget(row, 3, combo)
        self.builtin_table.resizeRowsToContents()
        note = QLabel(
            "A chat offers the built-in tools it has chosen (the chat's settings). The model "
            "asks before searching your conversations or documents or reading a file."
        )
        note.setWordWrap(True)

        folders_box = QGroupBox("Folders read_file may read")
        self.folder_list = QListWidget()
        self.folder_list.setAccessibleName("Folders read_file may read")
        self.add_folder_button = QPushButton("Add folder…")
        self.add_folder_button.setToolTip("Let read_file read the files inside a folder")
        self.add_folder_button.clicked.connect(self.ask_folder)
        self.remove_folder_button = QPushButton("Remove")
        self.remove_folder_button.setAccessibleName("Remove the selected folder")
        self.remove_folder_button.setToolTip("read_file may no longer read this folder")
        self.remove_folder_button.clicked.connect(self.remove_selected_folder)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_folder_button)
        buttons.addWidget(self.remove_folder_button)
        buttons.addStretch(1)
        inner = QVBoxLayout(folders_box)
        inner.addWidget(self.folder_list, 1)
        inner.addLayout(buttons)

        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(self.builtin_table, 1)
        layout.addWidget(note)
        layout.addWidget(folders_box, 1)
        return page

    # -- the server list ---------------------------------------------------------------

    @property
    def server_names(self) -> list[str]:
        return list(self._names)

    def selected_server(self) -> McpServerConfig | None:
        row = self.server_list.currentRow()
        if not 0 <= row < len(self._names) or not self.server_list.selectedItems():
            return None
        return self.servers.get(self._names[row])

    def select_server(self, name: str) -> None:
        if name in self._names:
            self.server_list.selectRow(self._names.index(name))

    def server_permission_combo(self, name: str) -> QComboBox:
        widget = self.server_list.cellWidget(self._names.index(name), PERMISSION_COLUMN)
        assert isinstance(widget, QComboBox)
        return widget

    def server_enabled_box(self, name: str) -> QCheckBox:
        widget = self.server_list.cellWidget(self._names.index(name), ENABLED_COLUMN)
        assert isinstance(widget, QCheckBox)
        return widget

    def refresh_servers(self, select: str | None = None) -> None:
        """Show the server list again, keeping (or moving) the selection."""
        keep = select if select is not None else self._shown
        configs = self.servers.list()
        self.server_list.blockSignals(True)
        try:
            self.server_list.clearSelection()
            self.server_list.setRowCount(len(configs))
            self._names = [c.name for c in configs]
            for row, config in enumerate(configs):
                self._show_server(row, config)
        finally:
            self.server_list.blockSignals(False)
        if keep in self._names:
            self.select_server(keep)  # the same server: its tools are not listed again
        self._on_selection()

    def _show_server(self, row: int, config: McpServerConfig) -> None:
        name = config.name
        self.server_list.setItem(row, NAME_COLUMN, _item(name))
        where = _item(where_of(config))
        self.server_list.setItem(row, WHERE_COLUMN, where)
        combo = _permission_combo(f"Permission of {name}'s tools", as_server=False)
        combo.setToolTip("Whether its tools run after asking you, at once, or never")
        _select(combo, config.permission.value)
        combo.currentIndexChanged.connect(
            lambda _i, n=name, c=combo: self.set_server_permission(
                n, ToolPermission(c.currentData())
            )
        )
        self.server_list.setCellWidget(row, PERMISSION_COLUMN, combo)
        box = QCheckBox()
        box.setAccessibleName(f"Use {name}")
        box.setToolTip("Offer this server's tools to chats (off: it is never started)")
        box.setChecked(config.enabled)
        box.toggled.connect(lambda on, n=name: self.set_server_enabled(n, on))
        self.server_list.setCellWidget(row, ENABLED_COLUMN, box)

    def _changed(self, note: str) -> None:
        self.note.setText(note)
        self.changed.emit()

    def _update(self, config: McpServerConfig, note: str) -> bool:
        try:
            self.servers.update(config)
        except ServerConfigError as exc:
            self.note.setText(str(exc))
            self.refresh_servers()  # show what is saved
            return False
        self._changed(note)
        return True

    def set_server_permission(self, name: str, permission: ToolPermission) -> None:
        config = self.servers.get(name)
        if config is None or config.permission is permission:
            return
        if name in self._names:
            _select(self.server_permission_combo(name), permission.value)
        label = PERMISSION_LABELS[permission].lower()
        self._update(replace(config, permission=permission), f"{name}'s tools: {label}.")

    def set_builtin_permission(self, name: str, permission: ToolPermission | None) -> None:
        """A built-in tool's permission in every chat that enables it (None: its
        default); *Always allow* in the approval dialog sets it too."""
        if self.servers.builtin_permission(name) is permission:
            return
        combo = self.builtin_combos.get(name)
        if combo is not None:
            _select(combo, permission.value if permission is not None else "")
        try:
            self.servers.set_builtin_permission(name, permission)
        except ServerConfigError as exc:
            self.note.setText(str(exc))
            return
        label = PERMISSION_LABELS[permission].lower() if permission is not None else "its default"
        self._changed(f"{name}: {label}.")

    def set_server_enabled(self, name: str, enabled: bool) -> None:
        config = self.servers.get(name)
        if config is None or config.enabled is enabled:
            return
        if name in self._names:
            box = self.server_enabled_box(name)
            box.blockSignals(True)
            box.setChecked(enabled)
            box.blockSignals(False)
        note = f"{name} is used." if enabled else f"{name} is off: it is never started."
        self._update(replace(config, enabled=enabled), note)

    # -- adding and removing -----------------------------------------------------------

    def _add(self, config: McpServerConfig) -> str:
        if problem := name_problem(config.name):
            return problem.capitalize() + "."
        if self.servers.get(config.name) is not None:
            return f"There is already a server named '{config.name}'."
        if problems := config.problems():
            return "; ".join(problems).capitalize() + "."
        try:
            self.servers.add(config)
        except ServerConfigError as exc:
            return str(exc)
        return ""

    def add_stdio(self, name: str, command_line: str, cwd: str = "") -> str:
        """Add a server started as ``command_line``; "" when added, else the problem
        (then nothing is saved)."""
        name = name.strip()
        if problem := name_problem(name):
            return problem.capitalize() + "."
        try:
            parts = split_command_line(command_line.strip())
        except ValueError:
            return "The command line has an unclosed quote."
        if not parts:
            return "Enter the command that starts the server."
        config = McpServerConfig(
            name=name, transport="stdio", command=parts[0], args=tuple(parts[1:]), cwd=cwd.strip()
        )
        if problem := self._add(config):
            return problem
        self.refresh_servers(select=name)
        self._changed(f"Added {name}.")
        return ""

    def add_http(self, name: str, url: str, key: str = "") -> str:
        """Add a Streamable HTTP server; its key (if any) goes to ``save_key``, never to
        tools.json. "" when added, else the problem (then nothing is saved)."""
        name = name.strip()
        config = McpServerConfig(name=name, transport="http", url=url.strip())
        if problem := self._add(config):
            return problem
        self.refresh_servers(select=name)
        self._changed(f"Added {name}.")
        if key.strip():
            self._store_key(name, key.strip())
        return ""

    def _store_key(self, name: str, key: str) -> None:
        save = self._save_key

        def failed(message: str) -> None:
            if shiboken6.isValid(self):
                self.note.setText(f"{name} was added, but its key could not be saved: {message}")

        self.tasks.run(lambda: save(name, key), lambda _none: None, failed)

    def import_json(self, text: str) -> list[str]:
        """Add the servers of ``{"mcpServers": {...}}`` JSON; returns what happened, in
        words (the first line says what was imported)."""
        notes: list[str] = []
        keys: dict[str, str] = {}  # saved once their server is added

        def keep_key(name: str, key: str) -> None:
            keys[name] = key

        try:
            configs = import_mcp_servers_json(
                text, save_key=keep_key, notes=notes, taken=[c.name for c in self.servers.list()]
            )
        except ServerConfigError as exc:
            return [f"Nothing was imported: {exc}"]
        added: list[str] = []
        for config in configs:
            if problem := self._add(config):
                notes.append(f"'{config.name}' was left out: {problem}")
                continue
            added.append(config.name)
        for name, key in keys.items():
            if name in added:
                self._store_key(name, key)
        if not added:
            return ["Nothing was imported.", *notes]
        self.refresh_servers(select=added[0])
        count = f"{len(added)} server{'s' if len(added) != 1 else ''}"
        summary = f"Imported {count}: {', '.join(added)}."
        self._changed(summary)
        return [summary, *notes]

    def remove_selected(self) -> None:
        config = self.selected_server()
        if config is not None:
            self.remove_server(config.name)

    def remove_server(self, name: str) -> None:
        """Remove the server ``name`` and forget its key."""
        if self.servers.get(name) is None:
            return
        try:
            self.servers.remove(name)
        except ServerConfigError as exc:
            self.note.setText(str(exc))
            return
        forget = self._forget_key

        def failed(message: str) -> None:
            if shiboken6.isValid(self):
                self.note.setText(
                    f"{name} was removed, but its key could not be forgotten: {message}"
                )

        self.tasks.run(lambda: forget(name), lambda _none: None, failed)
        self.refresh_servers()
        self._changed(f"Removed {name}.")

    @Slot()
    def ask_stdio(self) -> None:
        dialog = _AddServerDialog("Add a command (stdio)", lambda: "", self)
        name = dialog.field("Name:", "Letters, digits, '_' and '-'; the model sees it", "files")
        line = dialog.field(
            "Command line:",
            "The program and its arguments, quoted as in a shell",
            "npx -y @modelcontextprotocol/server-filesystem ~/Documents",
        )
        cwd = dialog.field("Working folder:", "Where it starts (optional)", "optional")
        dialog.submit = lambda: self.add_stdio(name.text(), line.text(), cwd.text())
        self.stdio_dialog = dialog
        dialog.open()

    @Slot()
    def ask_http(self) -> None:
        dialog = _AddServerDialog("Add a URL (HTTP)", lambda: "", self)
        name = dialog.field("Name:", "Letters, digits, '_' and '-'; the model sees it", "search")
        url = dialog.field("URL:", "The server's Streamable HTTP endpoint", "https://…/mcp")
        key = dialog.field(
            "Key:", "A bearer key (optional): kept in the keychain, never shown again"
        )
        key.setEchoMode(QLineEdit.EchoMode.Password)
        dialog.submit = lambda: self.add_http(name.text(), url.text(), key.text())
        dialog.finished.connect(lambda _r: key.clear())
        self.http_dialog = dialog
        dialog.open()

    @Slot()
    def ask_import(self) -> None:
        dialog = _ImportDialog(self)
        self.import_dialog = dialog
        dialog.open()

    # -- the selected server's tools -----------------------------------------------------

    @Slot()
    def _on_selection(self) -> None:
        config = self.selected_server()
        name = config.name if config is not None else ""
        self.remove_button.setEnabled(config is not None)
        self.refresh_tools_button.setEnabled(config is not None)
        if name == self._shown:
            return
        self._shown = name
        if config is None:
            self._listing += 1  # an answer on its way is dropped
            self.listing = False
            self._show_tools([])
            self.tools_status.setText("Select a server to see its tools.")
            self.tools_error.setVisible(False)
            self.tools_box.setTitle("The selected server's tools")
            return
        self.list_selected_tools()

    @Slot()
    def list_selected_tools(self) -> None:
        """Ask the selected server for its tools (on the TaskRunner: it starts the server)."""
        config = self.selected_server()
        if config is None:
            return
        self._shown = config.name
        self._listing += 1
        number = self._listing
        self.listing = True
        self.tools_box.setTitle(f"The tools of {config.name}")
        self.tools_status.setText(LISTING)
        self.tools_error.setVisible(False)
        self.tools_error.setText("")
        self._show_tools([])
        list_tools = self._list_tools
        self.tasks.run(
            lambda: list_tools(config),
            lambda specs: self._listed(number, specs),
            lambda message: self._list_failed(number, message),
        )

    def _current(self, number: int) -> bool:
        return shiboken6.isValid(self) and number == self._listing

    def _listed(self, number: int, specs: list[ToolSpec]) -> None:
        if not self._current(number):
            return
        self.listing = False
        self._show_tools(specs)
        count = len(specs)
        self.tools_status.setText(
            f"{count} tool{'s' if count != 1 else ''}." if count else "This server has no tools."
        )

    def _list_failed(self, number: int, message: str) -> None:
        if not self._current(number):
            return
        self.listing = False
        self.tools_status.setText("Its tools could not be listed.")
        self.tools_error.setText(message)
        self.tools_error.setVisible(True)

    @staticmethod
    def tool_key(spec: ToolSpec) -> str:
        """The name a tool's override is kept under: its name without the server's."""
        return entry_of(spec).partition(":")[2]

    def tool_names(self) -> list[str]:
        return [self.tool_key(spec) for spec in self.tools]

    def tool_permission_combo(self, tool: str) -> QComboBox:
        widget = self.tools_table.cellWidget(self.tool_names().index(tool), OVERRIDE_COLUMN)
        assert isinstance(widget, QComboBox)
        return widget

    def _show_tools(self, specs: list[ToolSpec]) -> None:
        self.tools = list(specs)
        self.tools_table.setRowCount(len(specs))
        config = self.servers.get(self._shown)
        overrides = dict(config.tool_permissions) if config is not None else {}
        for row, spec in enumerate(specs):
            tool = self.tool_key(spec)
            self.tools_table.setItem(row, TOOL_COLUMN, _item(tool))
            self.tools_table.setItem(row, TITLE_COLUMN, _item(spec.title))
            description = spec.description.strip()
            if len(description) > MAX_TABLE_DESCRIPTION:
                description = description[:MAX_TABLE_DESCRIPTION].rstrip() + "…"
            self.tools_table.setItem(row, DESCRIPTION_COLUMN, _item(description))
            combo = _permission_combo(f"Permission of {tool}", as_server=True)
            combo.setToolTip("This tool's own permission, or the server's")
            override = overrides.get(tool)
            _select(combo, override.value if override is not None else "")
            server = spec.source
            combo.currentIndexChanged.connect(
                lambda _i, s=server, t=tool, c=combo: self.set_tool_override(
                    s, t, ToolPermission(c.currentData()) if c.currentData() else None
                )
            )
            self.tools_table.setCellWidget(row, OVERRIDE_COLUMN, combo)
        self.tools_table.resizeRowsToContents()

    def set_tool_override(self, server: str, tool: str, permission: ToolPermission | None) -> None:
        """The permission of ``server``'s tool ``tool`` (its name without the server's);
        None: as the server's."""
        config = self.servers.get(server)
        if config is None or config.tool_permissions.get(tool) is permission:
            return
        if server == self._shown and tool in self.tool_names():
            _select(self.tool_permission_combo(tool), permission.value if permission else "")
        if permission is None:
            rest = {k: v for k, v in config.tool_permissions.items() if k != tool}
            self._update(
                replace(config, tool_permissions=rest), f"{tool} of {server}: as the server."
            )
            return
        try:
            self.servers.set_tool_permission(server, tool, permission)
        except ServerConfigError as exc:
            self.note.setText(str(exc))
            return
        self._changed(f"{tool} of {server}: {PERMISSION_LABELS[permission].lower()}.")

    # -- read_file's folders -----------------------------------------------------------

    @property
    def folders(self) -> list[str]:
        return list(self._folders)

    def _show_folders(self) -> None:
        self.folder_list.clear()
        self.folder_list.addItems(self._folders)
        self.remove_folder_button.setEnabled(bool(self._folders))

    def _folders_changed(self, note: str) -> None:
        self._show_folders()
        self.folders_changed.emit(list(self._folders))
        self._changed(note)

    def add_folder(self, path: str) -> None:
        folder = str(Path(path)) if path.strip() else ""
        if not folder or folder in self._folders:
            return
        self._folders.append(folder)
        self._folders_changed(f"read_file may read {folder}.")

    def remove_folder(self, path: str) -> None:
        if path not in self._folders:
            return
        self._folders.remove(path)
        self._folders_changed(f"read_file may no longer read {path}.")

    @Slot()
    def ask_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "A folder read_file may read", str(Path.home())
        )
        if path:
            self.add_folder(path)

    @Slot()
    def remove_selected_folder(self) -> None:
        item = self.folder_list.currentItem()
        if item is not None:
            self.remove_folder(item.text())


class ToolPicker(QDialog):
    """The tools of one chat: a checkbox per tool, grouped by server, and per server
    *All of this server's tools* (``server:*``, which also takes tools it adds later).
    Chosen entries that are not available now (a server that is down) are kept, listed
    as not available, until unchecked."""

    def __init__(
        self,
        available: list[tuple[str, str, str, str]],  # entry, label, description, server label
        chosen: Sequence[str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Tools of this chat")
        self.resize(520, 520)
        self._original = list(dict.fromkeys(e for e in chosen if e))
        wanted = set(self._original)
        self.boxes: dict[str, QCheckBox] = {}  # entry -> its checkbox
        self.group_boxes: dict[str, QCheckBox] = {}  # "server:*" -> its checkbox
        self._members: dict[str, list[str]] = {}  # "server:*" -> that server's entries
        self._order: list[str] = []  # every entry as shown

        groups: dict[str, list[tuple[str, str, str]]] = {}
        labels: dict[str, str] = {}
        seen: set[str] = set()
        for entry, label, description, server_label in available:
            if not entry or entry in seen or entry.endswith(":*"):
                continue
            seen.add(entry)
            key = entry.partition(":")[0] if ":" in entry else ""
            labels.setdefault(key, server_label or key or "Built-in tools")
            groups.setdefault(key, []).append((entry, label, description))

        inner = QWidget()
        column = QVBoxLayout(inner)
        for key, tools in groups.items():
            box = QGroupBox()
            box.setTitle(labels[key])  # a title is plain text
            layout = QVBoxLayout(box)
            if key:
                every = f"{key}:*"
                group = QCheckBox("All of this server's tools")
                group.setAccessibleName(f"All of {labels[key]}'s tools")
                group.setToolTip("Also the tools this server adds later")
                group.setChecked(every in wanted)
                group.toggled.connect(lambda on, g=every: self._group_toggled(g, on))
                layout.addWidget(group)
                self.group_boxes[every] = group
                self._members[every] = []
                self._order.append(every)
            for entry, label, description in tools:
                check = QCheckBox(label or entry)
                check.setAccessibleName(label or entry)
                check.setChecked(entry in wanted)
                layout.addWidget(check)
                if description.strip():
                    about = _plain_label(description.strip()[:MAX_PICKER_DESCRIPTION])
                    about.setContentsMargins(24, 0, 0, 4)
                    layout.addWidget(about)
                self.boxes[entry] = check
                self._order.append(entry)
                if key:
                    self._members[f"{key}:*"].append(entry)
            column.addWidget(box)
        missing = [e for e in self._original if e not in self.boxes and e not in self.group_boxes]
        if missing:
            box = QGroupBox("Not available now")
            layout = QVBoxLayout(box)
            for entry in missing:
                check = QCheckBox(f"{entry} {NOT_AVAILABLE}")
                check.setAccessibleName(f"{entry}, not available now")
                check.setToolTip("Kept for this chat; uncheck to drop it")
                check.setChecked(True)
                layout.addWidget(check)
                self.boxes[entry] = check
                self._order.append(entry)
            column.addWidget(box)
        if not self._order:
            column.addWidget(QLabel("No tools are available."))
        column.addStretch(1)
        for every, group in self.group_boxes.items():
            if group.isChecked():
                self._group_toggled(every, True)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(buttons)

    def _group_toggled(self, every: str, on: bool) -> None:
        """All of a server's tools: each is checked and cannot be unchecked; off again:
        none is checked."""
        for entry in self._members.get(every, []):
            check = self.boxes[entry]
            check.setChecked(on)
            check.setEnabled(not on)

    def chosen(self) -> list[str]:
        """The checked entries: those that were chosen first, in their order, then the
        newly checked ones as shown; a server's tools as ``server:*`` when all are."""
        picked: set[str] = set()
        for every, group in self.group_boxes.items():
            if group.isChecked():
                picked.add(every)
        covered = {e for every in picked for e in self._members.get(every, [])}
        picked |= {e for e, check in self.boxes.items() if check.isChecked() and e not in covered}
        first = [e for e in self._original if e in picked]
        return first + [e for e in self._order if e in picked and e not in first]
