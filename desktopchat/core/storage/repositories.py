"""Repositories: the only code that knows the SQL schema.

``ConversationRepository`` is composed of one part per concern, each in its own module
and all sharing one Database: conversation rows, the trash and pins (conversations.py),
messages and the branch tree (messages.py), full-text search (search.py), prompt records
and summaries (prompts.py). Models and presets have their own repositories (models.py,
presets.py). Every name other code uses is importable from here.
"""

from __future__ import annotations

from desktopchat.core.storage.messages import MessagesPart
from desktopchat.core.storage.models import ModelRecord, ModelRepository
from desktopchat.core.storage.presets import PresetRepository
from desktopchat.core.storage.prompts import Summary
from desktopchat.core.storage.rows import (
    DEFAULT_TITLE,
    TITLE_LENGTH,
    TRASH_DAYS,
    ConversationSummary,
    DeletedBranch,
    clean_title,
    title_from,
)
from desktopchat.core.storage.search import (
    RANK_WINDOW,
    SNIPPET_MARKS,
    SearchHit,
    SearchPart,
    fts_query,
)

__all__ = [
    "DEFAULT_TITLE",
    "RANK_WINDOW",
    "SNIPPET_MARKS",
    "TITLE_LENGTH",
    "TRASH_DAYS",
    "ConversationRepository",
    "ConversationSummary",
    "DeletedBranch",
    "ModelRecord",
    "ModelRepository",
    "PresetRepository",
    "SearchHit",
    "Summary",
    "clean_title",
    "fts_query",
    "title_from",
]


class ConversationRepository(MessagesPart, SearchPart):
    """Conversations and their message trees: every part over one Database."""
