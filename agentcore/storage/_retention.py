"""Retention: finished requests older than the retention, with their outcomes and
spans, are deleted; so are the oldest spans beyond a size cap. Never a request
still open (accepted), one whose escalation is not resolved (open, claimed,
handed back), nor one an operator's reply made a labelled example.

A pruned request takes with it what the intake kept of it: its claim (the request's
text and customer, migration 7) and its outbox deliveries already settled (delivered
or dead: their payloads quote the request and its answer). A delivery still owed is
never pruned. The claim must go with the request: a claim without its request is
what a crash before the engine's accept leaves, and the next start would run it again.
A settled delivery is deleted only with its request, never alone: the intake and the
channels find what they owe by the request's outcome with no delivery queued, and
would queue a kept request's callback a second time. Deleted pages are zeroed
(secure_delete): the customers' words do not stay behind in the file's free space.

Deletes go in chunks of a few thousand requests, each its own short transaction,
so the engine's writers wait milliseconds, not the whole prune. The space comes
back through incremental auto-vacuum; a file made before it existed is converted
once by a VACUUM (auto_vacuum can only change that way).
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentcore.storage._connection import connect, transaction, translated

log = logging.getLogger("agentcore.storage")

CHUNK = 2000  # requests per delete transaction
# Between two transactions: a writer waiting on the lock gets in. SQLite's busy handler
# sleeps up to 100 ms between tries, so a shorter gap would let the pruner take the lock
# straight back, and a writer would wait out the whole prune (then fail, "locked").
PAUSE_S = 0.12
VACUUM_PAGES = 4096  # pages given back per incremental-vacuum transaction
_INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL
# What is never pruned: the queue still needs it, or it teaches the classifier.
_PRUNABLE = """
r.status != 'accepted'
AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.request_id = r.id AND e.state != 'resolved')
AND NOT EXISTS (SELECT 1 FROM labelled_examples l WHERE l.request_id = r.id)
"""


@dataclass(frozen=True, slots=True)
class PruneReport:
    requests: int  # finished requests deleted, with their outcomes and spans
    span_requests: int  # requests that kept their outcome but lost their spans (size cap)
    pages_freed: int  # database pages given back to the file system


class Pruner:
    """Prunes the engine database; `prune` runs it now, `start` every `interval_s`."""

    def __init__(self, path: Path, *, retention_days: float | None,
                 spans_max_mb: float | None, now: Callable[[], float]) -> None:
        self.path = path
        self.retention_days = retention_days
        self.spans_max_mb = spans_max_mb
        self._now = now
        self._lock = threading.Lock()  # one prune at a time: the thread's or a direct call
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self, interval_s: float = 600.0) -> None:
        def run() -> None:
            while not self._stopping.wait(interval_s):
                try:
                    self.prune()
                except Exception:  # the next round tries again; requests are unaffected
                    log.exception("pruning the engine database failed")

        self._thread = threading.Thread(target=run, name="agentcore-pruner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def prune(self) -> PruneReport:
        with self._lock, translated(f"pruning {self.path} failed"):
            conn = connect(self.path)
            try:
                return self._prune(conn)
            finally:
                conn.close()

    def _prune(self, conn: sqlite3.Connection) -> PruneReport:
        removed = 0
        conn.execute("PRAGMA secure_delete=ON")  # this connection's deletes zero their bytes
        if self.retention_days is not None:
            cutoff = self._now() - self.retention_days * 86_400
            while ids := _ids(conn, "SELECT r.id FROM requests r JOIN outcomes o"
                              " ON o.request_id = r.id WHERE o.finished_at < ? AND"
                              + _PRUNABLE + "LIMIT ?", (cutoff, CHUNK)):
                _delete_requests(conn, ids)
                removed += len(ids)
                _pause()
            _delete_orphaned_deliveries(conn, cutoff)
        stripped = self._cap_spans(conn)
        freed = _reclaim(conn)
        if removed or stripped:
            log.info("pruned %d requests and the spans of %d more; %d pages freed",
                     removed, stripped, freed)
        return PruneReport(removed, stripped, freed)

    def _cap_spans(self, conn: sqlite3.Connection) -> int:
        """Drops the spans of the oldest finished requests while spans take more than
        the cap; their outcomes stay (the feed's history, the backtests' traffic)."""
        if self.spans_max_mb is None:
            return 0
        cap = self.spans_max_mb * 1024 * 1024
        size, rows = _spans_size(conn)
        stripped = 0
        owners = int(conn.execute("SELECT COUNT(DISTINCT request_id) FROM spans").fetchone()[0])
        while size > cap and rows:
            per_row = size / rows
            # As many of the oldest requests as take the excess, by the mean spans each.
            wanted = math.ceil((size - cap) / per_row / (rows / max(owners, 1)))
            ids = _ids(conn, "SELECT r.id FROM requests r JOIN outcomes o ON o.request_id = r.id"
                       " WHERE EXISTS (SELECT 1 FROM spans s WHERE s.request_id = r.id) AND"
                       + _PRUNABLE + "ORDER BY o.finished_at, r.id LIMIT ?",
                       (min(CHUNK, max(wanted, 1)),))
            if not ids:
                break
            with transaction(conn, "IMMEDIATE"):
                gone = conn.executemany("DELETE FROM spans WHERE request_id = ?",
                                        [(i,) for i in ids]).rowcount
            stripped += len(ids)
            size, rows, owners = size - gone * per_row, rows - gone, owners - len(ids)
            _pause()
        return stripped


def _pause() -> None:
    time.sleep(PAUSE_S)


def _ids(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> list[str]:
    return [r for (r,) in conn.execute(sql, params)]


# The outbox keys that name a request (agentcore.intake.service's OUTCOME_KEY and
# RESOLVED_KEY, agentcore.channels._chatwoot_posts' "chatwoot:<request id>:<what>"),
# matched on the outbox's unique index; ':' + 1 is ';'. A key of another shape is
# never pruned: kept is safe, a delivery sent twice is not.
_SETTLED = "(delivered_at IS NOT NULL OR dead_at IS NOT NULL)"
_DELIVERIES_OF_REQUEST = (
    f"DELETE FROM outbox WHERE {_SETTLED} AND (key = 'outcome:' || :rid"
    " OR key IN (SELECT 'resolved:' || e.id FROM escalations e WHERE e.request_id = :rid)"
    " OR (key >= 'chatwoot:' || :rid || ':' AND key < 'chatwoot:' || :rid || ';'))")


def _delete_requests(conn: sqlite3.Connection, ids: list[str]) -> None:
    keys = [(i,) for i in ids]
    with transaction(conn, "IMMEDIATE"):  # children first: foreign keys are on
        conn.executemany(_DELIVERIES_OF_REQUEST, [{"rid": i} for i in ids])  # escalations
        conn.executemany("DELETE FROM intake_requests WHERE request_id = ?", keys)  # first
        for table, column in (("spans", "request_id"), ("escalations", "request_id"),
                              ("outcomes", "request_id"), ("requests", "id")):
            conn.executemany(f"DELETE FROM {table} WHERE {column} = ?", keys)


def _delete_orphaned_deliveries(conn: sqlite3.Connection, cutoff: float) -> None:
    """Settled deliveries older than the retention whose request a prune of a release
    before this one deleted (it left them behind): nothing can owe them again."""
    with transaction(conn, "IMMEDIATE"):
        conn.execute(
            f"DELETE FROM outbox WHERE {_SETTLED} AND COALESCE(delivered_at, dead_at) < ? AND ("
            " (key >= 'outcome:' AND key < 'outcome;' AND NOT EXISTS (SELECT 1 FROM requests r"
            "   WHERE r.id = substr(outbox.key, 9)))"
            " OR (key >= 'resolved:' AND key < 'resolved;' AND NOT EXISTS (SELECT 1 FROM"
            "   escalations e WHERE e.id = CAST(substr(outbox.key, 10) AS INTEGER)))"
            " OR (key >= 'chatwoot:' AND key < 'chatwoot;' AND instr(substr(key, 10), ':') > 0"
            "   AND NOT EXISTS (SELECT 1 FROM requests r WHERE"
            "   r.id = substr(outbox.key, 10, instr(substr(outbox.key, 10), ':') - 1))))",
            (cutoff,))


def _spans_size(conn: sqlite3.Connection) -> tuple[float, int]:
    """Bytes the spans table and its index take, and its rows."""
    rows = int(conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0])
    try:  # dbstat counts pages exactly, where SQLite was built with it
        size = conn.execute("SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN"
                            " ('spans', 'sqlite_autoindex_spans_1')").fetchone()[0]
    except sqlite3.OperationalError:  # else the payload, plus a row's overhead
        size = conn.execute("SELECT COALESCE(SUM(length(request_id) * 2 + length(name)"
                            " + length(attributes) + COALESCE(length(error), 0) + 40), 0)"
                            " FROM spans").fetchone()[0]
    return float(size), rows


def _reclaim(conn: sqlite3.Connection) -> int:
    """Gives free pages back to the file system; returns how many."""
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    if not free:
        return 0
    if int(conn.execute("PRAGMA auto_vacuum").fetchone()[0]) == _INCREMENTAL:
        # executescript steps the pragma to its end; execute frees a single page. A few
        # thousand pages a transaction, with the writers let in between.
        left = free
        while left > 0:
            conn.executescript(f"PRAGMA incremental_vacuum({VACUUM_PAGES});")
            now_free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
            if now_free >= left:
                break
            left = now_free
            if left:
                _pause()
    else:  # a file from before auto-vacuum: converted once, the whole file rewritten
        log.warning("converting %s to incremental auto-vacuum (one VACUUM)", conn)
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("VACUUM")
    return free - int(conn.execute("PRAGMA freelist_count").fetchone()[0])
