"""The feed and the escalation queue as files: CSV for a spreadsheet, JSONL for a
program, filtered as the operator filtered them (the console's File menu and
`agentcore export`).

Times are ISO 8601 in UTC. A CSV cell that a spreadsheet would read as a formula
(a customer's text starting with "=", "+", "-" or "@") is written with a leading
apostrophe, OWASP's advice against CSV injection: the requests are written by
strangers, and an operator opens the file in Excel. JSONL keeps every value as is.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from agentcore.escalation_model import Escalation, EscalationState
    from agentcore.storage import AuditEntry, Storage

ExportFormat = Literal["csv", "jsonl"]
FORMATS: tuple[ExportFormat, ...] = ("csv", "jsonl")
FEED_COLUMNS = ("id", "received_at", "customer_id", "channel", "text", "status", "route",
                "intent", "rule_id", "answer", "dollars", "latency_ms", "prompt_tokens",
                "completion_tokens", "escalation_reason", "operator", "finished_at")
ESCALATION_COLUMNS = ("id", "request_id", "state", "reason", "created_at", "customer_id",
                      "text", "intent", "claimed_by", "pending_tool", "pending_status",
                      "resolved_at", "resolved_by", "resolution")
AUDIT_COLUMNS = ("at", "operator", "kind", "item", "detail")
_TIMES = frozenset({"received_at", "finished_at", "created_at", "resolved_at", "at"})
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class FeedQuery:
    """The feed's filters: a route, an intent, a status (as the feed names them), a
    search, and a time window (epoch seconds). None or empty: any."""

    route: str | None = None
    intent: str | None = None
    status: str | None = None
    search: str | None = None
    since: float | None = None
    until: float | None = None


def _iso(value: Any) -> Any:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="milliseconds")
    return value


def _timed(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) if k in _TIMES else v for k, v in row.items()}


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_rows(rows: Iterable[Mapping[str, Any]], columns: tuple[str, ...], out: IO[str],
               fmt: ExportFormat) -> int:
    """Writes `rows` (their `columns`, in order) to `out`; returns how many."""
    count = 0
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
            count += 1
    elif fmt == "jsonl":
        for row in rows:
            out.write(json.dumps({c: row.get(c) for c in columns}, ensure_ascii=False,
                                 default=str) + "\n")
            count += 1
    else:
        raise ValueError(f"unknown export format {fmt!r}: csv or jsonl")
    return count


def feed_rows(store: Storage, query: FeedQuery) -> Iterator[dict[str, Any]]:
    """The requests and outcomes `query` chooses, newest first, times in ISO 8601."""
    for row in store.requests.export_rows(
            route=query.route or None, intent=query.intent or None,
            status=query.status or None, search=query.search or None, since=query.since,
            until=query.until):
        yield _timed(row)


def escalation_row(item: Escalation) -> dict[str, Any]:
    return _timed({
        "id": item.id, "request_id": item.request_id, "state": str(item.state),
        "reason": str(item.reason), "created_at": item.created_at,
        "customer_id": item.request.customer_id, "text": item.request.text,
        "intent": item.intent, "claimed_by": item.claimed_by,
        "pending_tool": item.pending_action.tool if item.pending_action else None,
        "pending_status": str(item.pending_status) if item.pending_status else None,
        "resolved_at": item.resolved_at, "resolved_by": item.resolved_by,
        "resolution": item.resolution})


def escalation_rows(store: Storage, now: float,
                    states: Iterable[EscalationState] | None = None) -> Iterator[dict[str, Any]]:
    """The queue's items in `states` (None: all), oldest first."""
    wanted = None if states is None else frozenset(states)
    for item in store.escalations.list(now):
        if wanted is None or item.state in wanted:
            yield escalation_row(item)


def export_feed(store: Storage, query: FeedQuery, out: IO[str], fmt: ExportFormat) -> int:
    return write_rows(feed_rows(store, query), FEED_COLUMNS, out, fmt)


def export_escalations(store: Storage, now: float, states: Iterable[EscalationState] | None,
                       out: IO[str], fmt: ExportFormat) -> int:
    return write_rows(escalation_rows(store, now, states), ESCALATION_COLUMNS, out, fmt)


def audit_row(entry: AuditEntry) -> dict[str, Any]:
    return _timed({"at": entry.at, "operator": entry.operator, "kind": entry.kind,
                   "item": entry.item, "detail": entry.detail})


def export_audit(entries: Iterable[AuditEntry], out: IO[str], fmt: ExportFormat) -> int:
    """The audit listing as shown (the console's Audit view, `agentcore audit`)."""
    return write_rows((audit_row(e) for e in entries), AUDIT_COLUMNS, out, fmt)
