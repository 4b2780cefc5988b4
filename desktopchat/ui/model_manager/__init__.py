"""The model manager window, one module per part: ``dialog`` composes ``top_bar`` (offline
mode, the token) and the tabs ``installed_tab``, ``catalogue_tab``, ``search_tab``,
``files_tab`` and ``downloads_tab``; ``context`` is what the window hands it, and
``common`` what the parts share."""

from desktopchat.ui.model_manager.common import OFFLINE_NOTE
from desktopchat.ui.model_manager.context import ManagerContext
from desktopchat.ui.model_manager.dialog import ModelManagerDialog

__all__ = ["OFFLINE_NOTE", "ManagerContext", "ModelManagerDialog"]
