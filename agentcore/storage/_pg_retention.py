"""Retention on PostgreSQL (SQLite's is `_retention`, the same rules): finished requests
older than the retention go with their outcomes and spans, and the oldest spans beyond
a size cap; never a request still open, one whose escalation is not resolved, nor a
labelled example.

What differs is PostgreSQL's: writers take row locks only, so a chunk's delete never
makes the engine wait (no pause between chunks is needed); every station of a team may
run a pruner, so one prunes at a time (an advisory lock; the others skip the round);
deleted rows' space is made reusable by a plain VACUUM after the prune (the files
shrink only by their empty tail, which is what `pages_freed` counts).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from agentcore.storage._pg_connection import pg_translated
from agentcore.storage._retention import _PRUNABLE, CHUNK, PruneReport

log = logging.getLogger("agentcore.storage")

Pool = ConnectionPool[psycopg.Connection[Any]]
PRUNE_LOCK = 0x6167_656E_7470_726E  # pg_try_advisory_lock's key: "agentprn"
_TABLES = ("spans", "escalations", "outcomes", "requests")  # children first

# The outbox keys that name a request, as SQLite's `_retention` matches them: a key of
# another shape is never pruned (kept is safe, a delivery sent twice is not).
_SETTLED = "(delivered_at IS NOT NULL OR dead_at IS NOT NULL)"
_DELIVERIES_OF_REQUESTS = (
    f"DELETE FROM outbox WHERE {_SETTLED} AND (key IN (SELECT 'outcome:' || i FROM"
    " unnest(%(ids)s::text[]) i) OR key IN (SELECT 'resolved:' || e.id FROM escalations e"
    " WHERE e.request_id = ANY(%(ids)s)) OR EXISTS (SELECT 1 FROM unnest(%(ids)s::text[]) i"
    " WHERE starts_with(key, 'chatwoot:' || i || ':')))")
# Settled deliveries past the retention whose request a prune of an earlier release
# deleted (it left them behind): nothing can owe them again.
_ORPHANED_DELIVERIES = (
    f"DELETE FROM outbox WHERE {_SETTLED} AND COALESCE(delivered_at, dead_at) < %(cutoff)s"
    " AND ((starts_with(key, 'outcome:') AND NOT EXISTS (SELECT 1 FROM requests r"
    "   WHERE r.id = substr(outbox.key, 9)))"
    " OR (starts_with(key, 'resolved:') AND NOT EXISTS (SELECT 1 FROM escalations e"
    "   WHERE e.id::text = substr(outbox.key, 10)))"
    " OR (starts_with(key, 'chatwoot:') AND position(':' in substr(key, 10)) > 0"
    "   AND NOT EXISTS (SELECT 1 FROM requests r WHERE"
    "   r.id = substr(outbox.key, 10, position(':' in substr(outbox.key, 10)) - 1))))")
# What a span takes, as SQLite's estimate where it cannot count pages: its text, twice
# the request id (the row and its index entry), and a row's overhead.
_SPAN_BYTES = ("octet_length(request_id) * 2 + octet_length(name) + octet_length(attributes)"
               " + COALESCE(octet_length(error), 0) + 40")


class PostgresPruner:
    """Prunes the team's database; `prune` runs it now, `start` every `interval_s`."""

    def __init__(self, pool: Pool, where: str, *, retention_days: float | None,
                 spans_max_mb: float | None, now: Callable[[], float]) -> None:
        self._pool = pool
        self._where = where
        self.retention_days = retention_days
        self.spans_max_mb = spans_max_mb
        self._now = now
        self._lock = threading.Lock()  # this process's: the thread's or a direct call
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self, interval_s: float = 600.0) -> None:
        def run() -> None:
            while not self._stopping.wait(interval_s):
                try:
                    self.prune()
                except Exception:  # the next round tries again; requests are unaffected
                    log.exception("pruning the database at %s failed", self._where)

        self._thread = threading.Thread(target=run, name="agentcore-pruner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def prune(self) -> PruneReport:
        with self._lock, pg_translated(f"pruning the database at {self._where} failed"), \
                self._pool.connection() as conn:
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (PRUNE_LOCK,)).fetchone()
            if not got or not got[0]:
                log.info("another station is pruning the database at %s", self._where)
                return PruneReport(0, 0, 0)
            try:
                return self._prune(conn)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (PRUNE_LOCK,))

    def _prune(self, conn: psycopg.Connection[Any]) -> PruneReport:
        removed = 0
        if self.retention_days is not None:
            cutoff = self._now() - self.retention_days * 86_400
            while ids := _ids(conn, "SELECT r.id FROM requests r JOIN outcomes o"
                              " ON o.request_id = r.id WHERE o.finished_at < %s AND"
                              + _PRUNABLE + "LIMIT %s", (cutoff, CHUNK)):
                with conn.transaction():
                    # What the intake kept of them goes too (SQLite's `_retention` says
                    # why): settled deliveries naming them, then their claims.
                    conn.execute(_DELIVERIES_OF_REQUESTS, {"ids": ids})
                    conn.execute("DELETE FROM intake_requests WHERE request_id = ANY(%s)",
                                 (ids,))
                    for table in _TABLES:
                        column = "id" if table == "requests" else "request_id"
                        cur = conn.execute(f"DELETE FROM {table} WHERE {column} = ANY(%s)",
                                           (ids,))
                removed += cur.rowcount  # another process's prune may have taken some
            with conn.transaction():
                conn.execute(_ORPHANED_DELIVERIES, {"cutoff": cutoff})
        stripped = self._cap_spans(conn)
        freed = _vacuum(conn) if removed or stripped else 0
        if removed or stripped:
            log.info("pruned %d requests and the spans of %d more; %d pages freed",
                     removed, stripped, freed)
        return PruneReport(removed, stripped, freed)

    def _cap_spans(self, conn: psycopg.Connection[Any]) -> int:
        """Drops the spans of the oldest finished requests while spans take more than
        the cap; their outcomes stay. Sized by what the rows hold: a table's file does
        not shrink when rows go, so its size would never come under the cap."""
        if self.spans_max_mb is None:
            return 0
        cap = self.spans_max_mb * 1024 * 1024
        row = conn.execute(f"SELECT COALESCE(SUM({_SPAN_BYTES}), 0), COUNT(*),"
                           " COUNT(DISTINCT request_id) FROM spans").fetchone()
        size, rows, owners = (float(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)
        stripped = 0
        while size > cap and rows:
            # As many of the oldest requests as take the excess, by the mean each takes.
            per_request = size / max(owners, 1)
            wanted = math.ceil((size - cap) / per_request)
            ids = _ids(conn, "SELECT r.id FROM requests r JOIN outcomes o ON o.request_id = r.id"
                       " WHERE EXISTS (SELECT 1 FROM spans s WHERE s.request_id = r.id) AND"
                       + _PRUNABLE + 'ORDER BY o.finished_at, r.id COLLATE "C" LIMIT %s',
                       (min(CHUNK, max(wanted, 1)),))
            if not ids:
                break
            gone = conn.execute(f"DELETE FROM spans WHERE request_id = ANY(%s)"
                                f" RETURNING {_SPAN_BYTES}", (ids,)).fetchall()
            stripped += len(ids)
            size -= sum(float(b) for (b,) in gone)
            rows -= len(gone)
            owners -= len(ids)
        return stripped


def _ids(conn: psycopg.Connection[Any], sql: str, params: tuple[object, ...]) -> list[str]:
    return [r for (r,) in conn.execute(sql, params).fetchall()]


def _vacuum(conn: psycopg.Connection[Any]) -> int:
    """Makes the deleted rows' space reusable now (autovacuum would, later); returns
    the pages the tables' files gave back."""
    size = ("SELECT COALESCE(SUM(pg_relation_size(c)), 0) / current_setting('block_size')::int"
            " FROM unnest(%s::regclass[]) c")
    before = conn.execute(size, (list(_TABLES),)).fetchone()
    conn.execute("VACUUM " + ", ".join(_TABLES))  # plain: it never blocks the writers
    after = conn.execute(size, (list(_TABLES),)).fetchone()
    return max(0, int(before[0]) - int(after[0])) if before and after else 0
