"""Recorded traffic for backtests and suggestions: read on a connection of the
caller's own thread (a backtest's worker), read-only, after the outcome writer
has put down everything already returned."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentcore.storage._connection import read_only, translated

_RECORDED = """
SELECT r.id, r.text, r.received_at, o.route, o.intent, o.rule_id, o.dollars, o.latency_ms,
       l.intent AS label
FROM requests r JOIN outcomes o ON o.request_id = r.id
LEFT JOIN labelled_examples l ON l.request_id = r.id
WHERE o.status != 'rejected' AND o.route != 'guard'
ORDER BY r.received_at DESC LIMIT ?
"""
RecordedRow = tuple[str, str, float, str, str | None, str | None, float, float, str | None]
# The same rows, only those whose outcome or label was written at or after a time: what
# a loaded sample lacks (a new request, a re-run's outcome, an operator's reply).
_RECORDED_SINCE = _RECORDED.replace("ORDER BY", """AND r.id IN (
    SELECT request_id FROM outcomes WHERE finished_at >= ?
    UNION SELECT request_id FROM labelled_examples WHERE created_at >= ?)
ORDER BY""")

# What the learned tier trains on: the outcome's status, and how an escalation ended
# (an operator's reply vouches for the intent; "resolved elsewhere" says nothing of it).
_INTENTS = """
SELECT r.id, r.text, r.received_at, o.route, o.status, o.intent, l.intent AS label,
       e.resolution
FROM requests r JOIN outcomes o ON o.request_id = r.id
LEFT JOIN labelled_examples l ON l.request_id = r.id
LEFT JOIN escalations e ON e.request_id = r.id
WHERE o.status != 'rejected' AND o.route != 'guard'
ORDER BY r.received_at DESC LIMIT ?
"""
IntentRow = tuple[str, str, float, str, str, str | None, str | None, str | None]


class SQLiteTraffic:
    """`TrafficRepository` over an engine database file."""

    def __init__(self, path: Path, flush: Callable[[], None] = lambda: None) -> None:
        self.path = path
        self._flush = flush

    def recorded(self, limit: int) -> list[RecordedRow]:
        """The newest `limit` answered or escalated requests: (id, text, received_at,
        route, intent, rule_id, dollars, latency_ms, an operator's label)."""
        return self._read(_RECORDED, (limit,))

    def recorded_since(self, since: float, limit: int) -> list[RecordedRow]:
        """`recorded`'s rows whose outcome or label was written at or after `since`
        (the engine's clock), newest first: what tops up a sample loaded before."""
        return self._read(_RECORDED_SINCE, (since, since, limit))

    def intent_rows(self, limit: int) -> list[IntentRow]:
        """The newest `limit` answered or escalated requests with what is known of their
        intent: (id, text, received_at, route, status, intent, an operator's label, the
        escalation's resolution: replied, resolved, ... or None)."""
        return self._read(_INTENTS, (limit,))

    def rule_hits_since(self, since: float) -> dict[str, int]:
        """Rule id -> requests it answered since `since` (the rules view's 'hits today')."""
        rows = self._read("SELECT rule_id, COUNT(*) FROM outcomes WHERE route = 'rule'"
                          " AND finished_at >= ? GROUP BY rule_id", (since,))
        return {rule_id: int(n) for rule_id, n in rows if rule_id}

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        self._flush()
        with translated(f"reading {self.path} failed"):
            conn = read_only(self.path)
            try:
                return conn.execute(sql, params).fetchall()
            finally:
                conn.close()
