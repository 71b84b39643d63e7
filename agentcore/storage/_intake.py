"""The intake's idempotency keys and the outbox of deliveries (migration 6).

Both on the event loop's connection: a claim or an enqueue is one short
transaction (tens of microseconds), committed before the HTTP answer or the
delivery it stands for, so a crash right after leaves it on disk.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentcore.storage._connection import transaction, translated


@dataclass(frozen=True, slots=True)
class IntakeRecord:
    request_id: str
    key: str | None
    channel: str
    conversation_id: str | None
    external_id: str | None
    callback: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    key: str
    kind: str
    target: str
    payload: dict[str, Any]
    attempts: int


_RECORD = "request_id, key, channel, conversation_id, external_id, callback"


class SQLiteIntake:
    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path

    def claim(self, record: IntakeRecord, now: float) -> tuple[str, bool]:
        """Records `record` unless its key is taken: (the request id that holds the key,
        whether it is this one). Two claims of one key, from any connection, give one
        request id: the UNIQUE index decides."""
        with translated(f"write to {self._path} failed"), transaction(self._conn):
            inserted = self._conn.execute(
                f"INSERT OR IGNORE INTO intake_requests ({_RECORD}, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record.request_id, record.key, record.channel, record.conversation_id,
                 record.external_id, record.callback, now)).rowcount == 1
            if inserted or record.key is None:
                return record.request_id, inserted
            row = self._conn.execute("SELECT request_id FROM intake_requests WHERE key = ?",
                                     (record.key,)).fetchone()
        return str(row[0]), False

    def release(self, request_id: str) -> None:
        """Frees a request's key (it was refused for rate: the sender is told to retry, and
        the retry must be able to become a request)."""
        with translated(f"write to {self._path} failed"), transaction(self._conn):
            self._conn.execute("UPDATE intake_requests SET key = NULL WHERE request_id = ?",
                               (request_id,))

    def record(self, request_id: str) -> IntakeRecord | None:
        with translated("reading the intake failed"):
            row = self._conn.execute(f"SELECT {_RECORD} FROM intake_requests"
                                     " WHERE request_id = ?", (request_id,)).fetchone()
        return None if row is None else IntakeRecord(*row)

    def owed_callbacks(self) -> list[str]:
        """Requests finished (answered or escalated) whose callback has no delivery yet:
        what a crash between the outcome and its enqueue left (an outcome on disk, its
        delivery not)."""
        with translated("reading the intake failed"):
            rows = self._conn.execute(
                "SELECT i.request_id FROM intake_requests i JOIN outcomes o"
                " ON o.request_id = i.request_id WHERE i.callback IS NOT NULL"
                " AND o.status IN ('answered', 'escalated') AND NOT EXISTS"
                " (SELECT 1 FROM outbox b WHERE b.key = 'outcome:' || i.request_id)"
            ).fetchall()
        return [str(r[0]) for r in rows]


class SQLiteOutbox:
    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path

    def enqueue(self, kind: str, target: str, payload: dict[str, Any], key: str,
                now: float) -> tuple[str, bool]:
        """(the delivery id of `key`, whether it is new). A key is delivered once: a second
        enqueue of it (a re-run after a crash) keeps the first delivery and its id."""
        delivery_id = uuid.uuid4().hex
        with translated(f"write to {self._path} failed"), transaction(self._conn):
            inserted = self._conn.execute(
                "INSERT OR IGNORE INTO outbox (id, key, kind, target, payload, created_at,"
                " next_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (delivery_id, key, kind, target, json.dumps(payload), now, now)
            ).rowcount == 1
            if inserted:
                return delivery_id, True
            row = self._conn.execute("SELECT id FROM outbox WHERE key = ?",
                                     (key,)).fetchone()
        return str(row[0]), False

    def due(self, now: float, limit: int, skip: frozenset[str] = frozenset()
            ) -> list[Delivery]:
        with translated("reading the outbox failed"):
            rows = self._conn.execute(
                "SELECT id, key, kind, target, payload, attempts FROM outbox"
                " WHERE delivered_at IS NULL AND next_at <= ? ORDER BY next_at LIMIT ?",
                (now, limit + len(skip))).fetchall()
        return [Delivery(i, k, kind, t, json.loads(p), a)
                for i, k, kind, t, p, a in rows if i not in skip][:limit]

    def next_due(self) -> float | None:
        with translated("reading the outbox failed"):
            row = self._conn.execute("SELECT MIN(next_at) FROM outbox"
                                     " WHERE delivered_at IS NULL").fetchone()
        return None if row[0] is None else float(row[0])

    def delivered(self, delivery_id: str, now: float) -> None:
        with translated(f"write to {self._path} failed"), transaction(self._conn):
            self._conn.execute("UPDATE outbox SET delivered_at = ?, attempts = attempts + 1,"
                               " last_error = NULL WHERE id = ?", (now, delivery_id))

    def failed(self, delivery_id: str, error: str, next_at: float) -> None:
        with translated(f"write to {self._path} failed"), transaction(self._conn):
            self._conn.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ?,"
                               " next_at = ? WHERE id = ?",
                               (error[:500], next_at, delivery_id))

    def pending(self) -> int:
        with translated("reading the outbox failed"):
            row = self._conn.execute("SELECT COUNT(*) FROM outbox"
                                     " WHERE delivered_at IS NULL").fetchone()
        return int(row[0])

    def state(self, key: str) -> tuple[str, int, float | None, str | None] | None:
        """(delivery id, attempts, delivered_at, last error) of a key, None: not queued."""
        with translated("reading the outbox failed"):
            row = self._conn.execute("SELECT id, attempts, delivered_at, last_error FROM outbox"
                                     " WHERE key = ?", (key,)).fetchone()
        return None if row is None else (str(row[0]), int(row[1]), row[2], row[3])
