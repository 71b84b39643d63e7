"""The team's saved replies on PostgreSQL (SQLite's are `_replies`).

A title is unique, and the table's UNIQUE constraint is what decides it: of two
stations giving two replies one title at once, the second's insert or update breaks
the constraint and is told False, where a check before the write could let both by.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from agentcore.models import storable
from agentcore.storage._pg_audit import record
from agentcore.storage._pg_connection import pg_translated
from agentcore.storage._pg_notify import notify
from agentcore.storage._replies import SavedReply, named

Pool = ConnectionPool[psycopg.Connection[Any]]


class PostgresReplies:
    """`ReplyRepository` over a pool of connections to the team's database."""

    def __init__(self, pool: Pool, where: str, *, origin: str) -> None:
        self._pool = pool
        self._where = where  # host:port, for messages
        self._origin = origin  # what this store's announcements carry ("replies", "audit")

    def list(self) -> list[SavedReply]:
        with pg_translated(f"reading the saved replies at {self._where} failed"), \
                self._pool.connection() as conn:
            # lower(): SQLite's COLLATE NOCASE, the order the list shows on both.
            rows = conn.execute("SELECT id, title, body, updated_by, updated_at"
                                " FROM saved_replies ORDER BY lower(title), title").fetchall()
        return [SavedReply(int(i), title, body, by, float(at)) for i, title, body, by, at in rows]

    def add(self, title: str, body: str, by: str, now: float) -> int | None:
        with pg_translated(f"saving the reply at {self._where} failed"), \
                self._pool.connection() as conn, conn.transaction():
            row = conn.execute("INSERT INTO saved_replies (title, body, updated_by, updated_at)"
                               " VALUES (%s, %s, %s, %s) ON CONFLICT (title) DO NOTHING"
                               " RETURNING id",
                               (storable(title), storable(body), by, now)).fetchone()
            if row is not None:
                record(conn, now, by, "saved_reply", named(storable(title)), "added",
                       origin=self._origin)
                notify(conn, "replies", [str(row[0])], self._origin)
        return None if row is None else int(row[0])

    def update(self, reply_id: int, title: str, body: str, by: str, now: float) -> bool:
        with pg_translated(f"saving the reply at {self._where} failed"), \
                self._pool.connection() as conn:
            try:
                with conn.transaction():
                    was = conn.execute("SELECT title FROM saved_replies WHERE id = %s"
                                       " FOR UPDATE", (reply_id,)).fetchone()
                    if was is None:
                        return False
                    conn.execute("UPDATE saved_replies SET title = %s, body = %s,"
                                 " updated_by = %s, updated_at = %s WHERE id = %s",
                                 (storable(title), storable(body), by, now, reply_id))
                    renamed = (f" (was {named(was[0])})" if was[0] != storable(title)
                               else "")
                    record(conn, now, by, "saved_reply", named(storable(title)),
                           "edited" + renamed, origin=self._origin)
                    notify(conn, "replies", [str(reply_id)], self._origin)
                    return True
            except psycopg.errors.UniqueViolation:
                return False  # another reply has the title (rolled back: nothing changed)

    def delete(self, reply_id: int, by: str, now: float) -> bool:
        with pg_translated(f"deleting the reply at {self._where} failed"), \
                self._pool.connection() as conn, conn.transaction():
            was = conn.execute("DELETE FROM saved_replies WHERE id = %s RETURNING title",
                               (reply_id,)).fetchone()
            if was is None:
                return False
            record(conn, now, by, "saved_reply", named(was[0]), "deleted", origin=self._origin)
            notify(conn, "replies", [str(reply_id)], self._origin)
            return True
