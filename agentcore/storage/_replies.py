"""Saved replies (macros) the team shares: a title, a body with placeholders
(`{customer_name}`, `{order_id}`), who last changed it and when. In the engine
database, so every console on it sees the same list."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from agentcore.models import storable
from agentcore.storage._audit import record
from agentcore.storage._connection import transaction, translated


@dataclass(frozen=True, slots=True)
class SavedReply:
    id: int
    title: str
    body: str
    updated_by: str
    updated_at: float


class SQLiteReplies:
    """`ReplyRepository` over the engine database. A title is unique (the list shows
    titles); `add` and `update` return False when another reply has it already."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def list(self) -> list[SavedReply]:
        with translated("reading the saved replies failed"):
            rows = self._conn.execute(
                "SELECT id, title, body, updated_by, updated_at FROM saved_replies"
                " ORDER BY title COLLATE NOCASE").fetchall()
        return [SavedReply(*row) for row in rows]

    def add(self, title: str, body: str, by: str, now: float) -> int | None:
        with translated("saving the reply failed"), transaction(self._conn, "IMMEDIATE") as c:
            cur = c.execute("INSERT OR IGNORE INTO saved_replies (title, body, updated_by,"
                            " updated_at) VALUES (?,?,?,?)",
                            (storable(title), storable(body), by, now))
            if cur.rowcount != 1:
                return None
            record(c, now, by, "saved_reply", named(storable(title)), "added")
            return cur.lastrowid

    def update(self, reply_id: int, title: str, body: str, by: str, now: float) -> bool:
        with translated("saving the reply failed"), transaction(self._conn, "IMMEDIATE") as c:
            taken = c.execute("SELECT 1 FROM saved_replies WHERE title = ? AND id != ?",
                              (storable(title), reply_id)).fetchone()
            if taken:
                return False
            was = c.execute("SELECT title FROM saved_replies WHERE id = ?",
                            (reply_id,)).fetchone()
            if was is None or c.execute(
                    "UPDATE saved_replies SET title = ?, body = ?, updated_by = ?,"
                    " updated_at = ? WHERE id = ?",
                    (storable(title), storable(body), by, now, reply_id)).rowcount != 1:
                return False
            renamed = f" (was {named(was[0])})" if was[0] != storable(title) else ""
            record(c, now, by, "saved_reply", named(title), "edited" + renamed)
            return True

    def delete(self, reply_id: int, by: str, now: float) -> bool:
        with translated("deleting the reply failed"), transaction(self._conn, "IMMEDIATE") as c:
            was = c.execute("SELECT title FROM saved_replies WHERE id = ?",
                            (reply_id,)).fetchone()
            if was is None:
                return False
            c.execute("DELETE FROM saved_replies WHERE id = ?", (reply_id,))
            record(c, now, by, "saved_reply", named(was[0]), "deleted")
            return True


def named(title: str) -> str:
    return f"saved reply {title!r}"
