"""The models the user imported, when each model file was last loaded, and per-model
default settings (the models and model_usage tables)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from desktopchat.core.chat import GenerationParams
from desktopchat.core.storage.database import Database


@dataclass(frozen=True)
class ModelRecord:
    path: str
    source: str
    added_at: float
    defaults: GenerationParams | None


class ModelRepository:
    """Models the user imported, and per-model default settings."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, path: str, source: str) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO models (path, source, added_at) VALUES (?, ?, ?)"
                " ON CONFLICT(path) DO NOTHING",
                (path, source, time.time()),
            )

    def remove(self, path: str) -> None:
        with self._db.write() as conn:
            conn.execute("DELETE FROM models WHERE path = ?", (path,))
            conn.execute("DELETE FROM model_usage WHERE path = ?", (path,))

    def mark_used(self, path: str, when: float | None = None) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO model_usage (path, last_used) VALUES (?, ?)"
                " ON CONFLICT(path) DO UPDATE SET last_used = excluded.last_used",
                (path, time.time() if when is None else when),
            )

    def last_used(self) -> dict[str, float]:
        """When each model was last loaded, by path."""
        return {r[0]: r[1] for r in self._db.query("SELECT path, last_used FROM model_usage")}

    def all(self) -> list[ModelRecord]:
        return [
            ModelRecord(
                r["path"],
                r["source"],
                r["added_at"],
                GenerationParams.from_json(r["defaults_json"]) if r["defaults_json"] else None,
            )
            for r in self._db.query("SELECT * FROM models ORDER BY added_at")
        ]

    def set_defaults(self, path: str, params: GenerationParams) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO models (path, source, added_at, defaults_json) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(path) DO UPDATE SET defaults_json = excluded.defaults_json",
                (path, "folder", time.time(), params.validated().to_json()),
            )

    def defaults(self, path: str) -> GenerationParams | None:
        rows = self._db.query("SELECT defaults_json FROM models WHERE path = ?", (path,))
        if not rows or not rows[0][0]:
            return None
        return GenerationParams.from_json(rows[0][0])
