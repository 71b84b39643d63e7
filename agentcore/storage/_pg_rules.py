"""The live rule set, its fragments, its versions and the rejected suggestions on
PostgreSQL (SQLite's are `_rules`; the same rows, the same dicts back).

Each write announces itself ("rules", with the version it recorded, if any) in its
transaction (`_pg_notify`).

Saving replaces the whole set, so two stations saving at once must not interleave:
under READ COMMITTED the second one's `DELETE FROM rules` would not see the rows the
first just inserted, and the table would end up holding both sets. Every save (and
every version recorded alone) therefore first takes one transaction-scoped advisory
lock; the second saver waits, then deletes what the first left. A version's id comes
from the table's identity inside that lock, so ids are distinct across stations and
the newest version is always the set that runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from agentcore.errors import RulesChangedError
from agentcore.storage._pg_connection import pg_translated
from agentcore.storage._pg_notify import notify
from agentcore.storage._rules import RULE_COLUMNS, StoredVersion, VersionRecord, _stored

Pool = ConnectionPool[psycopg.Connection[Any]]

# pg_advisory_xact_lock's key for changes of the rule set ("rulesets").
RULES_LOCK = 0x7275_6C65_7365_7473

_VERSION = "id, created_at, author, action, summary, restores"


class PostgresRules:
    """`RuleRepository` over a pool of connections to the team's database."""

    def __init__(self, pool: Pool, where: str, *, origin: str) -> None:
        self._pool = pool
        self._where = where  # host:port, for messages
        self._origin = origin  # what this store's announcements carry

    def _rows(self, what: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with pg_translated(f"{what} at {self._where} failed"), self._pool.connection() as conn:
            return conn.execute(sql, params).fetchall()

    @contextmanager
    def _locked(self, what: str) -> Iterator[psycopg.Connection[Any]]:
        with pg_translated(f"{what} at {self._where} failed"), self._pool.connection() as conn, \
                conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (RULES_LOCK,))
            yield conn

    def load_rules(self) -> list[dict[str, Any]]:
        rows = self._rows("reading the rules",
                          f"SELECT {', '.join(RULE_COLUMNS)} FROM rules ORDER BY position")
        return [{**dict(zip(RULE_COLUMNS, row, strict=True)), "enabled": bool(row[7])}
                for row in rows]

    def load_fragments(self) -> dict[str, str]:
        return {name: pattern for name, pattern in self._rows(
            "reading the rule fragments", "SELECT name, pattern FROM rule_fragments")}

    def save_rules(self, rules: list[dict[str, Any]], fragments: dict[str, str],
                   version: VersionRecord | None = None, *, base: int | None = None,
                   ) -> int | None:
        """Replaces the whole rule set and its fragments and records `version` (its id
        returned), all in one transaction; with `base`, refused if another version was
        saved since (see SQLiteRules.save_rules): checked under the lock."""
        rows = [(*(r[c] if c != "enabled" else int(bool(r[c])) for c in RULE_COLUMNS), pos)
                for pos, r in enumerate(rules)]
        with self._locked("saving the rules") as conn, conn.cursor() as cur:
            if base is not None:
                cur.execute("SELECT COALESCE(MAX(id), 0) FROM rule_versions")
                (latest,) = cur.fetchone() or (0,)
                if latest != base:
                    raise RulesChangedError(base, int(latest))
            cur.execute("DELETE FROM rules")
            cur.executemany(f"INSERT INTO rules ({', '.join(RULE_COLUMNS)}, position) "
                            f"VALUES ({', '.join(['%s'] * (len(RULE_COLUMNS) + 1))})", rows)
            cur.execute("DELETE FROM rule_fragments")
            cur.executemany("INSERT INTO rule_fragments (name, pattern) VALUES (%s, %s)",
                            list(fragments.items()))
            saved = _insert(conn, version) if version is not None else None
            notify(cur, "rules", [] if saved is None else [str(saved)], self._origin)
            return saved

    def add_version(self, version: VersionRecord) -> int:
        """Records a version without changing the rules (the seed of the history)."""
        with self._locked("recording a rule version") as conn:
            version_id = _insert(conn, version)
            notify(conn, "rules", [str(version_id)], self._origin)
            return version_id

    def seed_version(self, version: VersionRecord) -> int | None:
        """The history's first version, None when there is one (see
        SQLiteRules.seed_version): checked under the lock."""
        with self._locked("recording a rule version") as conn:
            if conn.execute("SELECT 1 FROM rule_versions LIMIT 1").fetchone() is not None:
                return None
            version_id = _insert(conn, version)
            notify(conn, "rules", [str(version_id)], self._origin)
            return version_id

    def version_log(self) -> list[tuple[int, float, str, str, str, int | None]]:
        """(id, created_at, author, action, summary, restores), oldest first, without
        the rule sets."""
        rows = self._rows("reading the rule history",
                          f"SELECT {_VERSION} FROM rule_versions ORDER BY id")
        return [(int(r[0]), float(r[1]), r[2], r[3], r[4],
                 None if r[5] is None else int(r[5])) for r in rows]

    def version(self, version_id: int) -> StoredVersion | None:
        return self._one("WHERE id = %s", (version_id,))

    def version_before(self, version_id: int) -> StoredVersion | None:
        return self._one("WHERE id < %s ORDER BY id DESC LIMIT 1", (version_id,))

    def versions(self) -> list[StoredVersion]:
        """Newest first, each with its whole rule set."""
        return [_stored(r) for r in self._rows(
            "reading the rule history",
            f"SELECT {_VERSION}, rules, fragments FROM rule_versions ORDER BY id DESC")]

    def latest_version_id(self) -> int | None:
        (row,) = self._rows("reading the rule history", "SELECT MAX(id) FROM rule_versions")
        return None if row[0] is None else int(row[0])

    def _one(self, where: str, params: tuple[Any, ...]) -> StoredVersion | None:
        rows = self._rows("reading the rule history",
                          f"SELECT {_VERSION}, rules, fragments FROM rule_versions " + where,
                          params)
        return _stored(rows[0]) if rows else None

    # -- rejected suggestions --------------------------------------------------

    def rejected_keys(self) -> set[str]:
        return {k for (k,) in self._rows("reading the rejected suggestions",
                                         "SELECT key FROM rejected_suggestions")}

    def reject_suggestion(self, key: str, pattern: str, intent: str, *, author: str,
                          at: float) -> None:
        with pg_translated(f"recording a rejected suggestion at {self._where} failed"), \
                self._pool.connection() as conn, conn.transaction():
            conn.execute("INSERT INTO rejected_suggestions (key, pattern, intent, author,"
                         " rejected_at) VALUES (%s, %s, %s, %s, %s)"
                         " ON CONFLICT (key) DO NOTHING", (key, pattern, intent, author, at))
            notify(conn, "rules", [], self._origin)  # no version: the rejected keys


def _insert(conn: psycopg.Connection[Any], v: VersionRecord) -> int:
    row = conn.execute(
        "INSERT INTO rule_versions (created_at, author, action, summary, restores, rules,"
        " fragments) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (v.created_at, v.author, v.action, v.summary, v.restores, json.dumps(list(v.rules)),
         json.dumps(v.fragments))).fetchone()
    assert row is not None  # INSERT ... RETURNING returns the row it inserted
    return int(row[0])

