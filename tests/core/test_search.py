"""Search over real SQLite files: what is left out (the trash) and what is found."""

from __future__ import annotations

from desktopchat.core.chat import Role
from desktopchat.core.session import Core


def test_hits_in_the_trash_do_not_eat_the_limit(core: Core) -> None:
    """The trash used to be left out after the LIMIT: 30 newer hits in the trash and a
    limit of 5 returned nothing, though three live conversations match."""
    repo = core.conversations
    live = []
    for i in range(3):
        conv = repo.create(title=f"live {i}")
        live.append(repo.add_message(conv.id, Role.USER, f"pelican number {i}", parent_id=None))
    for i in range(30):  # newer than the live ones, and better matches
        conv = repo.create(title=f"trashed {i}")
        repo.add_message(conv.id, Role.USER, f"pelican pelican pelican {i}", parent_id=None)
        repo.move_to_trash(conv.id)
    expected = {m.id for m in live}
    assert {h.message_id for h in repo.search("pelican", limit=5)} == expected
    assert {h.message_id for h in repo.search("pelican", newest_first=True, limit=5)} == expected
    assert [h.message_id for h in repo.search("pelican", newest_first=True, limit=2)] == [
        live[2].id,
        live[1].id,
    ]
