"""The live rule set, its fragments, its versions, and the suggestions operators
turned down. Rules travel as plain dicts (`Rule.as_dict`): storage knows no router."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from agentcore.errors import RulesChangedError
from agentcore.storage._connection import transaction, translated

RULE_COLUMNS = ("id", "name", "pattern", "intent", "handler", "template", "priority",
                "enabled", "cache")


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """One change to the rule set as the history keeps it: the whole set after it."""

    created_at: float
    author: str
    action: str  # seed, apply, import, revert, undo, redo
    summary: str
    restores: int | None  # undo, redo, revert: the version whose rules came back
    rules: tuple[dict[str, Any], ...]
    fragments: dict[str, str]


@dataclass(frozen=True, slots=True)
class StoredVersion(VersionRecord):
    id: int = 0


_VERSION = "id, created_at, author, action, summary, restores"


class SQLiteRules:
    """`RuleRepository` over the engine database."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def load_rules(self) -> list[dict[str, Any]]:
        with translated("reading the rules failed"):
            rows = self._conn.execute(
                f"SELECT {', '.join(RULE_COLUMNS)} FROM rules ORDER BY position").fetchall()
        # SQLite has no booleans: 1 would reach exports and diffs as 'enabled: 1'.
        return [{**dict(zip(RULE_COLUMNS, row, strict=True)), "enabled": bool(row[7])}
                for row in rows]

    def load_fragments(self) -> dict[str, str]:
        with translated("reading the rule fragments failed"):
            return dict(self._conn.execute("SELECT name, pattern FROM rule_fragments"))

    def save_rules(self, rules: list[dict[str, Any]], fragments: dict[str, str],
                   version: VersionRecord | None = None, *, base: int | None = None,
                   ) -> int | None:
        """Replaces the whole rule set and its fragments and records `version` (its id
        returned), all in one transaction: the history never disagrees with what runs.
        With `base` (the newest version id the change was made against, 0 for none)
        it is refused with RulesChangedError if another version was saved since."""
        rows = [(*(r[c] if c != "enabled" else int(bool(r[c])) for c in RULE_COLUMNS), pos)
                for pos, r in enumerate(rules)]
        conn = self._conn
        # IMMEDIATE: the check and the write under one lock, against other processes.
        with translated("saving the rules failed"), transaction(conn, "IMMEDIATE"):
            if base is not None:
                latest = conn.execute("SELECT MAX(id) FROM rule_versions").fetchone()[0] or 0
                if latest != base:
                    raise RulesChangedError(base, int(latest))
            conn.execute("DELETE FROM rules")
            conn.executemany(f"INSERT INTO rules ({', '.join(RULE_COLUMNS)}, position) "
                             f"VALUES ({', '.join('?' * (len(RULE_COLUMNS) + 1))})", rows)
            conn.execute("DELETE FROM rule_fragments")
            conn.executemany("INSERT INTO rule_fragments VALUES (?, ?)", list(fragments.items()))
            return self._insert(version) if version is not None else None

    def add_version(self, version: VersionRecord) -> int:
        """Records a version without changing the rules (the seed of the history)."""
        with translated("recording a rule version failed"), transaction(self._conn):
            return self._insert(version)

    def seed_version(self, version: VersionRecord) -> int | None:
        """Records `version` as the history's first, its id returned; None when there is
        a version already (another process's first start came first): under the same
        lock as a save, so of processes starting at once on an empty database one seeds."""
        conn = self._conn
        with translated("recording a rule version failed"), transaction(conn, "IMMEDIATE"):
            if conn.execute("SELECT 1 FROM rule_versions LIMIT 1").fetchone() is not None:
                return None
            return self._insert(version)

    def _insert(self, v: VersionRecord) -> int:
        cur = self._conn.execute(
            "INSERT INTO rule_versions (created_at, author, action, summary, restores,"
            " rules, fragments) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (v.created_at, v.author, v.action, v.summary, v.restores,
             json.dumps(list(v.rules)), json.dumps(v.fragments)))
        return int(cur.lastrowid or 0)

    def version_log(self) -> list[tuple[int, float, str, str, str, int | None]]:
        """(id, created_at, author, action, summary, restores), oldest first, without
        the rule sets (reading those took 150 ms at 1,000 versions)."""
        with translated("reading the rule history failed"):
            return [(int(r[0]), float(r[1]), r[2], r[3], r[4], r[5]) for r in
                    self._conn.execute(f"SELECT {_VERSION} FROM rule_versions ORDER BY id")]

    def version(self, version_id: int) -> StoredVersion | None:
        return self._one("WHERE id = ?", (version_id,))

    def version_before(self, version_id: int) -> StoredVersion | None:
        return self._one("WHERE id < ? ORDER BY id DESC LIMIT 1", (version_id,))

    def versions(self) -> list[StoredVersion]:
        """Newest first, each with its whole rule set."""
        with translated("reading the rule history failed"):
            rows = self._conn.execute(f"SELECT {_VERSION}, rules, fragments FROM rule_versions"
                                      " ORDER BY id DESC").fetchall()
        return [_stored(r) for r in rows]

    def latest_version_id(self) -> int | None:
        with translated("reading the rule history failed"):
            row = self._conn.execute("SELECT MAX(id) FROM rule_versions").fetchone()
        return None if row[0] is None else int(row[0])

    def _one(self, where: str, params: tuple[Any, ...]) -> StoredVersion | None:
        with translated("reading the rule history failed"):
            row = self._conn.execute(f"SELECT {_VERSION}, rules, fragments FROM rule_versions "
                                     + where, params).fetchone()
        return None if row is None else _stored(row)

    # -- rejected suggestions --------------------------------------------------

    def rejected_keys(self) -> set[str]:
        with translated("reading the rejected suggestions failed"):
            return {k for (k,) in self._conn.execute("SELECT key FROM rejected_suggestions")}

    def reject_suggestion(self, key: str, pattern: str, intent: str, *, author: str,
                          at: float) -> None:
        with translated("recording a rejected suggestion failed"):
            self._conn.execute(
                "INSERT OR IGNORE INTO rejected_suggestions VALUES (?, ?, ?, ?, ?)",
                (key, pattern, intent, author, at))


def _stored(row: tuple[Any, ...]) -> StoredVersion:
    vid, created, author, action, summary, restores, rules, fragments = row
    return StoredVersion(float(created), author, action, summary, restores,
                         tuple(json.loads(rules)), json.loads(fragments), id=int(vid))
