"""What a help-desk channel may still owe its desk: the recent outcomes of the requests
it submitted through the intake, each with the outbox keys already queued for it.

A channel enqueues its posts when it hears an outcome; a crash between the outcome
reaching the disk and the enqueue, or an outcome written by another process on the
same database (an operator's reply from a console), leaves a post owed with nothing
queued. The channel's sweep reads these rows and enqueues what is missing.

Its own read-only connection, for a worker thread: the sweep never blocks the loop
and never takes a lock from the writers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agentcore.storage._connection import read_only, translated


@dataclass(frozen=True, slots=True)
class ChannelOutcome:
    request_id: str
    status: str  # answered or escalated
    route: str  # 'human': an operator's (a reply, or closed elsewhere)
    answer: str
    resolution: str | None  # its escalation's: replied, resolved, ...; None: none
    handed_back: bool  # the request carries an operator's note: a hand-back's re-run
    queued: frozenset[str]  # the outbox keys under `<key_prefix><request id>:`


def channel_outcomes(path: Path, channel: str, key_prefix: str,
                     since: float) -> list[ChannelOutcome]:
    """Answered and escalated outcomes finished at or after `since` of the requests
    channel `channel` submitted through the intake, oldest first."""
    conn = read_only(path)
    try:
        with translated(f"reading what {channel} owes failed"):
            # The keys by range on the outbox's unique index: ';' follows ':'.
            rows = conn.execute(
                "SELECT o.request_id, o.status, o.route, o.answer, e.resolution,"
                " r.note IS NOT NULL,"
                " (SELECT group_concat(b.key, char(10)) FROM outbox b"
                "   WHERE b.key >= ?1 || o.request_id || ':'"
                "   AND b.key < ?1 || o.request_id || ';')"
                " FROM outcomes o JOIN intake_requests i ON i.request_id = o.request_id"
                " JOIN requests r ON r.id = o.request_id"
                " LEFT JOIN escalations e ON e.request_id = o.request_id"
                " WHERE o.finished_at >= ?2 AND i.channel = ?3"
                " AND o.status IN ('answered', 'escalated') ORDER BY o.finished_at",
                (key_prefix, since, channel)).fetchall()
    finally:
        conn.close()
    return [ChannelOutcome(str(rid), str(status), str(route), str(answer), resolution,
                           bool(noted), frozenset(keys.split("\n")) if keys else frozenset())
            for rid, status, route, answer, resolution, noted, keys in rows]
