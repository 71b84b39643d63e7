"""The learned tier's versions: each a trained model (or a change of threshold or
switch that reuses one), appended, never edited, so undo is a version too.

A model is stored once, in the version that trained it; a version that changes only
the threshold or the switch names that one (`model_of`) and copies no blob. The
current version is the newest. The repository has its own connection and lock: the
console trains in a worker thread and saves from the GUI thread while the engine
reads on the loop. Retention never prunes these: they are not requests.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentcore.storage._connection import connect, transaction, translated

_COLUMNS = ("id, created_at, operator, action, examples, threshold, enabled, restores,"
            " model_of, backtest")


@dataclass(frozen=True, slots=True)
class LearnedRecord:
    """One version as the history keeps it. `action`: train, threshold, enable,
    disable, undo; `restores`: the version an undo brought back; `model_of`: the
    version whose model this one runs (None: its own, given with the record)."""

    created_at: float
    operator: str
    action: str
    examples: int
    threshold: float
    enabled: bool
    restores: int | None = None
    model_of: int | None = None
    backtest: dict[str, Any] | None = None  # the backtest it was saved with, as JSON


@dataclass(frozen=True, slots=True)
class StoredLearned(LearnedRecord):
    id: int = 0


class SQLiteLearned:
    """`LearnedRepository` over the engine database."""

    def __init__(self, path: Path) -> None:
        self._conn = connect(path)
        self._lock = threading.Lock()

    def add(self, record: LearnedRecord, model: bytes | None = None) -> StoredLearned:
        """Appends a version: with its own `model`, or running `record.model_of`'s."""
        if (model is None) == (record.model_of is None):
            raise ValueError("a version carries a model or names the version whose it runs")
        with self._lock, translated("saving a learned-tier version failed"), \
                transaction(self._conn) as conn:
            cur = conn.execute(
                "INSERT INTO learned_models (created_at, operator, action, examples, threshold,"
                " enabled, restores, model_of, backtest, model) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (record.created_at, record.operator, record.action, record.examples,
                 record.threshold, int(record.enabled), record.restores, record.model_of,
                 None if record.backtest is None else json.dumps(record.backtest), model))
            vid = int(cur.lastrowid or 0)
            if model is not None:
                conn.execute("UPDATE learned_models SET model_of = id WHERE id = ?", (vid,))
        return self._required(vid)

    def latest(self) -> StoredLearned | None:
        return self._one("ORDER BY id DESC LIMIT 1", ())

    def get(self, version_id: int) -> StoredLearned | None:
        return self._one("WHERE id = ?", (version_id,))

    def log(self) -> list[StoredLearned]:
        """Every version, oldest first, without the models."""
        with self._lock, translated("reading the learned-tier versions failed"):
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM learned_models"
                                      " ORDER BY id").fetchall()
        return [_stored(r) for r in rows]

    def model(self, version_id: int) -> bytes | None:
        """The model version `version_id` runs (its own, or the one it names)."""
        with self._lock, translated("reading a learned model failed"):
            row = self._conn.execute(
                "SELECT m.model FROM learned_models v JOIN learned_models m ON m.id = v.model_of"
                " WHERE v.id = ?", (version_id,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):  # nothing uncommitted to lose
            self._conn.close()

    def _required(self, version_id: int) -> StoredLearned:
        stored = self.get(version_id)
        assert stored is not None  # just written, in this connection's own transaction
        return stored

    def _one(self, where: str, params: tuple[Any, ...]) -> StoredLearned | None:
        with self._lock, translated("reading the learned-tier versions failed"):
            row = self._conn.execute(f"SELECT {_COLUMNS} FROM learned_models " + where,
                                     params).fetchone()
        return None if row is None else _stored(row)


def _stored(row: tuple[Any, ...]) -> StoredLearned:
    vid, created, operator, action, examples, threshold, enabled, restores, model_of, bt = row
    return StoredLearned(float(created), operator, action, int(examples), float(threshold),
                         bool(enabled), restores, model_of,
                         None if bt is None else json.loads(bt), id=int(vid))
