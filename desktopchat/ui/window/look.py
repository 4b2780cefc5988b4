"""The look: the theme (light, dark, or following the system) and the zoom, saved in the
settings and applied to the whole application."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QGuiApplication

from desktopchat.ui import theme

if TYPE_CHECKING:
    from desktopchat.ui.main_window import MainWindow


class Look(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.current = theme.resolve(window.settings.theme)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self.on_color_scheme_changed)

    def apply(self) -> None:
        window = self.window
        self.current = theme.resolve(window.settings.theme)
        theme.apply(self.current, window.settings.zoom)
        window.chat_view.set_theme(self.current)
        window.model_state.setStyleSheet(f"color: {self.current.muted};")

    def set_theme(self, name: str) -> None:
        self.window.change_settings(theme=name)
        self.window.theme_actions[name].setChecked(True)
        self.apply()

    @Slot()
    def on_color_scheme_changed(self) -> None:
        if self.window.settings.theme == "system":
            self.apply()

    def zoom(self, step: int) -> None:
        """Font size up (1), down (-1) or back to the default (0)."""
        zoom = theme.clamp_zoom(self.window.settings.zoom + step) if step else 0
        self.window.change_settings(zoom=zoom)
        self.apply()
