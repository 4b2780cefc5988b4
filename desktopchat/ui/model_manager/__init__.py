"""The model manager window, one module per part: ``dialog`` composes ``top_bar`` (offline
mode, the token) and the tabs ``installed_tab``, ``catalogue_tab``, ``search_tab``,
``files_tab`` and ``downloads_tab``; ``context`` is what the window hands it, and
``common`` what the parts share."""

from desktopchat.core.models.manager import discard_job, download_job, partial_downloads
from desktopchat.ui.model_manager.common import OFFLINE_NOTE
from desktopchat.ui.model_manager.context import ManagerContext
from desktopchat.ui.model_manager.dialog import ModelManagerDialog

# The job factories moved to desktopchat.core.models.manager; the window imports them
# from here until it builds the queue from the composition root's parts (contract 4).
__all__ = [
    "OFFLINE_NOTE",
    "ManagerContext",
    "ModelManagerDialog",
    "discard_job",
    "download_job",
    "partial_downloads",
]
