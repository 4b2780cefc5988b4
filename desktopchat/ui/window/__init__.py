"""The main window's parts, one concern each; MainWindow (ui/main_window.py) composes them.

- composer: the message box, a large paste as an attachment, the token count, editing
- conversations: the list's pages and filter, opening, rename, pin, trash, the watch
- messages: edit, versions (branches), delete with Undo, regenerate, continue, the cut mark
- models: the model picker row, loading, importing a GGUF, the model manager
- chat_settings: the settings panel's wiring, model defaults, presets
- replies: sending, and what the controller reports while a reply streams and ends
- dialogs: About, shortcuts, network activity, search, the prompt inspector, presets
- transfer: export and import of conversations
- documents: the Documents dialog, attached collections, Sources and their previews
- look: theme and zoom
- startup: the first queries, the start-up maintenance, unfinished downloads
- menus: the menus and keyboard shortcuts

Every part reaches SQLite only through the window's DatabaseGateway (ui/database.py).
"""
