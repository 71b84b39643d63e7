"""Audit entries on PostgreSQL (SQLite's are `_audit`): one row appended inside the
caller's transaction, so an action and its entry commit together or not at all."""

from __future__ import annotations

from typing import Any

import psycopg

from agentcore.storage._audit import MAX_DETAIL


def record(conn: psycopg.Connection[Any], at: float, operator: str, kind: str, item: str,
           detail: str = "") -> None:
    conn.execute("INSERT INTO audit_log (at, operator, kind, item, detail)"
                 " VALUES (%s, %s, %s, %s, %s)", (at, operator, kind, item, detail[:MAX_DETAIL]))
