"""The answer cache's L2 (agentcore.cache): entries, their tags, and the log of
invalidated tags every process's L1 catches up from.

A trigger on the log deletes the tagged entries in the invalidating transaction,
so no reader sees an entry after its invalidation committed. Every process's L1
reads the log past the last row it applied at each lookup (`log_since`), on a
connection of this repository's own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentcore.storage._connection import connect, transaction, translated
from agentcore.storage._schema import ALL_TAG, migrate

_TRANSLATED = translated("answer cache")  # one instance: every lookup passes through it


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    key: str
    policy: str
    intent: str | None
    value: dict[str, Any]  # the cache's own fields: answer, rule_id, route, customer_id
    tags: tuple[str, ...]
    stored_at: float
    expires_at: float


class SQLiteAnswerCache:
    """`AnswerCacheRepository` over the engine database."""

    def __init__(self, path: Path) -> None:
        self._conn = connect(path)
        try:
            with translated(f"cannot open the answer cache in {path}"):
                migrate(self._conn)  # a no-op once the file is up to date
        except BaseException:
            self._conn.close()
            raise
        # The read every lookup makes (`log_since`) on a cursor of its own: a new cursor
        # per call is ~0.3 µs of a ~2 µs read. Used from one thread (the event loop's).
        self._log_reader = self._conn.cursor()

    def close(self) -> None:
        self._conn.close()

    def get(self, key: str, now: float) -> StoredAnswer | None:
        """The live entry under `key`."""
        with _TRANSLATED:
            row = self._conn.execute(
                "SELECT key, policy, intent, value, tags, stored_at, expires_at"
                " FROM answer_cache WHERE key = ? AND expires_at > ?", (key, now)).fetchone()
        return None if row is None else _stored(row)

    def latest_shared(self, intent: str, now: float) -> StoredAnswer | None:
        with _TRANSLATED:
            row = self._conn.execute(
                "SELECT key, policy, intent, value, tags, stored_at, expires_at"
                " FROM answer_cache WHERE intent = ? AND policy = 'shared' AND expires_at > ?"
                " ORDER BY stored_at DESC LIMIT 1", (intent, now)).fetchone()
        return None if row is None else _stored(row)

    def put(self, entry: StoredAnswer, since: int | None) -> bool:
        """Stores an entry; False when a tag of it was invalidated after log position
        `since` (the answer may be stale, so it is not kept)."""
        conn = self._conn
        with _TRANSLATED, transaction(conn, "IMMEDIATE"):
            # IMMEDIATE: no invalidation can slip between the check and the put.
            if since is not None and self._changed_since(since, entry.tags):
                return False
            conn.execute("DELETE FROM answer_cache WHERE key = ?", (entry.key,))  # and its tags
            conn.execute("INSERT INTO answer_cache VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (entry.key, entry.policy, entry.intent, json.dumps(entry.value),
                          json.dumps(list(entry.tags)), entry.stored_at, entry.expires_at))
            conn.executemany("INSERT OR IGNORE INTO answer_cache_tags VALUES (?, ?)",
                             [(tag, entry.key) for tag in entry.tags])
        return True

    def _changed_since(self, since: int, tags: Sequence[str]) -> bool:
        floor = self._conn.execute("SELECT min(seq) FROM answer_cache_log").fetchone()[0]
        if floor is not None and floor > since + 1:
            return True  # pruned past `since`: nothing can be ruled out
        marks = ",".join("?" * (len(tags) + 1))
        return self._conn.execute(
            f"SELECT 1 FROM answer_cache_log WHERE seq > ? AND tag IN ({marks}) LIMIT 1",
            (since, ALL_TAG, *tags)).fetchone() is not None

    def invalidate(self, tags: Sequence[str], *, source: tuple[str, int] | None = None) -> None:
        """Logs `tags` as changed (their entries go in this transaction); `source` (a
        change log's name and the position read up to) is recorded with them."""
        conn = self._conn
        with _TRANSLATED, transaction(conn, "IMMEDIATE"):
            conn.executemany("INSERT INTO answer_cache_log(tag) VALUES (?)",
                             [(t,) for t in tags])
            if source is not None:
                self._set_position(*source)

    def source_position(self, name: str) -> int | None:
        """How far the cache has applied the change log `name`; None: never read."""
        with _TRANSLATED:
            row = self._conn.execute("SELECT seq FROM answer_cache_sources WHERE name = ?",
                                     (name,)).fetchone()
        return None if row is None else int(row[0])

    def set_source_position(self, name: str, seq: int) -> None:
        with _TRANSLATED, transaction(self._conn, "IMMEDIATE"):
            self._set_position(name, seq)

    def _set_position(self, name: str, seq: int) -> None:
        self._conn.execute("INSERT INTO answer_cache_sources VALUES (?, ?) ON CONFLICT (name)"
                           " DO UPDATE SET seq = excluded.seq", (name, seq))

    def log_head(self) -> int:
        with _TRANSLATED:
            return int(self._conn.execute(
                "SELECT COALESCE(max(seq), 0) FROM answer_cache_log").fetchone()[0])

    def log_since(self, seq: int, limit: int) -> list[tuple[int, str]]:
        """(seq, tag) logged after `seq`, oldest first, at most `limit` of them."""
        with _TRANSLATED:  # fetchall: the columns are INTEGER and TEXT NOT NULL already
            return self._log_reader.execute(
                "SELECT seq, tag FROM answer_cache_log WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit)).fetchall()

    def log_and_entry(self, seq: int, limit: int, keys: Sequence[str],
                      now: float) -> tuple[list[tuple[int, str]], StoredAnswer | None]:
        """`log_since(seq, limit)`, then the live entry under the first of `keys` that has
        one: an L1 miss's catch-up and L2 read. The entry is read after the log, so an
        invalidation the log rows miss committed later and its entry is already gone."""
        rows = self.log_since(seq, limit)
        for key in keys:
            entry = self.get(key, now)
            if entry is not None:
                return rows, entry
        return rows, None

    def count(self) -> int:
        with _TRANSLATED:
            return int(self._conn.execute("SELECT count(*) FROM answer_cache").fetchone()[0])

    def keys(self) -> list[str]:
        """Every key L2 holds, sorted (what tests and tools look at)."""
        with _TRANSLATED:
            return [k for (k,) in self._conn.execute("SELECT key FROM answer_cache ORDER BY key")]

    def maintain(self, now: float, log_keep: int) -> None:
        """Deletes expired entries and log rows older than the newest `log_keep`."""
        conn = self._conn
        with _TRANSLATED, transaction(conn, "IMMEDIATE"):
            conn.execute("DELETE FROM answer_cache WHERE expires_at <= ?", (now,))
            conn.execute("DELETE FROM answer_cache_log WHERE seq <= "
                         "(SELECT max(seq) FROM answer_cache_log) - ?", (log_keep,))


def _stored(row: tuple[Any, ...]) -> StoredAnswer:
    key, policy, intent, value, tags, stored_at, expires_at = row
    return StoredAnswer(key, policy, intent, json.loads(value), tuple(json.loads(tags)),
                        float(stored_at), float(expires_at))
