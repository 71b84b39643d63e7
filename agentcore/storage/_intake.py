"""The intake's idempotency keys and the outbox of deliveries (migrations 6 and 7).

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
from typing import Any, Literal

from agentcore.models import Request, storable
from agentcore.storage._channel_posts import ChannelOutcome, channel_outcomes
from agentcore.storage._connection import transaction, translated
from agentcore.storage._instances import Instance


@dataclass(frozen=True, slots=True)
class IntakeRecord:
    """A claim: the key's request, where its outcome goes, and (since migration 7) the
    request itself, so a claim a crash cut off before the engine's accept can be run."""

    request_id: str
    key: str | None
    channel: str
    conversation_id: str | None
    external_id: str | None
    callback: str | None
    text: str | None = None  # None: claimed by a release before migration 7
    customer_id: int | None = None
    received_at: float | None = None

    def request(self) -> Request | None:
        """The request to run, None when the claim did not keep it."""
        if self.text is None:
            return None
        return Request(text=self.text, customer_id=self.customer_id, channel=self.channel,
                       id=self.request_id, received_at=self.received_at or 0.0)


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    key: str
    kind: str
    target: str
    payload: dict[str, Any]
    attempts: int
    owed_since: float  # enqueued, or revived by an operator: the give-up age counts from it


OutboxState = Literal["pending", "dead", "delivered"]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A delivery as an operator lists it (`agentcore outbox list`)."""

    id: str
    key: str
    kind: str
    target: str
    state: OutboxState
    attempts: int
    created_at: float
    next_at: float
    delivered_at: float | None
    dead_at: float | None
    last_error: str | None


_RECORD = ("request_id, key, channel, conversation_id, external_id, callback, text,"
           " customer_id, received_at")
_ENTRY = ("id, key, kind, target, CASE WHEN delivered_at IS NOT NULL THEN 'delivered'"
          " WHEN dead_at IS NOT NULL THEN 'dead' ELSE 'pending' END, attempts, created_at,"
          " next_at, delivered_at, dead_at, last_error")
_OWED = "delivered_at IS NULL AND dead_at IS NULL"  # the partial index outbox_owed's
# A claim whose request never reached an accept (`unaccepted`), in an UPDATE of the claims.
TAKEABLE_CLAIM = ("text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM requests r"
                  " WHERE r.id = intake_requests.request_id)")
# How long a delivery handed out by `due` is no other process's to send, by default
# (the outbox passes its own, longer than it lets a send take): one unfinished after it
# (a crash) is due again: sent at least once, never by two at once.
LEASE_S = 20.0


class SQLiteIntake:
    def __init__(self, conn: sqlite3.Connection, path: Path, instance: Instance) -> None:
        self._conn = conn
        self._path = path
        self._instance = instance  # each claim made here is its (`_instances`)

    def claim(self, record: IntakeRecord, now: float) -> tuple[str, bool]:
        """Records `record` (with its request) unless its key is taken: (the request id
        that holds the key, whether it is this one). Two claims of one key, from any
        connection, give one request id: the UNIQUE index decides."""
        with translated(f"write to {self._path} failed"), transaction(self._conn):
            inserted = self._conn.execute(
                f"INSERT OR IGNORE INTO intake_requests ({_RECORD}, created_at, owner)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.request_id, record.key, record.channel, record.conversation_id,
                 record.external_id, record.callback, claim_text(record.text),
                 record.customer_id, record.received_at, now, self._instance.id)).rowcount == 1
            if inserted or record.key is None:
                return record.request_id, inserted
            row = self._conn.execute("SELECT request_id FROM intake_requests WHERE key = ?",
                                     (record.key,)).fetchone()
        # No holder of the key: the request id itself was taken, by this very request
        # (a channel's fixed id) whose key a rate refusal freed. It is that request.
        return (record.request_id if row is None else str(row[0])), False

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

    def unaccepted(self) -> list[IntakeRecord]:
        """Claims whose request never reached the engine's accept (a crash in between):
        no request of their id on disk, accepted or turned away."""
        with translated("reading the intake failed"):
            rows = self._conn.execute(
                f"SELECT {', '.join('i.' + c.strip() for c in _RECORD.split(','))}"
                " FROM intake_requests i WHERE i.text IS NOT NULL AND NOT EXISTS"
                " (SELECT 1 FROM requests r WHERE r.id = i.request_id)"
                " ORDER BY i.created_at").fetchall()
        return [IntakeRecord(*r) for r in rows]

    def take_over(self) -> list[IntakeRecord]:
        """The unaccepted claims (`unaccepted`) no live instance is running, made this
        store's, oldest first: of two stores taking one at once, exactly one gets it."""
        with translated(f"write to {self._path} failed"), transaction(self._conn):
            takeable, params = self._instance.takeable()
            rows = self._conn.execute(
                f"UPDATE intake_requests SET owner = ? WHERE {TAKEABLE_CLAIM} AND {takeable}"
                f" RETURNING {_RECORD}, created_at", (self._instance.id, *params)).fetchall()
        return [IntakeRecord(*r[:-1]) for r in sorted(rows, key=lambda row: row[-1])]

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

    def owed_resolutions(self, escalation_id: int | None = None, *,
                         resolved_since: float | None = None) -> list[tuple[int, str]]:
        """(escalation id, request id) of resolved escalations of intake requests with a
        callback whose `resolved:<escalation id>` delivery is not queued yet: of one
        escalation, of those resolved since a time, or all (what a crash between the
        resolution and its enqueue left)."""
        where = ""
        if escalation_id is not None:
            where += " AND e.id = :id"
        if resolved_since is not None:
            where += " AND e.resolved_at >= :since"
        with translated("reading the intake failed"):
            rows = self._conn.execute(
                "SELECT e.id, e.request_id FROM escalations e JOIN intake_requests i"
                " ON i.request_id = e.request_id WHERE e.state = 'resolved'"
                " AND i.callback IS NOT NULL" + where + " AND NOT EXISTS"
                " (SELECT 1 FROM outbox b WHERE b.key = 'resolved:' || e.id)"
                " ORDER BY e.resolved_at",
                {"id": escalation_id, "since": resolved_since}).fetchall()
        return [(int(e), str(r)) for e, r in rows]

    def channel_outcomes(self, channel: str, key_prefix: str,
                         since: float) -> list[ChannelOutcome]:
        """What a help-desk channel may still owe its desk (`_channel_posts`): on a
        read-only connection of its own, so a worker thread may call it."""
        return channel_outcomes(self._path, channel, key_prefix, since)


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

    def due(self, now: float, limit: int, skip: frozenset[str] = frozenset(),
            lease_s: float = LEASE_S) -> list[Delivery]:
        """Deliveries due now, leased to the caller for `lease_s` (not due to anyone else
        until it says delivered, failed or dead, or the lease lapses): two processes on
        one database never send one delivery at once. `skip`: the caller's in flight."""
        sql = ("SELECT id, key, kind, target, payload, attempts,"
               f" COALESCE(retried_at, created_at) FROM outbox WHERE {_OWED}"
               " AND next_at <= ? ORDER BY next_at LIMIT ?")
        params = (now, limit + len(skip))
        with translated("reading the outbox failed"):
            if not self._conn.execute(sql, params).fetchone():
                return []  # the usual poll: no write lock taken for nothing
        with translated(f"write to {self._path} failed"), transaction(self._conn,
                                                                       "IMMEDIATE"):
            rows = self._conn.execute(sql, params).fetchall()  # again, under the lock
            taken = [Delivery(i, k, kind, t, json.loads(p), a, s)
                     for i, k, kind, t, p, a, s in rows if i not in skip][:limit]
            self._conn.executemany("UPDATE outbox SET next_at = ? WHERE id = ?",
                                   [(now + lease_s, d.id) for d in taken])
        return taken

    def next_due(self) -> float | None:
        with translated("reading the outbox failed"):
            row = self._conn.execute(f"SELECT MIN(next_at) FROM outbox WHERE {_OWED}"
                                     ).fetchone()
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

    def dead(self, delivery_id: str, reason: str, now: float) -> None:
        """Never sent again (a permanent refusal, or owed past the give-up age), kept with
        its reason until an operator revives it."""
        with translated(f"write to {self._path} failed"), transaction(self._conn):
            self._conn.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ?,"
                               " dead_at = ? WHERE id = ? AND delivered_at IS NULL",
                               (reason[:500], now, delivery_id))

    def revive(self, delivery_id: str, now: float) -> bool:
        """A dead delivery owed again, due now, its attempts and give-up age counted
        afresh (its id kept: the receiver still dedupes by it); False: not dead."""
        with translated(f"write to {self._path} failed"), transaction(self._conn):
            return self._conn.execute(
                "UPDATE outbox SET dead_at = NULL, retried_at = ?, next_at = ?, attempts = 0"
                " WHERE id = ? AND dead_at IS NOT NULL AND delivered_at IS NULL",
                (now, now, delivery_id)).rowcount == 1

    def revive_dead(self, now: float) -> int:
        """Every dead delivery owed again; how many."""
        with translated(f"write to {self._path} failed"), transaction(self._conn):
            return self._conn.execute(
                "UPDATE outbox SET dead_at = NULL, retried_at = ?, next_at = ?, attempts = 0"
                " WHERE dead_at IS NOT NULL AND delivered_at IS NULL", (now, now)).rowcount

    def pending(self) -> int:
        return self.counts()["pending"]

    def counts(self) -> dict[str, int]:
        """{"pending": owed and still tried, "dead": given up on}."""
        with translated("reading the outbox failed"):
            pending = self._conn.execute(f"SELECT COUNT(*) FROM outbox WHERE {_OWED}"
                                         ).fetchone()[0]
            dead = self._conn.execute("SELECT COUNT(*) FROM outbox WHERE dead_at IS NOT NULL"
                                      " AND delivered_at IS NULL").fetchone()[0]
        return {"pending": int(pending), "dead": int(dead)}

    def entries(self, state: OutboxState | None = None, limit: int = 100) -> list[OutboxEntry]:
        """Deliveries in `state` (None: any), newest first."""
        where = {None: "", "pending": f"WHERE {_OWED}",
                 "dead": "WHERE dead_at IS NOT NULL AND delivered_at IS NULL",
                 "delivered": "WHERE delivered_at IS NOT NULL"}[state]
        with translated("reading the outbox failed"):
            rows = self._conn.execute(f"SELECT {_ENTRY} FROM outbox {where}"
                                      " ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        return [OutboxEntry(*r) for r in rows]

    def entry(self, id_or_key: str) -> OutboxEntry | None:
        """The delivery of that id, or of that key."""
        with translated("reading the outbox failed"):
            row = self._conn.execute(f"SELECT {_ENTRY} FROM outbox WHERE id = ? OR key = ?",
                                     (id_or_key, id_or_key)).fetchone()
        return None if row is None else OutboxEntry(*row)

    def state(self, key: str) -> tuple[str, int, float | None, str | None] | None:
        """(delivery id, attempts, delivered_at, last error) of a key, None: not queued."""
        with translated("reading the outbox failed"):
            row = self._conn.execute("SELECT id, attempts, delivered_at, last_error FROM outbox"
                                     " WHERE key = ?", (key,)).fetchone()
        return None if row is None else (str(row[0]), int(row[1]), row[2], row[3])


def claim_text(text: str | None) -> str | None:
    """A claim's text as both backends keep it: `storable` (PostgreSQL refuses NUL, and
    the claim's transaction failing made the intake answer 503 to a request the guard
    rejects as binary)."""
    return None if text is None else storable(text)
