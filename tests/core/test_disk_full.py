"""A really full disk: a small tmpfs mounted in a private mount namespace (unshare -rm)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from desktopchat.core.session import open_core
    from desktopchat.core.chat import MessageStatus, Role
    from desktopchat.core.errors import StorageFullError
    from desktopchat.core.paths import AppPaths

    root = Path(sys.argv[1])
    ballast = root / "ballast"
    ballast.write_bytes(b"\\0" * 500_000)  # freed later, as a user would free space
    paths = AppPaths.under(root / "home")
    core = open_core(paths, check=True)
    repo = core.conversations
    conv = repo.create(title="Before the disk filled")
    kept, error = [], None
    for i in range(10_000):
        try:
            kept.append(repo.add_message(
                conv.id, Role.USER, f"{i} " + "x" * 20_000, parent_id=kept[-1] if kept else None
            ).id)
        except StorageFullError as exc:
            error = str(exc)
            break
    try:
        repo.update_message(kept[-1], "y" * 400_000, MessageStatus.PARTIAL)
        update_error = None
    except StorageFullError as exc:
        update_error = str(exc)
    core.db.quick_check()
    stored = [m.id for m in repo.all_messages(conv.id)]
    last_content = repo.get_message(kept[-1]).content
    ballast.unlink()
    after = repo.add_message(conv.id, Role.ASSISTANT, "after freeing space", parent_id=kept[-1])
    core.close()
    core = open_core(paths, check=True)
    reopened = [m.id for m in core.conversations.all_messages(conv.id)]
    core.close()
    print(json.dumps({
        "kept": kept, "error": error, "update_error": update_error, "stored": stored,
        "last_is_intact": last_content.startswith(f"{len(kept) - 1} x"),
        "after": after.id, "reopened": reopened,
    }))
    """
)


def test_a_full_disk_is_reported_and_nothing_stored_is_lost(tmp_path: Path) -> None:
    assert shutil.which("unshare"), "unshare (util-linux) is missing; test.sh installs it"
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        [
            "unshare",
            "-rm",
            "sh",
            "-c",
            'mount -t tmpfs -o size=2m tmpfs "$0" && exec "$1" -c "$2" "$0"',
            str(mount),
            sys.executable,
            SCRIPT,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert len(result["kept"]) > 10  # the disk did fill up, after real writes
    assert "is full; nothing was saved" in result["error"]
    assert "is full; nothing was saved" in result["update_error"]
    assert result["stored"] == result["kept"]  # every committed message, no partial one
    assert result["last_is_intact"]  # the failed update left the old text
    assert result["reopened"] == [*result["kept"], result["after"]]
