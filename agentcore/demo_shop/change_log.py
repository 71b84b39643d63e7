"""The demo shop's change log: which cache tags each committed write touched.

SQLite triggers on the shop's tables append the tags a row change touches
(`order:12345`, `customer:42`, `shop:catalog`) to `change_log`, inside the
transaction of the write. That holds for the agent's tools and for anyone else's
connection (an admin script, another process): no code path can change an order
without saying so. `ShopChangeLog` reads it: `changed` asks SQLite cheaply
(`PRAGMA data_version`, ~2 µs) whether anything was committed since the last
look, `since` returns the tags committed after a sequence number. The engine
feeds them to the answer cache (`AnswerCache.follow`), which drops what they name.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agentcore.errors import StorageError

CATALOG_TAG = "shop:catalog"  # products and categories: rows with no owner
FAQ_TAG = "shop:faq"
NAME = "shop"  # the change log's name where the cache records how far it read
DEFAULT_KEEP = 100_000  # rows kept: a reader further behind than this starts afresh

_TABLE = """
CREATE TABLE IF NOT EXISTS change_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a gap means it was pruned
    tag TEXT NOT NULL
)
"""
_PREFIX = "change_log_v1_"  # bump to replace every trigger of an older version
_OLD_PREFIXES = ("answer_cache_v1_",)  # the cache's own triggers, when L2 lived here

# The tags a row change touches, per shop table; `{r}` is OLD or NEW. Payments
# and refunds name their order's customer too, so every per-customer answer
# (always tagged with its customer) goes when anything of that customer changes.
_OWNER = "'customer:' || (SELECT customer_id FROM orders WHERE id = {r}.order_id)"
WATCHED: dict[str, tuple[str, ...]] = {
    "orders": ("'order:' || {r}.id", "'customer:' || {r}.customer_id"),
    "payments": ("'order:' || {r}.order_id", _OWNER),
    "refunds": ("'order:' || {r}.order_id", _OWNER),
    "accounts": ("'customer:' || {r}.customer_id",),
    "customers": ("'customer:' || {r}.id",),
    "products": (f"'{CATALOG_TAG}'",),
    "categories": (f"'{CATALOG_TAG}'",),
    "faq": (f"'{FAQ_TAG}'",),
}


def _trigger(table: str, event: str) -> str:
    rows = {"INSERT": ("NEW",), "DELETE": ("OLD",), "UPDATE": ("OLD", "NEW")}[event]
    exprs = [e.format(r=r) for r in rows for e in WATCHED[table]]
    union = " UNION ".join(f"SELECT {e} AS tag" for e in exprs)  # UNION: no duplicates
    return (f"AFTER {event} ON {table} BEGIN INSERT INTO change_log(tag) "
            f"SELECT tag FROM ({union}) WHERE tag IS NOT NULL; END")


def install(conn: sqlite3.Connection) -> None:
    """Creates the log and its triggers if missing, drops those of older versions (and
    the answer cache's tables and triggers of the releases that kept L2 here).

    Idempotent, and safe against another process doing the same at once."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_TABLE)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        wanted = {f"{_PREFIX}{table}_{event.lower()}": _trigger(table, event)
                  for table in WATCHED if table in tables
                  for event in ("INSERT", "UPDATE", "DELETE")}
        present = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='trigger'")}
        for name in present - wanted.keys():
            if name.startswith((_PREFIX, *_OLD_PREFIXES)):
                conn.execute(f'DROP TRIGGER "{name}"')
        for name, body in wanted.items():
            conn.execute(f'CREATE TRIGGER IF NOT EXISTS "{name}" {body}')
        for old in ("answer_cache_tags", "answer_cache", "answer_cache_log"):
            conn.execute(f"DROP TABLE IF EXISTS {old}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class ShopChangeLog:
    """Reads the shop's change log on a connection of its own (whose data_version
    moves when any other connection, the Shop's included, commits)."""

    name = NAME

    def __init__(self, path: Path, keep: int = DEFAULT_KEEP) -> None:
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                         timeout=5.0)
            install(self._conn)
            self._conn.execute("DELETE FROM change_log WHERE seq <= "
                               "(SELECT max(seq) FROM change_log) - ?", (keep,))
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the shop's change log in {path}: {exc}") from exc
        self._version: int | None = None
        # The cache asks `changed` at every lookup: a cursor of its own saves the ~0.3 µs
        # a new one costs (of a ~2 µs call). Used from one thread (the event loop's).
        self._version_reader = self._conn.cursor()

    def close(self) -> None:
        self._conn.close()

    def changed(self) -> bool:
        """Whether anything may have been committed since the last call (True at first)."""
        try:
            version: int = self._version_reader.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise StorageError(f"shop change log: {exc}") from exc
        if version == self._version:
            return False
        self._version = version
        return True

    def head(self) -> int:
        """The newest sequence number (0: nothing logged yet)."""
        try:
            return int(self._conn.execute(
                "SELECT COALESCE(max(seq), 0) FROM change_log").fetchone()[0])
        except sqlite3.Error as exc:
            raise StorageError(f"shop change log: {exc}") from exc

    def since(self, seq: int, limit: int) -> list[tuple[int, str]]:
        """(seq, tag) committed after `seq`, oldest first, at most `limit` of them."""
        try:
            return [(int(s), str(t)) for s, t in self._conn.execute(
                "SELECT seq, tag FROM change_log WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit))]
        except sqlite3.Error as exc:
            raise StorageError(f"shop change log: {exc}") from exc
