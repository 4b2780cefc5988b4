"""DesktopChat: private, offline chat with local GGUF language models."""

__version__ = "0.1.0"
