"""The Audit workspace's listing, without Qt: who did what on the engine database
(every station's actions, not only this one's), newest first, filtered by operator,
kind of action and period; `on_changed` listeners hear after each reload.

The rows come from the storage's audit repository (`AuditRepository.entries`):
claims, releases, replies, approvals and their writes, denials, hand-backs,
resolutions elsewhere, rule and learned-tier versions, saved-reply edits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from agentcore import AUDIT_KINDS, AuditEntry, AuditRepository, ExportFormat, export_audit

# What the listing calls each kind (the filter offers them in this order).
KIND_WORDS = {"claim": "Claimed", "release": "Released", "reply": "Replied",
              "resolve": "Resolved elsewhere", "hand_back": "Handed back",
              "approve": "Approved a write", "write": "Write ended", "deny": "Denied a write",
              "rules": "Rule version", "learned": "Learned tier version",
              "saved_reply": "Saved reply"}
assert set(KIND_WORDS) == set(AUDIT_KINDS), "a kind the listing has no words for"
# Periods the filter offers: (label, seconds back from now; None: all of it).
PERIODS: tuple[tuple[str, float | None], ...] = (
    ("Last hour", 3600.0), ("Last 24 hours", 86_400.0), ("Last 7 days", 7 * 86_400.0),
    ("Last 30 days", 30 * 86_400.0), ("All time", None))
DEFAULT_PERIOD = 1
LIMIT = 2000  # the newest this many: an export of the whole log is `agentcore audit`
HEADERS = ("When", "Operator", "What", "Item", "Detail")


@dataclass(frozen=True, slots=True)
class AuditRow:
    when: str
    operator: str
    what: str
    item: str
    detail: str
    entry: AuditEntry


def row_of(entry: AuditEntry) -> AuditRow:
    when = datetime.fromtimestamp(entry.at).strftime("%Y-%m-%d %H:%M:%S")
    return AuditRow(when, entry.operator, KIND_WORDS.get(entry.kind, entry.kind),
                    entry.item, " ".join(entry.detail.split()), entry)


class AuditListing:
    """`operator`, `kind` (None: any) and `period` (an index into PERIODS) choose what
    `reload` reads; `rows` is what it read, newest first."""

    def __init__(self, repository: AuditRepository, now: Callable[[], float]) -> None:
        self._repository = repository
        self._now = now
        self.operator: str | None = None
        self.kind: str | None = None
        self.period = DEFAULT_PERIOD
        self.rows: list[AuditRow] = []
        self.operators: list[str] = []
        self.error = ""  # why the last reload read nothing, for the view to show
        self.on_changed: list[Callable[[], None]] = []

    @property
    def truncated(self) -> bool:
        return len(self.rows) >= LIMIT

    def set_filters(self, *, operator: str | None = None, kind: str | None = None,
                    period: int | None = None) -> None:
        self.operator = operator or None
        self.kind = kind or None
        if period is not None:
            if not 0 <= period < len(PERIODS):
                raise ValueError(f"no period {period}: 0 to {len(PERIODS) - 1}")
            self.period = period
        self.reload()

    def since(self) -> float | None:
        back = PERIODS[self.period][1]
        return None if back is None else self._now() - back

    def reload(self) -> None:
        from agentcore import StorageError

        try:
            entries = self._repository.entries(self.since(), None, operator=self.operator,
                                               kind=self.kind, limit=LIMIT)
            self.operators = self._repository.operators()
            self.error = ""
        except StorageError as exc:  # the database went away: say so, keep nothing stale
            entries, self.error = [], str(exc)
        self.rows = [row_of(e) for e in entries]
        for listener in list(self.on_changed):
            listener()

    def summary(self) -> str:
        """What the listing shows, in a sentence for the view's status line."""
        if self.error:
            return f"The audit log could not be read: {self.error}"
        who = f" by {self.operator}" if self.operator else ""
        what = f" ({KIND_WORDS[self.kind].lower()})" if self.kind else ""
        period = PERIODS[self.period][0].lower()
        if not self.rows:
            return f"No actions{who}{what} in the {period}" if PERIODS[self.period][1] \
                else f"No actions{who}{what} recorded"
        count = f"the newest {len(self.rows):,}" if self.truncated else f"{len(self.rows):,}"
        span = f" in the {period}" if PERIODS[self.period][1] else ""
        return f"{count} actions{who}{what}{span}, newest first"

    def export(self, out: IO[str], fmt: ExportFormat) -> int:
        """The rows shown, as CSV or JSONL (times in UTC ISO 8601)."""
        return export_audit((r.entry for r in self.rows), out, fmt)
