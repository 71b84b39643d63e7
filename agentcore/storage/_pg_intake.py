"""The intake's idempotency keys and the outbox of deliveries on PostgreSQL (SQLite's
are `_intake`; the tables are the same, PostgreSQL's migrations 1 and 2).

Several `agentcore serve` instances share one database, so two things SQLite's one
process never needed:

- A claim is `INSERT ... ON CONFLICT DO NOTHING`: of two claims of one key at once,
  the second waits on the unique index for the first to commit, inserts nothing, then
  reads the holder (each statement of READ COMMITTED sees what committed before it).
- `due` hands a delivery to one process at a time. It takes the due rows `FOR UPDATE
  SKIP LOCKED` and moves their `next_at` a lease ahead (`SEND_LEASE_S`) in the same
  statement: another process polling at that moment skips the locked rows, and one
  polling later finds them not due. The send then ends the lease (`delivered`,
  `failed` set what comes next, `dead` takes it out). A process killed mid-send
  leaves its deliveries due again once the lease ends, sent by whichever process polls
  first, with the same id (the receiver dedupes by it). No lease column: `next_at`
  already means "not before", so the schema stays SQLite's. Row locks alone (held
  for the whole send) would need a connection per delivery in flight.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from agentcore.errors import StorageError
from agentcore.storage._channel_posts import ChannelOutcome
from agentcore.storage._instances import Instance
from agentcore.storage._intake import (
    TAKEABLE_CLAIM,
    Delivery,
    IntakeRecord,
    OutboxEntry,
    OutboxState,
    claim_text,
)
from agentcore.storage._pg_connection import pg_translated

Pool = ConnectionPool[psycopg.Connection[Any]]

# Longer than any deliverer's own timeout (the webhook's and Chatwoot's are 10 s), so a
# slow send is not handed to a second process while the first still waits on it; short
# enough that a killed instance's deliveries go out within a minute. The clock is the
# caller's: instances whose clocks differ by more than this may send one delivery twice
# (still under one id).
SEND_LEASE_S = 60.0

_RECORD = ("request_id, key, channel, conversation_id, external_id, callback, text,"
           " customer_id, received_at")
_ENTRY = ("id, key, kind, target, CASE WHEN delivered_at IS NOT NULL THEN 'delivered'"
          " WHEN dead_at IS NOT NULL THEN 'dead' ELSE 'pending' END, attempts, created_at,"
          " next_at, delivered_at, dead_at, last_error")
_OWED = "delivered_at IS NULL AND dead_at IS NULL"  # the partial index outbox_owed's
_DEAD = "dead_at IS NOT NULL AND delivered_at IS NULL"


class _Pooled:
    """Statements on a pool connection: any thread may call (a pool hands each its own)."""

    def __init__(self, pool: Pool, where: str, what: str) -> None:
        self._pool = pool
        self._where = where  # host:port, for messages
        self._what = what

    def _rows(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with pg_translated(f"reading the {self._what} at {self._where} failed"), \
                self._pool.connection() as conn:
            return conn.execute(sql, params).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with pg_translated(f"writing the {self._what} at {self._where} failed"), \
                self._pool.connection() as conn, conn.transaction():
            yield conn

    def _change(self, sql: str, params: Any) -> int:
        with self._transaction() as conn:
            return conn.execute(sql, params).rowcount


class PostgresIntake(_Pooled):
    """`IntakeRepository` over a pool of connections to the team's database."""

    def __init__(self, pool: Pool, where: str, instance: Instance) -> None:
        super().__init__(pool, where, "intake")
        self._instance = instance  # each claim made here is its (`_instances`)

    def claim(self, record: IntakeRecord, now: float) -> tuple[str, bool]:
        """Records `record` (with its request) unless its key is taken: (the request id
        that holds the key, whether it is this one). Claims of one key from any number
        of processes give one request id: the unique index decides."""
        row = (record.request_id, record.key, record.channel, record.conversation_id,
               record.external_id, record.callback, claim_text(record.text), record.customer_id,
               record.received_at, now, self._instance.id)
        for _ in range(3):  # a holder that lets go between our two statements: again
            # Each statement stands alone (read committed: the transaction gave the
            # lookups no common snapshot, hence the retries), so the INSERT runs as its
            # own: one round trip the event loop waits on instead of three.
            with pg_translated(f"writing the intake at {self._where} failed"), \
                    self._pool.connection() as conn:
                if conn.execute(f"INSERT INTO intake_requests ({_RECORD}, created_at, owner)"
                                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                                " ON CONFLICT DO NOTHING", row).rowcount == 1:
                    return record.request_id, True
                if record.key is None:
                    return record.request_id, False  # its id was claimed before
                holder = conn.execute("SELECT request_id FROM intake_requests WHERE key = %s",
                                      (record.key,)).fetchone()
                if holder is not None:
                    return str(holder[0]), False
                # No holder of the key: the request id itself was taken, by this very
                # request (a channel's fixed id) whose key a rate refusal freed.
                if conn.execute("SELECT 1 FROM intake_requests WHERE request_id = %s",
                                (record.request_id,)).fetchone() is not None:
                    return record.request_id, False
        raise StorageError(f"claiming intake key {record.key!r} kept racing a release")

    def release(self, request_id: str) -> None:
        """Frees a request's key (it was refused for rate: the sender is told to retry, and
        the retry must be able to become a request)."""
        self._change("UPDATE intake_requests SET key = NULL WHERE request_id = %s",
                     (request_id,))

    def record(self, request_id: str) -> IntakeRecord | None:
        rows = self._rows(f"SELECT {_RECORD} FROM intake_requests WHERE request_id = %s",
                          (request_id,))
        return IntakeRecord(*rows[0]) if rows else None

    def unaccepted(self) -> list[IntakeRecord]:
        """Claims whose request never reached the engine's accept (a crash in between):
        no request of their id in the database, accepted or turned away."""
        columns = ", ".join("i." + c.strip() for c in _RECORD.split(","))
        rows = self._rows(f"SELECT {columns} FROM intake_requests i WHERE i.text IS NOT NULL"
                          " AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.id = i.request_id)"
                          " ORDER BY i.created_at")
        return [IntakeRecord(*r) for r in rows]

    def take_over(self) -> list[IntakeRecord]:
        """The unaccepted claims no live instance is running, made this store's, oldest
        first; one UPDATE, so of two stores taking one at once exactly one gets it."""
        with self._transaction() as conn:
            takeable, params = self._instance.takeable()
            rows = conn.execute(
                (f"UPDATE intake_requests SET owner = ? WHERE {TAKEABLE_CLAIM} AND {takeable}"
                 f" RETURNING {_RECORD}, created_at").replace("?", "%s"),
                (self._instance.id, *params)).fetchall()
        return [IntakeRecord(*r[:-1]) for r in sorted(rows, key=lambda row: row[-1])]

    def owed_callbacks(self) -> list[str]:
        """Requests finished (answered or escalated) whose callback has no delivery yet."""
        rows = self._rows(
            "SELECT i.request_id FROM intake_requests i JOIN outcomes o"
            " ON o.request_id = i.request_id WHERE i.callback IS NOT NULL"
            " AND o.status IN ('answered', 'escalated') AND NOT EXISTS"
            " (SELECT 1 FROM outbox b WHERE b.key = 'outcome:' || i.request_id)")
        return [str(r[0]) for r in rows]

    def owed_resolutions(self, escalation_id: int | None = None, *,
                         resolved_since: float | None = None) -> list[tuple[int, str]]:
        """(escalation id, request id) of resolved escalations of intake requests with a
        callback whose `resolved:<escalation id>` delivery is not queued yet: of one
        escalation, of those resolved since a time, or all."""
        where = ""
        if escalation_id is not None:
            where += " AND e.id = %(id)s"
        if resolved_since is not None:
            where += " AND e.resolved_at >= %(since)s"
        rows = self._rows(
            "SELECT e.id, e.request_id FROM escalations e JOIN intake_requests i"
            " ON i.request_id = e.request_id WHERE e.state = 'resolved'"
            " AND i.callback IS NOT NULL" + where + " AND NOT EXISTS"
            " (SELECT 1 FROM outbox b WHERE b.key = 'resolved:' || e.id::text)"
            " ORDER BY e.resolved_at", {"id": escalation_id, "since": resolved_since})
        return [(int(e), str(r)) for e, r in rows]

    def channel_outcomes(self, channel: str, key_prefix: str,
                         since: float) -> list[ChannelOutcome]:
        """What a help-desk channel may still owe its desk (`_channel_posts`), oldest
        first; on a pool connection of its own, so a worker thread may call it."""
        # The keys under `<prefix><request id>:`, found in one pass over the outbox:
        # each key with the prefix offers every part of its rest before a ':' as a
        # request id, joined to the window's. (SQLite's range on the key index would
        # not do here: a database's collation may ignore punctuation, and a range per
        # outcome without the index is a scan of the outbox per outcome.)
        rows = self._rows(
            "WITH owed AS (SELECT o.request_id, o.status, o.route, o.answer, e.resolution,"
            "   r.note IS NOT NULL AS noted, o.finished_at"
            " FROM outcomes o JOIN intake_requests i ON i.request_id = o.request_id"
            " JOIN requests r ON r.id = o.request_id"
            " LEFT JOIN escalations e ON e.request_id = o.request_id"
            " WHERE o.finished_at >= %(since)s AND i.channel = %(channel)s"
            " AND o.status IN ('answered', 'escalated')),"
            " queued AS (SELECT c.rid, string_agg(b.key, E'\\n') AS keys FROM outbox b,"
            "   LATERAL (SELECT string_to_array(substr(b.key, length(%(p)s) + 1), ':')"
            "     AS parts) s,"
            "   LATERAL (SELECT array_to_string(s.parts[1:n], ':') AS rid"
            "     FROM generate_series(1, cardinality(s.parts) - 1) n) c"
            "   WHERE starts_with(b.key, %(p)s)"
            "   AND c.rid IN (SELECT request_id FROM owed) GROUP BY c.rid)"
            " SELECT w.request_id, w.status, w.route, w.answer, w.resolution, w.noted,"
            " q.keys FROM owed w LEFT JOIN queued q ON q.rid = w.request_id"
            " ORDER BY w.finished_at",
            {"p": key_prefix, "since": since, "channel": channel})
        return [ChannelOutcome(str(rid), str(status), str(route), str(answer), resolution,
                               bool(noted),
                               frozenset(keys.split("\n")) if keys else frozenset())
                for rid, status, route, answer, resolution, noted, keys in rows]


class PostgresOutbox(_Pooled):
    """`OutboxRepository` over a pool; `due` leases what it returns (module docstring)."""

    def __init__(self, pool: Pool, where: str, *, lease_s: float = SEND_LEASE_S) -> None:
        super().__init__(pool, where, "outbox")
        self.lease_s = lease_s

    def enqueue(self, kind: str, target: str, payload: dict[str, Any], key: str,
                now: float) -> tuple[str, bool]:
        """(the delivery id of `key`, whether it is new). A key is delivered once: a second
        enqueue of it, from any process, keeps the first delivery and its id."""
        delivery_id = uuid.uuid4().hex
        with self._transaction() as conn:
            inserted = conn.execute(
                "INSERT INTO outbox (id, key, kind, target, payload, created_at, next_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING",
                (delivery_id, key, kind, target, json.dumps(payload), now, now)
            ).rowcount == 1
            if inserted:
                return delivery_id, True
            row = conn.execute("SELECT id FROM outbox WHERE key = %s", (key,)).fetchone()
        if row is None:  # pragma: no cover - a key's row is never deleted while owed
            raise StorageError(f"outbox key {key!r} is neither new nor queued")
        return str(row[0]), False

    def due(self, now: float, limit: int, skip: frozenset[str] = frozenset(),
            lease_s: float | None = None) -> list[Delivery]:
        """Up to `limit` owed deliveries due at `now`, earliest first, none of `skip`
        (this process's in flight), each leased to the caller for `lease_s` (None: this
        repository's own)."""
        with self._transaction() as conn:
            rows = conn.execute(
                "WITH picked AS (SELECT id, next_at FROM outbox"
                f" WHERE {_OWED} AND next_at <= %(now)s AND NOT (id = ANY(%(skip)s))"
                " ORDER BY next_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
                " UPDATE outbox b SET next_at = %(until)s FROM picked p WHERE b.id = p.id"
                " RETURNING b.id, b.key, b.kind, b.target, b.payload, b.attempts,"
                " COALESCE(b.retried_at, b.created_at), p.next_at",
                {"now": now, "skip": list(skip), "limit": limit,
                 "until": now + (self.lease_s if lease_s is None else lease_s)}).fetchall()
        rows.sort(key=lambda r: r[-1])  # RETURNING keeps no order
        return [Delivery(i, k, kind, t, json.loads(p), a, s)
                for i, k, kind, t, p, a, s, _ in rows]

    def next_due(self) -> float | None:
        """The earliest `next_at` owed: a leased delivery's is its lease's end."""
        row = self._rows(f"SELECT MIN(next_at) FROM outbox WHERE {_OWED}")[0]
        return None if row[0] is None else float(row[0])

    def delivered(self, delivery_id: str, now: float) -> None:
        self._change("UPDATE outbox SET delivered_at = %s, attempts = attempts + 1,"
                     " last_error = NULL WHERE id = %s", (now, delivery_id))

    def failed(self, delivery_id: str, error: str, next_at: float) -> None:
        # Not once delivered: a send that outlived its lease may fail after another
        # process's send of the same delivery got through.
        self._change("UPDATE outbox SET attempts = attempts + 1, last_error = %s,"
                     " next_at = %s WHERE id = %s AND delivered_at IS NULL",
                     (error[:500], next_at, delivery_id))

    def dead(self, delivery_id: str, reason: str, now: float) -> None:
        """Never sent again (a permanent refusal, or owed past the give-up age), kept with
        its reason until an operator revives it."""
        self._change("UPDATE outbox SET attempts = attempts + 1, last_error = %s,"
                     " dead_at = %s WHERE id = %s AND delivered_at IS NULL",
                     (reason[:500], now, delivery_id))

    def revive(self, delivery_id: str, now: float) -> bool:
        """A dead delivery owed again, due now, its attempts and give-up age counted
        afresh (its id kept: the receiver still dedupes by it); False: not dead."""
        return self._change(
            "UPDATE outbox SET dead_at = NULL, retried_at = %s, next_at = %s, attempts = 0"
            f" WHERE id = %s AND {_DEAD}", (now, now, delivery_id)) == 1

    def revive_dead(self, now: float) -> int:
        """Every dead delivery owed again; how many."""
        return self._change("UPDATE outbox SET dead_at = NULL, retried_at = %s,"
                            f" next_at = %s, attempts = 0 WHERE {_DEAD}", (now, now))

    def pending(self) -> int:
        return self.counts()["pending"]

    def counts(self) -> dict[str, int]:
        """{"pending": owed and still tried, "dead": given up on}, in one snapshot."""
        row = self._rows(f"SELECT COUNT(*) FILTER (WHERE {_OWED}),"
                         f" COUNT(*) FILTER (WHERE {_DEAD}) FROM outbox")[0]
        return {"pending": int(row[0]), "dead": int(row[1])}

    def entries(self, state: OutboxState | None = None, limit: int = 100) -> list[OutboxEntry]:
        """Deliveries in `state` (None: any), newest first."""
        where = {None: "", "pending": f"WHERE {_OWED}", "dead": f"WHERE {_DEAD}",
                 "delivered": "WHERE delivered_at IS NOT NULL"}[state]
        rows = self._rows(f"SELECT {_ENTRY} FROM outbox {where}"
                          " ORDER BY created_at DESC LIMIT %s", (limit,))
        return [OutboxEntry(*r) for r in rows]

    def entry(self, id_or_key: str) -> OutboxEntry | None:
        """The delivery of that id, or of that key."""
        rows = self._rows(f"SELECT {_ENTRY} FROM outbox WHERE id = %s OR key = %s",
                          (id_or_key, id_or_key))
        return OutboxEntry(*rows[0]) if rows else None

    def state(self, key: str) -> tuple[str, int, float | None, str | None] | None:
        """(delivery id, attempts, delivered_at, last error) of a key, None: not queued."""
        rows = self._rows("SELECT id, attempts, delivered_at, last_error FROM outbox"
                          " WHERE key = %s", (key,))
        if not rows:
            return None
        row = rows[0]
        return str(row[0]), int(row[1]), row[2], row[3]
