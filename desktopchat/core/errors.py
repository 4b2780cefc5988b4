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


class HistoryFullError(ContextOverflowError):
    """The history no longer fits and the chat's overflow policy is "stop"."""


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


class HubError(DesktopChatError):
    """The Hugging Face Hub could not be used for a search, a listing or a download."""


class NetworkError(HubError):
    """No connection, a timeout, or a connection dropped before the end."""


class OfflineModeError(HubError):
    """Offline mode is on: the model manager does not connect at all."""


class HubAccessError(HubError):
    """The repository is gated or private (HTTP 401/403): the user must accept its licence
    on the Hub or sign in with a token that may read it."""

    def __init__(self, message: str, page_url: str = "", *, gated: bool = False) -> None:
        super().__init__(message)
        self.page_url = page_url  # the model's page, where its licence is accepted
        self.gated = gated


class HubNotFoundError(HubError):
    """No such repository, revision or file on the Hub."""


class DownloadError(DesktopChatError):
    """A download cannot finish; what was already downloaded is kept unless said so."""


class DownloadStoppedError(DownloadError):
    """Paused or cancelled by the user."""


class ChecksumMismatchError(DownloadError):
    """The downloaded bytes are not the file the Hub lists; they were deleted."""


class NotEnoughDiskError(DownloadError):
    """The disk does not have room for the download."""


class ToolError(DesktopChatError):
    """A tool could not be listed or called (its server is down, refused, or timed out)."""
