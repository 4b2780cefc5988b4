"""Light and dark themes (following the system by default) and the font zoom."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("system", "light", "dark")
BASE_POINT_SIZE = 11.0  # a readable default; zoom steps from it
ZOOM_STEPS = (-3, 8)  # the smallest and largest zoom, in points from the default


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    base: str
    text: str
    muted: str
    bubble: str
    user_bubble: str
    accent: str
    warning: str
    error: str

    @classmethod
    def light(cls) -> Theme:
        return cls(
            "light",
            "#f6f8fa",
            "#ffffff",
            "#1f2328",
            "#57606a",
            "#ffffff",
            "#eef4ff",
            "#0969da",
            "#9a6700",
            "#b42318",
        )

    @classmethod
    def dark(cls) -> Theme:
        return cls(
            "dark",
            "#0d1117",
            "#161b22",
            "#e6edf3",
            "#9198a1",
            "#161b22",
            "#1c2a40",
            "#4493f8",
            "#d29922",
            "#f85149",
        )

    def palette(self) -> QPalette:
        palette = QPalette()
        role = QPalette.ColorRole
        for r, color in (
            (role.Window, self.window),
            (role.Base, self.base),
            (role.AlternateBase, self.window),
            (role.Text, self.text),
            (role.WindowText, self.text),
            (role.ButtonText, self.text),
            (role.Button, self.base),
            (role.ToolTipBase, self.base),
            (role.ToolTipText, self.text),
            (role.PlaceholderText, self.muted),
            (role.Highlight, self.accent),
            (role.HighlightedText, "#ffffff"),
            (role.Link, self.accent),
        ):
            palette.setColor(r, QColor(color))
        palette.setColor(QPalette.ColorGroup.Disabled, role.Text, QColor(self.muted))
        palette.setColor(QPalette.ColorGroup.Disabled, role.ButtonText, QColor(self.muted))
        palette.setColor(QPalette.ColorGroup.Disabled, role.WindowText, QColor(self.muted))
        return palette


def system_is_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def resolve(choice: str) -> Theme:
    """The theme for a setting: "light", "dark", or "system" (the desktop's scheme)."""
    dark = choice == "dark" or (choice == "system" and system_is_dark())
    return Theme.dark() if dark else Theme.light()


def apply(theme: Theme, zoom: int) -> None:
    """Colours and font size for the whole application."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.setPalette(theme.palette())
    font = QFont(app.font())
    font.setPointSizeF(BASE_POINT_SIZE + clamp_zoom(zoom))
    app.setFont(font)


def clamp_zoom(zoom: int) -> int:
    return max(ZOOM_STEPS[0], min(ZOOM_STEPS[1], zoom))
