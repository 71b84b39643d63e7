"""The learned tier's versions on PostgreSQL (SQLite's are `_learned`): appended, never
edited, a model stored once (BYTEA) in the version that trained it.

Ids come from the table's identity, so versions saved by two stations at once are
both kept. An identity hands its numbers out at insert, not at commit: a version
whose model took long to upload could commit after a later-numbered one, and the
newest id (the current version on every station) would not be the last decision.
So a save takes an advisory lock first, as the rule set's does (`_pg_rules`): ids
are taken and committed in turn.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from agentcore.storage._learned import _COLUMNS, LearnedRecord, StoredLearned, _stored
from agentcore.storage._pg_connection import pg_translated
from agentcore.storage._pg_notify import notify

Pool = ConnectionPool[psycopg.Connection[Any]]
# pg_advisory_xact_lock's key for saving a learned-tier version ("learned!").
LEARNED_LOCK = 0x6C65_6172_6E65_6421


class PostgresLearned:
    """`LearnedRepository` over a pool of connections to the team's database (the pool
    is thread-safe: the console trains in a worker thread and saves from the GUI's)."""

    def __init__(self, pool: Pool, where: str, *, origin: str) -> None:
        self._pool = pool
        self._where = where  # host:port, for messages
        self._origin = origin  # what this store's announcements carry

    def add(self, record: LearnedRecord, model: bytes | None = None) -> StoredLearned:
        """Appends a version: with its own `model`, or running `record.model_of`'s;
        announced ("learned") on commit."""
        if (model is None) == (record.model_of is None):
            raise ValueError("a version carries a model or names the version whose it runs")
        with pg_translated(f"saving a learned-tier version at {self._where} failed"), \
                self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LEARNED_LOCK,))
            row = conn.execute(
                "INSERT INTO learned_models (created_at, operator, action, examples, threshold,"
                " enabled, restores, model_of, backtest, model)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (record.created_at, record.operator, record.action, record.examples,
                 record.threshold, int(record.enabled), record.restores, record.model_of,
                 None if record.backtest is None else json.dumps(record.backtest),
                 model)).fetchone()
            assert row is not None  # INSERT ... RETURNING returns the row it inserted
            if model is not None:
                conn.execute("UPDATE learned_models SET model_of = id WHERE id = %s", row)
            stored = conn.execute(f"SELECT {_COLUMNS} FROM learned_models WHERE id = %s",
                                  row).fetchone()
            notify(conn, "learned", [str(row[0])], self._origin)
        assert stored is not None  # just written, in this transaction
        return _stored(stored)

    def latest(self) -> StoredLearned | None:
        return self._one("ORDER BY id DESC LIMIT 1", ())

    def get(self, version_id: int) -> StoredLearned | None:
        return self._one("WHERE id = %s", (version_id,))

    def log(self) -> list[StoredLearned]:
        """Every version, oldest first, without the models."""
        with pg_translated(f"reading the learned-tier versions at {self._where} failed"), \
                self._pool.connection() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM learned_models ORDER BY id").fetchall()
        return [_stored(r) for r in rows]

    def model(self, version_id: int) -> bytes | None:
        """The model version `version_id` runs (its own, or the one it names)."""
        with pg_translated(f"reading a learned model at {self._where} failed"), \
                self._pool.connection() as conn:
            row = conn.execute(
                "SELECT m.model FROM learned_models v JOIN learned_models m ON m.id = v.model_of"
                " WHERE v.id = %s", (version_id,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def _one(self, where: str, params: tuple[Any, ...]) -> StoredLearned | None:
        with pg_translated(f"reading the learned-tier versions at {self._where} failed"), \
                self._pool.connection() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM learned_models " + where,
                               params).fetchone()
        return None if row is None else _stored(row)
