"""Recorded traffic for backtests and suggestions on PostgreSQL (SQLite's is
`_traffic`): the same rows in the same order, read after the outcome writer has put
down everything already returned.

A backtest reads up to a million rows. A plain fetch would have libpq hold the whole
result and then Python build its tuples beside it; rows streamed in chunks (libpq 17's
chunked mode, one query, no cursor on the server) are handed over a batch at a time,
so only the list the caller gets is ever whole. Binary: its floats and strings are
built without parsing text. A million rows on a loaded 2-core machine
(bench/pg_backtest_bench.py): 2.1-3.4 s streamed binary, of which the server's join
and sort take 1.3-2 s before the first row; 3.2 s streamed as text; 4.3 s through a
server-side cursor (text, as before); COPY's bare stream alone, one message a row,
takes 1.7-3 s before Python has taken a row apart. SQLite reads the same in ~5 s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from agentcore.storage._pg_connection import pg_translated
from agentcore.storage._traffic import IntentRow, RecordedRow

Pool = ConnectionPool[psycopg.Connection[Any]]
BATCH = 20_000  # rows per round trip: large enough that the network is not the cost
SORT_MEMORY = "256MB"
CHUNKED_LIBPQ = 170000  # `stream(size=)` needs it; older: a server-side cursor's batches

# SQLite's queries (`_traffic`), with PostgreSQL's placeholders.
_RECORDED = """
SELECT r.id, r.text, r.received_at, o.route, o.intent, o.rule_id, o.dollars, o.latency_ms,
       l.intent AS label
FROM requests r JOIN outcomes o ON o.request_id = r.id
LEFT JOIN labelled_examples l ON l.request_id = r.id
WHERE o.status != 'rejected' AND o.route != 'guard'
ORDER BY r.received_at DESC LIMIT %s
"""
_RECORDED_SINCE = _RECORDED.replace("ORDER BY", """AND r.id IN (
    SELECT request_id FROM outcomes WHERE finished_at >= %s
    UNION SELECT request_id FROM labelled_examples WHERE created_at >= %s)
ORDER BY""")
_INTENTS = """
SELECT r.id, r.text, r.received_at, o.route, o.status, o.intent, l.intent AS label,
       e.resolution
FROM requests r JOIN outcomes o ON o.request_id = r.id
LEFT JOIN labelled_examples l ON l.request_id = r.id
LEFT JOIN escalations e ON e.request_id = r.id
WHERE o.status != 'rejected' AND o.route != 'guard'
ORDER BY r.received_at DESC LIMIT %s
"""


class PostgresTraffic:
    """`TrafficRepository` over a pool of connections to the team's database."""

    def __init__(self, pool: Pool, where: str, flush: Callable[[], None] = lambda: None,
                 ) -> None:
        self._pool = pool
        self._where = where
        self._flush = flush

    def recorded(self, limit: int) -> list[RecordedRow]:
        """The newest `limit` answered or escalated requests: (id, text, received_at,
        route, intent, rule_id, dollars, latency_ms, an operator's label)."""
        return self._stream(_RECORDED, limit)

    def recorded_since(self, since: float, limit: int) -> list[RecordedRow]:
        """`recorded`'s rows whose outcome or label was written at or after `since`,
        newest first (see SQLiteTraffic.recorded_since)."""
        return self._stream(_RECORDED_SINCE, since, since, limit)

    def intent_rows(self, limit: int) -> list[IntentRow]:
        """The newest `limit` answered or escalated requests with what is known of their
        intent (see SQLiteTraffic.intent_rows)."""
        return self._stream(_INTENTS, limit)

    def rule_hits_since(self, since: float) -> dict[str, int]:
        """Rule id -> requests it answered since `since` (the rules view's 'hits today')."""
        self._flush()
        with pg_translated(f"reading the outcomes at {self._where} failed"), \
                self._pool.connection() as conn:
            rows = conn.execute("SELECT rule_id, COUNT(*) FROM outcomes WHERE route = 'rule'"
                                " AND finished_at >= %s GROUP BY rule_id", (since,)).fetchall()
        return {rule_id: int(n) for rule_id, n in rows if rule_id}

    def _stream(self, sql: str, *params: object) -> list[Any]:
        self._flush()
        found: list[Any] = []
        with pg_translated(f"reading the recorded traffic at {self._where} failed"), \
                self._pool.connection() as conn, conn.transaction():
            # The join and sort of a million rows in memory, not in batches on disk
            # (the default 4 MB): for this transaction only.
            conn.execute(f"SET LOCAL work_mem = '{SORT_MEMORY}'")
            if psycopg.pq.version() >= CHUNKED_LIBPQ:
                with conn.cursor(binary=True) as cur:
                    found.extend(cur.stream(sql, params, size=BATCH))
                return found
            with conn.cursor(name="agentcore_traffic", binary=True) as named:
                named.itersize = BATCH
                named.execute(sql, params)
                while rows := named.fetchmany(BATCH):
                    found.extend(rows)
        return found
