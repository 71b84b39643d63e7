"""One transaction helper for every SQLite writer in the core."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def transaction(conn: sqlite3.Connection, mode: str = "") -> Iterator[sqlite3.Connection]:
    """BEGIN [mode] ... COMMIT, or ROLLBACK on any exception (which is re-raised).

    `mode` "IMMEDIATE" takes the write lock at once, for read-then-write
    sequences that must not interleave with another writer."""
    conn.execute(f"BEGIN {mode}".rstrip())
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
