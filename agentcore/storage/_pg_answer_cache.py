"""The answer cache's L2 on PostgreSQL (SQLite's is `_answer_cache`): entries, their
tags, and the invalidation log every process's L1 catches up from.

Two promises rest on writers taking turns, which SQLite's one write lock gives for
free and PostgreSQL does not. Every write here (a put, an invalidation, the purge)
therefore first takes one transaction-scoped advisory lock, held to its commit:

- The log's seq comes from the table's identity, and an identity hands numbers out
  at insert, not at commit: two invalidations at once could take 10 and 11 and commit
  11 first, and a reader catching up (`log_since`) would pass 10 before it showed,
  never to drop what it names. Under the lock the numbers are taken in turn and
  committed in turn, so a row past a reader's position is visible exactly once its
  invalidation committed, as L1's catch-up assumes (agentcore.cache).
- `put(entry, since)` checks the log, then writes the entry. An invalidation in
  between would be missed by the check, and its trigger would not see the entry yet
  to delete it: a stale answer kept. Under the lock either the invalidation committed
  first (the check sees it, the put is refused) or the put did (the trigger deletes
  the entry).

The trigger (`_pg_schema.V1_TRIGGERS`) deletes the tagged entries in the invalidating
transaction, so no reader sees an entry after its invalidation committed. A rolled-
back invalidation leaves a gap in seq that SQLite's would not; a reader takes a gap
for a pruned log and empties its L1 once, which loses answers, never freshness.

The repository works on the store's pool (a station's few connections are shared by
all its parts), so `close` leaves the pool to the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from agentcore.storage._answer_cache import StoredAnswer, _stored
from agentcore.storage._pg_connection import pg_translated
from agentcore.storage._pg_notify import notify
from agentcore.storage._schema import ALL_TAG

Pool = ConnectionPool[psycopg.Connection[Any]]

# pg_advisory_xact_lock's key for writes of the answer cache ("anscache").
CACHE_LOCK = 0x616E_7363_6163_6865

_ENTRY = "key, policy, intent, value, tags, stored_at, expires_at"
_LOG_SINCE = "SELECT seq, tag FROM answer_cache_log WHERE seq > %s ORDER BY seq LIMIT %s"
# The log's rows (seq, tag) first, then the entries (a NULL seq), in one result.
_LOG_AND_ENTRIES = f"""
SELECT * FROM ({_LOG_SINCE.replace("seq, tag", "seq, tag, NULL, NULL, NULL, NULL, NULL,"
                                               " NULL::float8, NULL::float8")}) AS log
UNION ALL
SELECT NULL, NULL, {_ENTRY} FROM answer_cache WHERE key = ANY(%s) AND expires_at > %s
"""


class PostgresAnswerCache:
    """`AnswerCacheRepository` over a pool of connections to the team's database."""

    def __init__(self, pool: Pool, where: str, *, origin: str) -> None:
        self._pool = pool
        self._what = f"answer cache at {where}"
        self._origin = origin  # what this store's announcements carry

    def close(self) -> None:
        """Nothing of its own to close: the pool is the store's."""

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with pg_translated(self._what), self._pool.connection() as conn:
            return conn.execute(sql, params).fetchall()

    @contextmanager
    def _writing(self) -> Iterator[psycopg.Connection[Any]]:
        """A transaction holding the cache's write lock until it commits. Its statements
        are pipelined: they go out together and only a result read waits, so a put is
        four round trips (BEGIN, the lock and the check, the writes, COMMIT), not eight."""
        with pg_translated(self._what), self._pool.connection() as conn, conn.transaction(), \
                conn.pipeline():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (CACHE_LOCK,))
            yield conn

    def get(self, key: str, now: float) -> StoredAnswer | None:
        """The live entry under `key`."""
        rows = self._rows(f"SELECT {_ENTRY} FROM answer_cache WHERE key = %s"
                          " AND expires_at > %s", (key, now))
        return _stored(rows[0]) if rows else None

    def latest_shared(self, intent: str, now: float) -> StoredAnswer | None:
        rows = self._rows(f"SELECT {_ENTRY} FROM answer_cache WHERE intent = %s"
                          " AND policy = 'shared' AND expires_at > %s"
                          " ORDER BY stored_at DESC LIMIT 1", (intent, now))
        return _stored(rows[0]) if rows else None

    def put(self, entry: StoredAnswer, since: int | None) -> bool:
        """Stores an entry; False when a tag of it was invalidated after log position
        `since` (the answer may be stale, so it is not kept)."""
        with self._writing() as conn:
            # After the lock: READ COMMITTED reads each statement afresh, so this sees
            # every invalidation committed before the lock was had.
            if since is not None and _changed_since(conn, since, entry.tags):
                return False
            conn.execute("DELETE FROM answer_cache WHERE key = %s", (entry.key,))  # and tags
            conn.execute(f"INSERT INTO answer_cache ({_ENTRY}) VALUES (%s, %s, %s, %s, %s, %s,"
                         " %s)", (entry.key, entry.policy, entry.intent, json.dumps(entry.value),
                                  json.dumps(list(entry.tags)), entry.stored_at,
                                  entry.expires_at))
            # One statement, not executemany: that would wait on its results.
            conn.execute("INSERT INTO answer_cache_tags (tag, key) SELECT unnest(%s::text[]), %s"
                         " ON CONFLICT DO NOTHING", (list(entry.tags), entry.key))
        return True

    def invalidate(self, tags: Sequence[str], *, source: tuple[str, int] | None = None) -> None:
        """Logs `tags` as changed (their entries go in this transaction) and announces
        their log seqs ("cache"); `source` (a change log's name and the position read up
        to) is recorded with them."""
        with self._writing() as conn:
            seqs = conn.execute("INSERT INTO answer_cache_log (tag)"
                                " SELECT unnest(%s::text[]) RETURNING seq",
                                (list(tags),)).fetchall()
            # Another process's L1 can catch up from the log at once, not at its next poll.
            if seqs:
                notify(conn, "cache", [str(s) for (s,) in seqs], self._origin)
            if source is not None:
                _set_position(conn, *source)

    def source_position(self, name: str) -> int | None:
        """How far the cache has applied the change log `name`; None: never read."""
        rows = self._rows("SELECT seq FROM answer_cache_sources WHERE name = %s", (name,))
        return int(rows[0][0]) if rows else None

    def set_source_position(self, name: str, seq: int) -> None:
        with pg_translated(self._what), self._pool.connection() as conn:
            _set_position(conn, name, seq)

    def log_head(self) -> int:
        return int(self._rows("SELECT COALESCE(max(seq), 0) FROM answer_cache_log")[0][0])

    def log_since(self, seq: int, limit: int) -> list[tuple[int, str]]:
        """(seq, tag) logged after `seq`, oldest first, at most `limit` of them."""
        return [(int(s), tag) for s, tag in self._rows(_LOG_SINCE, (seq, limit))]

    def log_and_entry(self, seq: int, limit: int, keys: Sequence[str],
                      now: float) -> tuple[list[tuple[int, str]], StoredAnswer | None]:
        """`log_since(seq, limit)` and the live entry under the first of `keys` that has
        one, in one statement (an L1 miss's catch-up and L2 read: one round trip, not
        two or three). One snapshot: an invalidation the log rows miss committed later,
        and its trigger takes the entry then."""
        rows = self._rows(_LOG_AND_ENTRIES, (seq, limit, list(keys), now))
        log = sorted((int(s), tag) for s, tag, *_ in rows if s is not None)
        found = {row[2]: row[2:] for row in rows if row[0] is None}
        entry = next((found[key] for key in keys if key in found), None)
        return log, None if entry is None else _stored(entry)

    def count(self) -> int:
        return int(self._rows("SELECT count(*) FROM answer_cache")[0][0])

    def keys(self) -> list[str]:
        """Every key L2 holds, sorted (what tests and tools look at)."""
        # COLLATE "C": byte order, as SQLite sorts, whatever the database's locale.
        return [k for (k,) in self._rows('SELECT key FROM answer_cache ORDER BY key COLLATE "C"')]

    def maintain(self, now: float, log_keep: int) -> None:
        """Deletes expired entries and log rows older than the newest `log_keep`."""
        with self._writing() as conn:
            conn.execute("DELETE FROM answer_cache WHERE expires_at <= %s", (now,))
            conn.execute("DELETE FROM answer_cache_log WHERE seq <= "
                         "(SELECT max(seq) FROM answer_cache_log) - %s", (log_keep,))


def _changed_since(conn: psycopg.Connection[Any], since: int, tags: Sequence[str]) -> bool:
    # Pruned past `since` (nothing can be ruled out), or a tag of the entry logged since.
    row = conn.execute("SELECT COALESCE((SELECT min(seq) FROM answer_cache_log) > %s, false)"
                       " OR EXISTS (SELECT 1 FROM answer_cache_log WHERE seq > %s"
                       " AND tag = ANY(%s))", (since + 1, since, [ALL_TAG, *tags])).fetchone()
    return bool(row and row[0])


def _set_position(conn: psycopg.Connection[Any], name: str, seq: int) -> None:
    conn.execute("INSERT INTO answer_cache_sources (name, seq) VALUES (%s, %s)"
                 " ON CONFLICT (name) DO UPDATE SET seq = excluded.seq", (name, seq))
