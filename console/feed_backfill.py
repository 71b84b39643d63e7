"""The feed's recent rows read back from the engine database: what an attached station
shows when it opens, and again once its live link to the shared database is back
(what finished meanwhile was never announced to it).

The read is bounded twice, by age and by count, and runs in a worker thread: over a
network a few hundred rows take longer than a frame. Rows come back as the feed
shows live ones (`Outcome`s), without their spans: the detail panel shows what the
store kept of them.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from agentcore import EscalationReason, Outcome, Request, RequestRepository, Route, Status, Usage

RECENT_S = 3600.0  # the last hour: what the charts' longest window shows too
RECENT_ROWS = 500  # a screenful many times over, read in well under a second


def outcome_of(row: dict[str, Any]) -> Outcome | None:
    """One `export_rows` row as the feed's outcome; None for a request not finished yet
    (its outcome arrives live, or with the next read)."""
    if row["route"] is None:
        return None
    reason = row["escalation_reason"]
    request = Request(text=row["text"], customer_id=row["customer_id"],
                      channel=row["channel"], id=row["id"], received_at=row["received_at"])
    return Outcome(
        request=request, route=Route(row["route"]), status=Status(row["status"]),
        answer=row["answer"] or "", intent=row["intent"], rule_id=row["rule_id"],
        usage=Usage(int(row["prompt_tokens"] or 0), int(row["completion_tokens"] or 0),
                    float(row["dollars"] or 0.0)),
        escalation_reason=EscalationReason(reason) if reason else None,
        latency_ms=float(row["latency_ms"] or 0.0))


def read_recent(requests: RequestRepository, *, now: float, seconds: float = RECENT_S,
                limit: int = RECENT_ROWS) -> list[Outcome]:
    """The newest finished requests of the last `seconds`, at most `limit`, newest
    first. Blocking: call it off the GUI thread (`recent`)."""
    rows = requests.export_rows(since=now - seconds)
    finished = (o for o in map(outcome_of, rows) if o is not None)
    try:
        return list(itertools.islice(finished, limit))
    finally:
        close = getattr(rows, "close", None)  # the generator's cursor, at once
        if close is not None:
            close()


async def recent(requests: RequestRepository, *, now: float, seconds: float = RECENT_S,
                 limit: int = RECENT_ROWS) -> list[Outcome]:
    """`read_recent` in a worker thread."""
    return await asyncio.to_thread(read_recent, requests, now=now, seconds=seconds,
                                   limit=limit)
