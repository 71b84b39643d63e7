"""L2: answers in the shop's own SQLite database, dropped by triggers on the shop data.

The tables live beside the shop's so that invalidation can be part of the
write itself: a trigger on every shop table appends the tags a row change
touches (`order:12345`, `customer:42`) to `answer_cache_log`, and a trigger on
that log deletes the tagged answers, all inside the transaction of the write.
That holds for the agent's tools and for anyone else's connection (an admin
script, another process): no code path can change an order and leave its
cached answer behind. The log also tells each process's L1 which tags to drop.

This tier has its own connection: `PRAGMA data_version` on it moves whenever
any other connection (the Shop's included) commits, so the L1 knows when to read
the log. Every sqlite3 error leaves here as a StorageError.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from agentcore.cache._model import ALL_TAG, CATALOG_TAG, FAQ_TAG, CachedAnswer
from agentcore.errors import StorageError

log = logging.getLogger("agentcore.cache")

TABLES = """
CREATE TABLE IF NOT EXISTS answer_cache (
    key TEXT PRIMARY KEY,            -- 's:<text>' shared, 'c:<customer>:<text>' per customer
    policy TEXT NOT NULL,
    intent TEXT,
    value TEXT NOT NULL,             -- JSON: answer, rule_id, route, customer_id
    tags TEXT NOT NULL,              -- JSON list, as answer_cache_tags holds them
    stored_at REAL NOT NULL,         -- wall-clock seconds (TTL must survive a restart)
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS answer_cache_shared_by_intent ON answer_cache(intent, stored_at)
    WHERE policy = 'shared';
CREATE INDEX IF NOT EXISTS answer_cache_by_expiry ON answer_cache(expires_at);
CREATE TABLE IF NOT EXISTS answer_cache_tags (
    tag TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (tag, key)
) WITHOUT ROWID;
-- AUTOINCREMENT: sequence numbers are never reused, so a reader that finds
-- one missing knows the log was pruned past it.
CREATE TABLE IF NOT EXISTS answer_cache_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tag TEXT NOT NULL
);
"""

_PREFIX = "answer_cache_v1_"  # bump to replace every trigger of an older version

_CACHE_TRIGGERS = {
    "untag": "AFTER DELETE ON answer_cache BEGIN "
             "DELETE FROM answer_cache_tags WHERE key = OLD.key AND tag IN "
             "(SELECT value FROM json_each(OLD.tags)); END",
    "drop": f"AFTER INSERT ON answer_cache_log WHEN NEW.tag <> '{ALL_TAG}' BEGIN "
            "DELETE FROM answer_cache WHERE key IN "
            "(SELECT key FROM answer_cache_tags WHERE tag = NEW.tag); END",
    "clear": f"AFTER INSERT ON answer_cache_log WHEN NEW.tag = '{ALL_TAG}' BEGIN "
             "DELETE FROM answer_cache_tags; DELETE FROM answer_cache; END",
}

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


def _data_trigger(table: str, event: str) -> str:
    rows = {"INSERT": ("NEW",), "DELETE": ("OLD",), "UPDATE": ("OLD", "NEW")}[event]
    exprs = [e.format(r=r) for r in rows for e in WATCHED[table]]
    union = " UNION ".join(f"SELECT {e} AS tag" for e in exprs)  # UNION: no duplicates
    return (f"AFTER {event} ON {table} BEGIN INSERT INTO answer_cache_log(tag) "
            f"SELECT tag FROM ({union}) WHERE tag IS NOT NULL; END")


def _triggers(existing_tables: set[str]) -> dict[str, str]:
    triggers = {_PREFIX + name: body for name, body in _CACHE_TRIGGERS.items()}
    for table in WATCHED:
        if table in existing_tables:
            for event in ("INSERT", "UPDATE", "DELETE"):
                triggers[f"{_PREFIX}{table}_{event.lower()}"] = _data_trigger(table, event)
    return triggers


def install(conn: sqlite3.Connection) -> None:
    """Creates the tables and triggers if missing and drops triggers of older versions.

    Idempotent, and safe against another process doing the same at once (one
    write transaction)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        # One statement at a time: executescript would COMMIT the open transaction.
        for statement in TABLES.split(";"):  # the DDL holds no ';' in strings or comments
            if statement.strip():
                conn.execute(statement)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        wanted = _triggers(tables)
        present = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='trigger' AND name LIKE 'answer_cache%'")}
        for name in present - wanted.keys():
            conn.execute(f'DROP TRIGGER "{name}"')
        for name, body in wanted.items():
            conn.execute(f'CREATE TRIGGER IF NOT EXISTS "{name}" {body}')
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class SQLiteTier:
    def __init__(self, path: Path, log_keep: int) -> None:
        self.log_keep = log_keep
        try:
            # timeout: a store waits for another writer's lock rather than fail at once
            self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                        timeout=5.0)
            # As the shop's own connection: WAL (already set in the file), and commits
            # that wait for no fsync; a crash may lose the last cached answers, no more.
            self.conn.execute("PRAGMA synchronous=NORMAL")
            install(self.conn)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the answer cache in {path}: {exc}") from exc

    def close(self) -> None:
        self.conn.close()

    def data_version(self) -> int:
        try:
            return int(self.conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as exc:
            raise StorageError(f"answer cache: {exc}") from exc

    def get(self, key: str, now: float) -> tuple[CachedAnswer, float] | None:
        """The live entry under `key` and when it expires (wall clock)."""
        try:
            row = self.conn.execute(
                "SELECT value, tags, stored_at, expires_at FROM answer_cache WHERE key = ?",
                (key,)).fetchone()
        except sqlite3.Error as exc:
            raise StorageError(f"answer cache: {exc}") from exc
        if row is None or row[3] <= now:
            return None
        return CachedAnswer.from_json(json.loads(row[0]), tuple(json.loads(row[1])), row[2]), row[3]

    def latest_shared(self, intent: str, now: float) -> CachedAnswer | None:
        try:
            row = self.conn.execute(
                "SELECT value, tags, stored_at FROM answer_cache WHERE intent = ? "
                "AND policy = 'shared' AND expires_at > ? ORDER BY stored_at DESC LIMIT 1",
                (intent, now)).fetchone()
        except sqlite3.Error as exc:
            raise StorageError(f"answer cache: {exc}") from exc
        if row is None:
            return None
        return CachedAnswer.from_json(json.loads(row[0]), tuple(json.loads(row[1])), row[2])

    def put(self, key: str, cached: CachedAnswer, expires_at: float,
            since: int | None) -> bool:
        """Stores an entry; False when data it depends on changed after log position
        `since` (the answer may be stale, so it is not kept)."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")  # no write can slip between the check and the put
            try:
                if since is not None and self._changed_since(since, cached.tags):
                    conn.execute("ROLLBACK")
                    return False
                conn.execute("DELETE FROM answer_cache WHERE key = ?", (key,))  # and its tags
                conn.execute(
                    "INSERT INTO answer_cache VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key, cached.policy, cached.intent, json.dumps(cached.as_json()),
                     json.dumps(list(cached.tags)), cached.stored_at, expires_at))
                conn.executemany("INSERT OR IGNORE INTO answer_cache_tags VALUES (?, ?)",
                                 [(tag, key) for tag in cached.tags])
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StorageError(f"answer cache: {exc}") from exc
        return True

    def _changed_since(self, since: int, tags: tuple[str, ...]) -> bool:
        floor = self.conn.execute("SELECT min(seq) FROM answer_cache_log").fetchone()[0]
        if floor is not None and floor > since + 1:
            return True  # pruned past `since`: nothing can be ruled out
        marks = ",".join("?" * (len(tags) + 1))
        row = self.conn.execute(
            f"SELECT 1 FROM answer_cache_log WHERE seq > ? AND tag IN ({marks}) LIMIT 1",
            (since, ALL_TAG, *tags)).fetchone()
        return row is not None

    def append_log(self, tags: list[str]) -> None:
        """Logs `tags` as changed; the log's trigger drops their entries in this transaction."""
        try:
            with_tx(self.conn, lambda: self.conn.executemany(
                "INSERT INTO answer_cache_log(tag) VALUES (?)", [(t,) for t in tags]))
        except sqlite3.Error as exc:
            raise StorageError(f"answer cache: {exc}") from exc

    def log_head(self) -> int:
        try:
            row = self.conn.execute("SELECT max(seq) FROM answer_cache_log").fetchone()
        except sqlite3.Error as exc:
            raise StorageError(f"answer cache: {exc}") from exc
        return row[0] or 0

    def log_since(self, seq: int, limit: int) -> list[tuple[int, str]]:
        try:
            return self.conn.execute(
                "SELECT seq, tag FROM answer_cache_log WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit)).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"answer cache: {exc}") from exc

    def count(self) -> int:
        try:
            return int(self.conn.execute("SELECT count(*) FROM answer_cache").fetchone()[0])
        except sqlite3.Error as exc:
            raise StorageError(f"answer cache: {exc}") from exc

    def maintain(self, now: float) -> None:
        """Deletes expired entries and log rows older than the newest `log_keep`."""
        try:
            with_tx(self.conn, lambda: (
                self.conn.execute("DELETE FROM answer_cache WHERE expires_at <= ?", (now,)),
                self.conn.execute(
                    "DELETE FROM answer_cache_log WHERE seq <= "
                    "(SELECT max(seq) FROM answer_cache_log) - ?", (self.log_keep,))))
        except sqlite3.Error as exc:
            raise StorageError(f"answer cache: {exc}") from exc


def with_tx(conn: sqlite3.Connection, work: Callable[[], object]) -> None:
    """Runs `work()` in one write transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        work()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
