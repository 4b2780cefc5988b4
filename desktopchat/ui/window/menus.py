"""The window's menus and keyboard shortcuts: one QAction per command, added to the
window so its shortcut works wherever the focus is (the shortcuts dialog lists them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup, QKeySequence

from desktopchat.ui import theme

if TYPE_CHECKING:
    from desktopchat.ui.main_window import MainWindow


def build_menus(window: MainWindow) -> tuple[dict[str, QAction], dict[str, QAction]]:
    """The actions by name, and the theme choices by theme name."""

    def action(text: str, slot: Callable[[], object], *keys: str) -> QAction:
        made = QAction(text, window)
        made.setShortcuts([QKeySequence(k) for k in keys])
        made.triggered.connect(slot)
        window.addAction(made)
        return made

    w = window
    new = QKeySequence(QKeySequence.StandardKey.New).toString()
    quit_keys = QKeySequence(QKeySequence.StandardKey.Quit).toString()
    conversations, messages, dialogs = w.conversations, w.messages, w.window_dialogs
    a = {
        "new": action("New chat", conversations.on_sidebar_new_requested, new),
        "search": action("Search conversations…", dialogs.show_search, "Ctrl+F", "Ctrl+K"),
        "stop": action("Stop the reply (or cancel an edit)", w.replies.stop, "Esc"),
        "regenerate": action("Regenerate the last answer", messages.regenerate_last, "Ctrl+R"),
        "continue": action("Continue the last answer", messages.continue_last, "Ctrl+E"),
        "composer": action("Focus the message box", w.focus_composer, "Ctrl+L"),
        "next": action("Next conversation", lambda: w.sidebar.select_next(1), "Ctrl+PgDown"),
        "previous": action("Previous conversation", lambda: w.sidebar.select_next(-1), "Ctrl+PgUp"),
        "inspect": action("Show the last prompt…", messages.inspect_last, "Ctrl+I"),
        "settings": action("Show or hide chat settings", w.settings_button.toggle, "Ctrl+,"),
        "zoom_in": action("Zoom in", lambda: w.look.zoom(1), "Ctrl++", "Ctrl+="),
        "zoom_out": action("Zoom out", lambda: w.look.zoom(-1), "Ctrl+-"),
        "zoom_reset": action("Actual size", lambda: w.look.zoom(0), "Ctrl+0"),
        "import_chats": action("Import conversations…", w.transfer.import_conversations),
        "export_chat": action("Export this conversation…", w.transfer.export_current, "Ctrl+S"),
        "export_all": action("Export all conversations…", w.transfer.export_all),
        "import": action("Import GGUF…", w.model_controls.on_import_clicked),
        "manager": action("Model manager…", w.model_controls.show_manager, "Ctrl+Shift+M"),
        "network": action("Network activity…", dialogs.show_network_activity),
        "tools": action("Tools and MCP servers…", dialogs.show_tools),
        "documents": action("Documents…", w.documents.show_dialog, "Ctrl+Shift+D"),
        "pause_indexing": action("Pause or resume indexing", w.documents.toggle_pause),
        "shortcuts": action("Keyboard shortcuts…", dialogs.show_shortcuts, "F1"),
        "about": action("About DesktopChat…", dialogs.show_about),
        "quit": action("Quit", w.close, quit_keys),
    }
    menus = w.menuBar()
    file_menu = menus.addMenu("&File")
    file_menu.addActions([a["new"], a["import"], a["import_chats"]])
    file_menu.addActions([a["export_chat"], a["export_all"]])
    file_menu.addSeparator()
    file_menu.addAction(a["quit"])
    chat_menu = menus.addMenu("&Chat")
    chat_menu.addActions(
        [a[k] for k in ("search", "stop", "regenerate", "continue", "inspect", "composer")]
    )
    chat_menu.addActions([a["next"], a["previous"]])
    view_menu = menus.addMenu("&View")
    theme_menu = view_menu.addMenu("Theme")
    group = QActionGroup(w)
    themes: dict[str, QAction] = {}
    for name in theme.THEMES:
        choice = QAction("Follow the system" if name == "system" else name.capitalize(), group)
        choice.setCheckable(True)
        choice.setChecked(name == w.settings.theme)
        choice.triggered.connect(lambda _=False, n=name: w.look.set_theme(n))
        theme_menu.addAction(choice)
        themes[name] = choice
    view_menu.addActions([a["zoom_in"], a["zoom_out"], a["zoom_reset"], a["settings"]])
    documents_menu = menus.addMenu("&Documents")
    documents_menu.addActions([a["documents"], a["pause_indexing"]])
    tools_menu = menus.addMenu("&Tools")
    tools_menu.addActions([a["manager"], a["tools"], a["network"]])
    help_menu = menus.addMenu("&Help")
    help_menu.addActions([a["shortcuts"], a["about"]])
    return a, themes
