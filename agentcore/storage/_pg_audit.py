"""The audit log on PostgreSQL (SQLite's is `_audit`): `record` appends one entry inside
the caller's transaction, so an action and its entry (and its announcement, "audit")
commit together or not at all;
`PostgresAudit` lists them with the rule and learned versions, as SQLite's does."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from agentcore.storage._audit import MAX_DETAIL, AuditEntry
from agentcore.storage._pg_connection import pg_translated
from agentcore.storage._pg_notify import notify

Pool = ConnectionPool[psycopg.Connection[Any]]


def record(conn: psycopg.Connection[Any], at: float, operator: str, kind: str, item: str,
           detail: str = "", *, origin: str) -> None:
    """Appends an entry and announces it ("audit", as `origin`), both committed with the
    caller's transaction."""
    row = conn.execute("INSERT INTO audit_log (at, operator, kind, item, detail)"
                       " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                       (at, operator, kind, item, detail[:MAX_DETAIL])).fetchone()
    assert row is not None  # INSERT ... RETURNING returns the row it inserted
    notify(conn, "audit", [str(row[0])], origin)


# SQLite's union (`_audit._UNION`), word for word but for three things: each NULL-able
# parameter cast (PostgreSQL cannot tell an untyped NULL's type), the subquery named
# (PostgreSQL before 16 wants it), and a whole threshold written as SQLite writes it
# ("1.0" where PostgreSQL's float8::text says "1"), so the details read the same.
_THRESHOLD = ("CASE WHEN threshold = trunc(threshold) AND abs(threshold) < 1e15"
              " THEN trunc(threshold)::bigint::text || '.0' ELSE threshold::text END")
_UNION = f"""
SELECT at, operator, kind, item, detail FROM (
    SELECT at, operator, kind, item, detail, 0 AS source, id FROM audit_log
    UNION ALL
    SELECT created_at, author, 'rules', 'rule version ' || id,
           action || CASE WHEN summary != '' THEN ': ' || summary ELSE '' END, 1, id
    FROM rule_versions
    UNION ALL
    SELECT created_at, operator, 'learned', 'learned version ' || id,
           action || ' (threshold ' || {_THRESHOLD}
           || CASE WHEN enabled <> 0 THEN ', on' ELSE ', off' END || ')', 2, id
    FROM learned_models
) AS entries
WHERE (%(since)s::float8 IS NULL OR at >= %(since)s::float8)
  AND (%(until)s::float8 IS NULL OR at < %(until)s::float8)
  AND (%(operator)s::text IS NULL OR operator = %(operator)s::text)
  AND (%(kind)s::text IS NULL OR kind = %(kind)s::text)
ORDER BY at DESC, source DESC, id DESC
LIMIT %(limit)s
"""


class PostgresAudit:
    """`AuditRepository` over a pool of connections to the team's database."""

    def __init__(self, pool: Pool, where: str) -> None:
        self._pool = pool
        self._where = where  # host:port, for messages

    def entries(self, since: float | None, until: float | None, *,
                operator: str | None = None, kind: str | None = None,
                limit: int = 1000) -> list[AuditEntry]:
        """Newest first, `since` <= at < `until` (None: no bound)."""
        params: dict[str, Any] = {"since": since, "until": until, "operator": operator,
                                  "kind": kind, "limit": limit}
        with pg_translated(f"reading the audit log at {self._where} failed"), \
                self._pool.connection() as conn:
            rows = conn.execute(_UNION, params).fetchall()
        return [AuditEntry(float(r[0]), r[1], r[2], r[3], r[4]) for r in rows]

    def operators(self) -> list[str]:
        """Everyone any entry names, for the console's filter, in SQLite's byte order."""
        with pg_translated(f"reading the audit log at {self._where} failed"), \
                self._pool.connection() as conn:
            # A union's ORDER BY takes no COLLATE: the union is ordered from outside.
            rows = conn.execute(
                "SELECT operator FROM (SELECT operator FROM audit_log"
                " UNION SELECT author FROM rule_versions"
                " UNION SELECT operator FROM learned_models) AS names"
                ' ORDER BY operator COLLATE "C"').fetchall()
        return [r[0] for r in rows]
