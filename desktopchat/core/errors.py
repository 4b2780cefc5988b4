"""One exception hierarchy for every error a user can be told about.

Messages are written for the user: what happened and what to do. They never contain
secrets. Anything that is *not* a DesktopChatError is a bug and is logged with its traceback.
"""

from __future__ import annotations


class DesktopChatError(Exception):
    """Base class: an expected failure with a message fit to show the user."""


class ModelError(DesktopChatError):
    """Something is wrong with a model file or its loading."""


class InvalidModelFileError(ModelError):
    """The file is not a GGUF model, or its header is damaged or truncated."""


class ModelLoadError(ModelError):
    """llama.cpp refused to load a file whose header looked valid."""


class ModelTooLargeError(ModelError):
    """The model (plus its context) does not fit into this machine's memory."""


class ModelNotFoundError(ModelError):
    """No installed model matches the name or path given."""


class NoModelLoadedError(ModelError):
    """A generation was asked for while no model is loaded."""

    def __init__(self, message: str = "No model is loaded. Choose a model and load it first."):
        super().__init__(message)


class EngineCrashedError(ModelError):
    """The engine's child process died (llama.cpp aborted, or the system killed it)."""


class GenerationError(DesktopChatError):
    """A generation failed."""


class EmptyPromptError(GenerationError):
    """The user sent nothing but whitespace."""


class ContextOverflowError(GenerationError):
    """The prompt cannot fit the context window even after dropping history."""


class TemplateError(GenerationError):
    """The model's chat template could not be rendered."""


class StorageError(DesktopChatError):
    """The database cannot be used; nothing stored has been changed."""


class StorageLockedError(StorageError):
    """Another program holds the database lock for longer than we wait."""


class StorageCorruptError(StorageError):
    """The database file is unreadable, damaged, or not a DesktopChat database."""


class StorageTooNewError(StorageError):
    """The database was written by a newer DesktopChat; we refuse to touch it."""


class StorageFullError(StorageError):
    """The disk is full or the folder is read-only."""


class NotFoundError(DesktopChatError):
    """A conversation or message id does not exist."""
