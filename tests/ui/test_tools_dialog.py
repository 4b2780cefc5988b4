"""The *Tools* settings dialog, offscreen, against real McpServers (tools.json in tmp_path)
and the tests' real stdio MCP server (tests/mcp_server.py), listed on a real, asynchronous
TaskRunner; and the chat's ToolPicker."""

from __future__ import annotations

import json
import shlex
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QTableWidget, QTableWidgetItem
from pytestqt.qtbot import QtBot

from desktopchat.core.errors import ToolError
from desktopchat.core.secrets import KeychainError
from desktopchat.core.tools.mcp import McpClient
from desktopchat.core.tools.servers import McpServerConfig, McpServers
from desktopchat.core.tools.types import ToolPermission, ToolSpec
from desktopchat.ui.tools_dialog import LISTING, NOT_AVAILABLE, ToolPicker, ToolsDialog
from desktopchat.ui.workers import TaskRunner

MCP_SERVER = Path(__file__).resolve().parent.parent / "mcp_server.py"
WAIT_MS = 60_000  # a hang guard, not a speed limit
SERVER_LINE = shlex.join([sys.executable, str(MCP_SERVER)])

# A server whose tool's title and description are markup: they must show literally.
MARKUP_SERVER = '''
from mcp.server.mcpserver import MCPServer

server = MCPServer("markup")


@server.tool(title="<i>Shout</i>")
def shout(text: str) -> str:
    """<b>Loud</b> <a href="https://example.invalid">click</a> <img src=x>"""
    return text.upper()


server.run()
'''


def real_list_tools(config: McpServerConfig) -> list[ToolSpec]:
    client = McpClient(config, timeout=30)
    try:
        return client.list_tools()
    finally:
        client.close()


class Keys:
    """What the dialog handed to the keychain."""

    def __init__(self) -> None:
        self.saved: list[tuple[str, str]] = []
        self.forgotten: list[str] = []
        self.fail = False

    def save(self, name: str, key: str) -> None:
        if self.fail:
            raise KeychainError("the keychain is locked")
        self.saved.append((name, key))

    def forget(self, name: str) -> None:
        self.forgotten.append(name)


@pytest.fixture
def tasks() -> Iterator[TaskRunner]:
    runner = TaskRunner()
    yield runner
    assert runner.wait(WAIT_MS)


@pytest.fixture
def keys() -> Keys:
    return Keys()


Make = Callable[..., ToolsDialog]


@pytest.fixture
def make_dialog(qtbot: QtBot, tmp_path: Path, tasks: TaskRunner, keys: Keys) -> Make:
    def make(
        list_tools: Callable[[McpServerConfig], list[ToolSpec]] = real_list_tools,
        folders: list[str] | None = None,
    ) -> ToolsDialog:
        dialog = ToolsDialog(
            McpServers(tmp_path / "tools.json"),
            tasks,
            list_tools=list_tools,
            save_key=keys.save,
            forget_key=keys.forget,
            folders=folders or [],
        )
        qtbot.addWidget(dialog)
        return dialog

    return make


def saved(tmp_path: Path) -> McpServers:
    """The server list as a fresh store reads it from tools.json."""
    return McpServers(tmp_path / "tools.json")


def counter(dialog: ToolsDialog) -> list[int]:
    count = [0]
    dialog.changed.connect(lambda: count.__setitem__(0, count[0] + 1))
    return count


def listed(qtbot: QtBot, dialog: ToolsDialog) -> None:
    qtbot.waitUntil(lambda: not dialog.listing, timeout=WAIT_MS)


def cell(table: QTableWidget, row: int, column: int) -> QTableWidgetItem:
    item = table.item(row, column)
    assert item is not None
    return item


def line_edits(dialog: QDialog) -> dict[str, QLineEdit]:
    return {edit.accessibleName(): edit for edit in dialog.findChildren(QLineEdit)}


def no_tools(_config: McpServerConfig) -> list[ToolSpec]:
    return []


def test_a_stdio_server_is_saved_listed_and_its_tools_shown(
    qtbot: QtBot, tmp_path: Path, make_dialog: Make
) -> None:
    dialog = make_dialog()
    changes = counter(dialog)
    assert not dialog.file_problem.isVisibleTo(dialog)
    assert dialog.add_stdio("testserver", SERVER_LINE) == ""
    assert changes == [1]
    stored = saved(tmp_path).get("testserver")
    assert stored is not None
    assert (stored.transport, stored.command, stored.args) == (
        "stdio",
        sys.executable,
        (str(MCP_SERVER),),
    )
    assert dialog.server_names == ["testserver"]
    assert cell(dialog.server_list, 0, 1).text() == SERVER_LINE
    # the new server is selected and its tools are being listed (off the GUI thread)
    assert dialog.selected_server() == stored
    assert dialog.listing and dialog.tools_status.text() == LISTING
    listed(qtbot, dialog)
    assert not dialog.tools_error.isVisibleTo(dialog)
    names = dialog.tool_names()
    assert {"add", "echo", "slow", "hostile", "crash", "pid", "numbers"} <= set(names)
    row = names.index("add")
    assert cell(dialog.tools_table, row, 1).text() == "Add two numbers"
    assert cell(dialog.tools_table, row, 2).text() == "Adds a and b."
    assert dialog.tools_status.text() == f"{len(names)} tools."
    assert changes == [1]  # listing changes nothing


def test_permissions_and_overrides_are_saved_and_removed(
    qtbot: QtBot, tmp_path: Path, make_dialog: Make, keys: Keys
) -> None:
    dialog = make_dialog()
    assert dialog.add_stdio("testserver", SERVER_LINE) == ""
    listed(qtbot, dialog)
    changes = counter(dialog)

    # the server's permission, through its combo in the table
    combo = dialog.server_permission_combo("testserver")
    combo.setCurrentIndex(combo.findData(ToolPermission.ALLOW.value))
    config = saved(tmp_path).get("testserver")
    assert config is not None and config.permission is ToolPermission.ALLOW
    assert changes == [1]

    # a tool's own permission, through its combo in the tools table
    add = dialog.tool_permission_combo("add")
    add.setCurrentIndex(add.findData(ToolPermission.OFF.value))
    config = saved(tmp_path).get("testserver")
    assert config is not None
    assert config.tool_permissions == {"add": ToolPermission.OFF}
    assert config.permission_of("add") is ToolPermission.OFF
    assert config.permission_of("echo") is ToolPermission.ALLOW
    assert changes == [2]

    # the same through the methods; the combos follow
    dialog.set_tool_override("testserver", "echo", ToolPermission.ASK)
    assert dialog.tool_permission_combo("echo").currentData() == ToolPermission.ASK.value
    dialog.set_server_permission("testserver", ToolPermission.OFF)
    assert combo.currentData() == ToolPermission.OFF.value
    assert changes == [4]
    dialog.set_server_permission("testserver", ToolPermission.OFF)  # no change: no signal
    assert changes == [4]

    # "As the server" removes the override
    add.setCurrentIndex(add.findData(""))
    config = saved(tmp_path).get("testserver")
    assert config is not None and config.tool_permissions == {"echo": ToolPermission.ASK}
    dialog.set_tool_override("testserver", "echo", None)
    config = saved(tmp_path).get("testserver")
    assert config is not None and config.tool_permissions == {}
    assert dialog.tool_permission_combo("echo").currentData() == ""
    assert changes == [6]

    # not used: the checkbox
    dialog.server_enabled_box("testserver").setChecked(False)
    config = saved(tmp_path).get("testserver")
    assert config is not None and not config.enabled
    assert changes == [7]

    # a change of a permission keeps the listed tools (the server is not started again)
    assert not dialog.listing and "add" in dialog.tool_names()

    dialog.remove_selected()
    assert saved(tmp_path).list() == []
    assert dialog.server_names == [] and dialog.tool_names() == []
    assert not dialog.remove_button.isEnabled()
    assert changes == [8]
    qtbot.waitUntil(lambda: keys.forgotten == ["testserver"], timeout=WAIT_MS)


def test_tool_titles_and_descriptions_are_plain_text(
    qtbot: QtBot, tmp_path: Path, make_dialog: Make
) -> None:
    script = tmp_path / "markup_server.py"
    script.write_text(MARKUP_SERVER, encoding="utf-8")
    dialog = make_dialog()
    assert dialog.add_stdio("markup", shlex.join([sys.executable, str(script)])) == ""
    listed(qtbot, dialog)
    assert not dialog.tools_error.isVisibleTo(dialog), dialog.tools_error.text()
    assert dialog.tool_names() == ["shout"]
    assert cell(dialog.tools_table, 0, 1).text() == "<i>Shout</i>"
    description = cell(dialog.tools_table, 0, 2).text()
    assert description == '<b>Loud</b> <a href="https://example.invalid">click</a> <img src=x>'
    # no tooltip could render it as markup either
    assert cell(dialog.tools_table, 0, 2).toolTip() == ""


def test_an_http_server_keeps_its_key_out_of_tools_json(
    qtbot: QtBot, tmp_path: Path, make_dialog: Make, keys: Keys
) -> None:
    dialog = make_dialog(list_tools=no_tools)
    changes = counter(dialog)
    key = "sk-secret-Zq81vXa0pLm3"
    assert dialog.add_http("remote", "https://mcp.example.invalid/mcp", key) == ""
    qtbot.waitUntil(lambda: keys.saved == [("remote", key)], timeout=WAIT_MS)
    config = saved(tmp_path).get("remote")
    assert config is not None
    assert (config.transport, config.url) == ("http", "https://mcp.example.invalid/mcp")
    assert key not in (tmp_path / "tools.json").read_text(encoding="utf-8")
    assert cell(dialog.server_list, 0, 1).text() == "https://mcp.example.invalid/mcp"
    assert changes == [1]
    listed(qtbot, dialog)
    assert dialog.tools_status.text() == "This server has no tools."


def test_the_add_url_dialog_takes_a_password_and_forgets_it(
    qtbot: QtBot, tmp_path: Path, make_dialog: Make, keys: Keys
) -> None:
    dialog = make_dialog(list_tools=no_tools)
    dialog.add_http_button.click()
    add = dialog.http_dialog
    assert add.isVisible()
    fields = line_edits(add)
    assert fields["Key"].echoMode() == fields["Key"].EchoMode.Password
    fields["Name"].setText("remote")
    fields["URL"].setText("ftp://nope")
    fields["Key"].setText("the-key")
    add.try_accept()
    assert add.isVisible() and add.problem.isVisibleTo(add)
    assert "http://" in add.problem.text()
    assert not (tmp_path / "tools.json").exists() and keys.saved == []
    fields["URL"].setText("http://127.0.0.1:1/mcp")
    add.try_accept()
    assert not add.isVisible()
    assert fields["Key"].text() == ""  # not kept in the dialog
    qtbot.waitUntil(lambda: keys.saved == [("remote", "the-key")], timeout=WAIT_MS)
    assert saved(tmp_path).get("remote") is not None


def test_a_key_the_keychain_refuses_is_said(
    qtbot: QtBot, tmp_path: Path, make_dialog: Make, keys: Keys
) -> None:
    keys.fail = True
    dialog = make_dialog(list_tools=no_tools)
    assert dialog.add_http("remote", "https://mcp.example.invalid/mcp", "k") == ""
    qtbot.waitUntil(lambda: "could not be saved" in dialog.note.text(), timeout=WAIT_MS)
    assert "locked" in dialog.note.text()
    assert saved(tmp_path).get("remote") is not None  # the server stays; the key is asked again


IMPORT = {
    "mcpServers": {
        "my files": {"command": sys.executable, "args": [str(MCP_SERVER)]},
        "remote": {
            "url": "https://mcp.example.invalid/mcp",
            "headers": {"Authorization": "Bearer imported-key", "X-Other": "1"},
        },
        "broken": {"args": ["no command"]},
    }
}


def test_import_adds_the_servers_and_shows_the_notes(
    qtbot: QtBot, tmp_path: Path, make_dialog: Make, keys: Keys
) -> None:
    dialog = make_dialog(list_tools=no_tools)
    changes = counter(dialog)
    notes = dialog.import_json(json.dumps(IMPORT))
    assert notes[0] == "Imported 2 servers: my-files, remote."
    text = "\n".join(notes)
    assert "'my files' was renamed 'my-files'." in text
    assert "X-Other" in text
    assert "'broken' was left out" in text
    assert changes == [1]
    store = saved(tmp_path)
    assert [c.name for c in store.list()] == ["my-files", "remote"]
    qtbot.waitUntil(lambda: keys.saved == [("remote", "imported-key")], timeout=WAIT_MS)
    assert "imported-key" not in (tmp_path / "tools.json").read_text(encoding="utf-8")
    # again: the names are taken, so they get numbers
    again = dialog.import_json(json.dumps(IMPORT))
    assert again[0] == "Imported 2 servers: my-files-2, remote-2."
    assert dialog.server_names == ["my-files", "remote", "my-files-2", "remote-2"]
    listed(qtbot, dialog)


def test_the_import_dialog_shows_what_happened(
    qtbot: QtBot, tmp_path: Path, make_dialog: Make
) -> None:
    dialog = make_dialog(list_tools=no_tools)
    changes = counter(dialog)
    dialog.import_button.click()
    box = dialog.import_dialog
    assert box.isVisible()
    box.text.setPlainText("{not json")
    box.import_button.click()
    assert box.notes.text().startswith("Nothing was imported: This is not valid JSON")
    box.text.setPlainText('{"other": {}}')
    box.import_button.click()
    assert "mcpServers" in box.notes.text()
    assert not (tmp_path / "tools.json").exists() and changes == [0]
    box.text.setPlainText(json.dumps({"mcpServers": {"one": {"command": "uvx", "args": ["x"]}}}))
    box.import_button.click()
    assert box.notes.text() == "Imported 1 server: one."
    assert changes == [1]
    listed(qtbot, dialog)


@pytest.mark.parametrize(
    ("name", "line", "problem"),
    [
        ("", SERVER_LINE, "The name is empty."),
        ("has space", SERVER_LINE, "may only contain letters"),
        ("a__b", SERVER_LINE, "may not contain '__'"),
        ("x" * 41, SERVER_LINE, "longer than 40"),
        ("ok", "", "Enter the command"),
        ("ok", "python 'unclosed", "unclosed quote"),
    ],
)
def test_invalid_servers_are_refused_and_nothing_is_saved(
    tmp_path: Path, make_dialog: Make, name: str, line: str, problem: str
) -> None:
    dialog = make_dialog(list_tools=no_tools)
    changes = counter(dialog)
    assert problem in dialog.add_stdio(name, line)
    assert not (tmp_path / "tools.json").exists()
    assert dialog.server_names == [] and changes == [0]


def test_a_duplicate_or_bad_url_is_refused(qtbot: QtBot, tmp_path: Path, make_dialog: Make) -> None:
    dialog = make_dialog(list_tools=no_tools)
    assert dialog.add_stdio("one", "uvx thing") == ""
    before = (tmp_path / "tools.json").read_text(encoding="utf-8")
    changes = counter(dialog)
    assert dialog.add_stdio("one", "uvx other") == "There is already a server named 'one'."
    assert dialog.add_http("one", "https://x.invalid/mcp", "k") != ""
    assert "http://" in dialog.add_http("two", "example.com/mcp", "k")
    assert (tmp_path / "tools.json").read_text(encoding="utf-8") == before
    assert changes == [0]
    listed(qtbot, dialog)


def test_the_add_command_dialog_shows_the_problem_and_saves_nothing(
    qtbot: QtBot, tmp_path: Path, make_dialog: Make
) -> None:
    dialog = make_dialog()
    dialog.add_stdio_button.click()
    add = dialog.stdio_dialog
    fields = line_edits(add)
    name, line, cwd = fields["Name"], fields["Command line"], fields["Working folder"]
    name.setText("test server")
    line.setText(SERVER_LINE)
    cwd.setText(str(tmp_path))
    add.try_accept()
    assert add.isVisible() and "may only contain letters" in add.problem.text()
    assert not (tmp_path / "tools.json").exists()
    name.setText("testserver")
    add.try_accept()
    assert not add.isVisible()
    config = saved(tmp_path).get("testserver")
    assert config is not None and config.cwd == str(tmp_path)
    listed(qtbot, dialog)
    assert "add" in dialog.tool_names()


def test_a_server_that_cannot_start_shows_the_error_and_the_dialog_goes_on(
    qtbot: QtBot, tmp_path: Path, make_dialog: Make
) -> None:
    dialog = make_dialog()
    missing = str(tmp_path / "no-such-program")
    assert dialog.add_stdio("gone", missing) == ""
    listed(qtbot, dialog)
    assert dialog.tools_error.isVisibleTo(dialog)
    assert "gone" in dialog.tools_error.text()
    assert dialog.tools_status.text() == "Its tools could not be listed."
    assert dialog.tool_names() == []
    # still usable: another server is added and listed, the broken one can be removed
    assert dialog.add_stdio("testserver", SERVER_LINE) == ""
    listed(qtbot, dialog)
    assert not dialog.tools_error.isVisibleTo(dialog)
    assert "add" in dialog.tool_names()
    dialog.select_server("gone")
    listed(qtbot, dialog)
    assert dialog.tools_error.isVisibleTo(dialog)
    dialog.remove_selected()
    assert [c.name for c in saved(tmp_path).list()] == ["testserver"]


def test_an_answer_for_a_server_no_longer_selected_is_dropped(
    qtbot: QtBot, tmp_path: Path, make_dialog: Make
) -> None:
    release = threading.Event()
    asked: list[str] = []

    def list_tools(config: McpServerConfig) -> list[ToolSpec]:
        asked.append(config.name)
        if config.name == "first":
            assert release.wait(WAIT_MS / 1000)
            return [ToolSpec("first__old", "stale", source="first")]
        if config.name == "broken":
            raise ToolError("The MCP server 'broken' <b>is down</b>.")
        return [ToolSpec("second__new", "fresh", source="second")]

    dialog = make_dialog(list_tools=list_tools)
    assert dialog.add_stdio("first", "uvx a") == ""
    assert dialog.listing
    assert dialog.add_stdio("second", "uvx b") == ""
    listed(qtbot, dialog)
    assert dialog.tool_names() == ["new"]
    release.set()
    qtbot.waitUntil(lambda: asked == ["first", "second"], timeout=WAIT_MS)
    assert dialog.tasks.wait(WAIT_MS)
    QCoreApplication.processEvents()  # the stale answer, posted before the task ended
    assert dialog.tool_names() == ["new"]
    assert cell(dialog.tools_table, 0, 2).text() == "fresh"
    # an error is plain text
    assert dialog.add_stdio("broken", "uvx c") == ""
    listed(qtbot, dialog)
    assert dialog.tools_error.text() == "The MCP server 'broken' <b>is down</b>."
    assert dialog.tools_error.textFormat() == Qt.TextFormat.PlainText


def test_a_damaged_tools_json_is_reported_at_the_top(
    qtbot: QtBot, tmp_path: Path, make_dialog: Make
) -> None:
    (tmp_path / "tools.json").write_text("{broken", encoding="utf-8")
    dialog = make_dialog(list_tools=no_tools)
    assert dialog.file_problem.isVisibleTo(dialog)
    assert "tools.json.bad" in dialog.file_problem.text()
    assert dialog.server_names == []


def test_the_built_in_tools_are_listed(make_dialog: Make) -> None:
    dialog = make_dialog(list_tools=no_tools)
    table = dialog.builtin_table
    rows = {cell(table, r, 0).text(): cell(table, r, 2).text() for r in range(table.rowCount())}
    assert rows["Calculator"] == "nothing"
    assert rows["Read files"] == "at least one chosen folder"


def test_folders_are_added_and_removed(tmp_path: Path, make_dialog: Make) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    dialog = make_dialog(list_tools=no_tools, folders=[str(first)])
    emitted: list[list[str]] = []
    dialog.folders_changed.connect(emitted.append)
    changes = counter(dialog)
    assert [dialog.folder_list.item(i).text() for i in range(dialog.folder_list.count())] == [
        str(first)
    ]
    dialog.add_folder(str(second))
    assert emitted == [[str(first), str(second)]]
    dialog.add_folder(str(second))  # already there: nothing changes
    assert len(emitted) == 1
    dialog.folder_list.setCurrentRow(0)
    dialog.remove_folder_button.click()
    assert emitted[-1] == [str(second)] and dialog.folders == [str(second)]
    dialog.remove_folder(str(second))
    assert emitted[-1] == [] and dialog.folder_list.count() == 0
    assert not dialog.remove_folder_button.isEnabled()
    assert changes == [3]
    assert not (tmp_path / "tools.json").exists()  # folders are not the server list's


AVAILABLE = [
    ("calculator", "Calculator", "Works out arithmetic exactly, offline.", "Built-in tools"),
    ("read_file", "Read files", "Reads files.", "Built-in tools"),
    ("testserver:add", "Add two numbers", "Adds a and b.", "testserver"),
    ("testserver:echo", "echo", "<b>Returns</b> the text.", "testserver"),
    ("other:search", "search", "", "other"),
]


def test_the_picker_keeps_the_order_and_what_is_not_available(qtbot: QtBot) -> None:
    picker = ToolPicker(AVAILABLE, ["down:*", "testserver:echo", "calculator", "gone:tool"])
    qtbot.addWidget(picker)
    assert picker.chosen() == ["down:*", "testserver:echo", "calculator", "gone:tool"]
    assert NOT_AVAILABLE in picker.boxes["down:*"].text()
    assert NOT_AVAILABLE in picker.boxes["gone:tool"].text()
    assert NOT_AVAILABLE not in picker.boxes["calculator"].text()
    assert set(picker.group_boxes) == {"testserver:*", "other:*"}  # none for the built-ins
    picker.boxes["gone:tool"].setChecked(False)
    picker.boxes["read_file"].setChecked(True)
    picker.boxes["other:search"].setChecked(True)
    assert picker.chosen() == [
        "down:*",
        "testserver:echo",
        "calculator",
        "read_file",
        "other:search",
    ]


def test_the_picker_chooses_all_of_a_servers_tools(qtbot: QtBot) -> None:
    picker = ToolPicker(AVAILABLE, ["testserver:add"])
    qtbot.addWidget(picker)
    every = picker.group_boxes["testserver:*"]
    assert not every.isChecked()
    every.setChecked(True)
    assert picker.boxes["testserver:echo"].isChecked()
    assert not picker.boxes["testserver:add"].isEnabled()
    assert picker.chosen() == ["testserver:*"]
    every.setChecked(False)
    assert picker.chosen() == []
    assert picker.boxes["testserver:add"].isEnabled()
    # chosen as server:* it opens checked; the round trip gives it back
    again = ToolPicker(AVAILABLE, ["testserver:*", "calculator"])
    qtbot.addWidget(again)
    assert again.group_boxes["testserver:*"].isChecked()
    assert all(again.boxes[e].isChecked() for e in ("testserver:add", "testserver:echo"))
    assert again.chosen() == ["testserver:*", "calculator"]
    assert ToolPicker(AVAILABLE, again.chosen()).chosen() == again.chosen()


def test_the_picker_shows_descriptions_as_plain_text(qtbot: QtBot) -> None:
    picker = ToolPicker(AVAILABLE, [])
    qtbot.addWidget(picker)
    labels = {label.text(): label for label in picker.findChildren(QLabel)}
    label = labels["<b>Returns</b> the text."]
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert picker.chosen() == []


def test_a_builtins_permission_is_chosen_and_kept(make_dialog: Make, tmp_path: Path) -> None:
    dialog = make_dialog()
    combo = dialog.builtin_combos["read_file"]
    assert combo.currentText().startswith("Default (ask")
    assert dialog.builtin_combos["calculator"].currentText().startswith("Default (allow")
    combo.setCurrentIndex(combo.findData("allow"))
    assert McpServers(tmp_path / "tools.json").builtin_permission("read_file") is (
        ToolPermission.ALLOW
    )
    combo.setCurrentIndex(combo.findData(""))
    assert McpServers(tmp_path / "tools.json").builtin_permission("read_file") is None
