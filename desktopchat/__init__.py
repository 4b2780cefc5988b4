"""DesktopChat: private, offline chat with local GGUF language models."""

__version__ = "0.1.0"
APP_ID = "io.github.desktopchat.DesktopChat"  # desktop entry, icons, AppStream, macOS bundle
