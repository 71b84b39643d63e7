"""Who did what, and when: one listing over what the tables keep.

Rule versions (`rule_versions.author`) and the learned tier's versions
(`learned_models.operator`) are kept for ever already and are read where they are.
What other tables keep only as their state now (a claim, a release, a denial, a
saved reply edited or deleted) is appended to `audit_log` by `record`, in the
action's own transaction: an action that happened has its row, one that was refused
or rolled back has none.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from agentcore.storage._connection import translated

# What an entry can say was done; the console's filter offers these.
AUDIT_KINDS = ("claim", "release", "reply", "resolve", "hand_back", "approve", "write",
               "deny", "rules", "learned", "saved_reply")
MAX_DETAIL = 500  # a note or an override's reason is kept whole in its own table


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    operator: str
    kind: str  # one of AUDIT_KINDS
    item: str  # what it was done to: "escalation 12", "rule version 4"
    detail: str


def record(conn: sqlite3.Connection, at: float, operator: str, kind: str, item: str,
           detail: str = "") -> None:
    """Appends one entry on `conn`, inside the caller's transaction."""
    conn.execute("INSERT INTO audit_log (at, operator, kind, item, detail)"
                 " VALUES (?, ?, ?, ?, ?)", (at, operator, kind, item, detail[:MAX_DETAIL]))


# Each source as (at, operator, kind, item, detail, source, id); source and id order
# entries of one instant as they happened. No SQLite-only function: PostgreSQL's
# repository (`_pg_audit`) runs the same union, its NULL-able parameters cast.
_UNION = """
SELECT at, operator, kind, item, detail FROM (
    SELECT at, operator, kind, item, detail, 0 AS source, id FROM audit_log
    UNION ALL
    SELECT created_at, author, 'rules', 'rule version ' || id,
           action || CASE WHEN summary != '' THEN ': ' || summary ELSE '' END, 1, id
    FROM rule_versions
    UNION ALL
    SELECT created_at, operator, 'learned', 'learned version ' || id,
           action || ' (threshold ' || CAST(threshold AS TEXT)
           || CASE WHEN enabled <> 0 THEN ', on' ELSE ', off' END || ')', 2, id
    FROM learned_models
)
WHERE (:since IS NULL OR at >= :since) AND (:until IS NULL OR at < :until)
  AND (:operator IS NULL OR operator = :operator) AND (:kind IS NULL OR kind = :kind)
ORDER BY at DESC, source DESC, id DESC
LIMIT :limit
"""


class SQLiteAudit:
    """`AuditRepository` over the engine database."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def entries(self, since: float | None, until: float | None, *,
                operator: str | None = None, kind: str | None = None,
                limit: int = 1000) -> list[AuditEntry]:
        """Newest first, `since` <= at < `until` (None: no bound)."""
        params: dict[str, Any] = {"since": since, "until": until, "operator": operator,
                                  "kind": kind, "limit": limit}
        with translated("reading the audit log failed"):
            rows = self._conn.execute(_UNION, params).fetchall()
        return [AuditEntry(float(r[0]), r[1], r[2], r[3], r[4]) for r in rows]

    def operators(self) -> list[str]:
        """Everyone any entry names, for the console's filter."""
        with translated("reading the audit log failed"):
            rows = self._conn.execute(
                "SELECT operator FROM audit_log UNION SELECT author FROM rule_versions"
                " UNION SELECT operator FROM learned_models ORDER BY 1").fetchall()
        return [r[0] for r in rows]
