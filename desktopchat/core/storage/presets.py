"""Saved assistants (presets): the shipped ones, added on first use and hidden rather
than deleted, and the user's own."""

from __future__ import annotations

import time

from desktopchat.core.chat import GenerationParams
from desktopchat.core.errors import NotFoundError
from desktopchat.core.presets import BUILTIN_PRESETS, Preset
from desktopchat.core.storage.database import Database
from desktopchat.core.storage.rows import clean_title


class PresetRepository:
    """Saved assistants. The shipped ones are added on first use; deleting one hides it
    (so that it does not come back), and "restore" shows it again as shipped."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _add_missing_builtins(self) -> None:
        present = {r[0] for r in self._db.query("SELECT builtin FROM presets")}
        missing = [p for p in BUILTIN_PRESETS if p.builtin not in present]
        if missing:
            with self._db.write() as conn:
                for preset in missing:
                    conn.execute(
                        "INSERT INTO presets (name, builtin, params_json, updated_at)"
                        " VALUES (?, ?, ?, ?)",
                        (preset.name, preset.builtin, preset.params.to_json(), time.time()),
                    )

    def all(self) -> list[Preset]:
        self._add_missing_builtins()
        return [
            Preset(
                r["id"], r["name"], GenerationParams.from_json(r["params_json"]), r["builtin"] or ""
            )
            for r in self._db.query("SELECT * FROM presets WHERE hidden = 0 ORDER BY id")
        ]

    def get(self, preset_id: int) -> Preset:
        found = next((p for p in self.all() if p.id == preset_id), None)
        if found is None:
            raise NotFoundError(f"There is no preset {preset_id}.")
        return found

    def save(self, preset: Preset) -> Preset:
        """Store a new preset (id 0) or change one; returns it as stored."""
        name = clean_title(preset.name)
        params = preset.params.validated().to_json()
        with self._db.write() as conn:
            if preset.id:
                cursor = conn.execute(
                    "UPDATE presets SET name = ?, params_json = ?, updated_at = ? WHERE id = ?",
                    (name, params, time.time(), preset.id),
                )
                if cursor.rowcount == 0:
                    raise NotFoundError(f"There is no preset {preset.id}.")
                new_id = preset.id
            else:
                cursor = conn.execute(
                    "INSERT INTO presets (name, params_json, updated_at) VALUES (?, ?, ?)",
                    (name, params, time.time()),
                )
                assert cursor.lastrowid is not None
                new_id = cursor.lastrowid
        return self.get(new_id)

    def delete(self, preset_id: int) -> None:
        with self._db.write() as conn:
            conn.execute(
                "UPDATE presets SET hidden = 1 WHERE id = ? AND builtin IS NOT NULL", (preset_id,)
            )
            conn.execute("DELETE FROM presets WHERE id = ? AND builtin IS NULL", (preset_id,))

    def restore_builtins(self) -> None:
        """Show the shipped presets again, as shipped."""
        with self._db.write() as conn:
            for preset in BUILTIN_PRESETS:
                conn.execute(
                    "UPDATE presets SET hidden = 0, name = ?, params_json = ?, updated_at = ?"
                    " WHERE builtin = ?",
                    (preset.name, preset.params.to_json(), time.time(), preset.builtin),
                )
