"""The schema's migrations: any earlier file comes up to date, a newer one is refused."""

from __future__ import annotations

import sqlite3

import pytest

from agentcore.errors import StorageError
from agentcore.storage import SCHEMA_VERSION, SQLiteStorage
from tests.agentcore.storage.records import answered, request


def test_a_file_from_before_schema_versions_gains_what_it_lacks(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # as the first release made it
        conn.executescript("""
            CREATE TABLE requests (id TEXT PRIMARY KEY, text TEXT NOT NULL, customer_id INTEGER,
                channel TEXT NOT NULL, received_at REAL NOT NULL, status TEXT NOT NULL,
                note TEXT);
            CREATE TABLE escalations (id INTEGER PRIMARY KEY AUTOINCREMENT,
                request_id TEXT NOT NULL UNIQUE REFERENCES requests(id), reason TEXT NOT NULL,
                state TEXT NOT NULL, created_at REAL NOT NULL, context TEXT NOT NULL);
            INSERT INTO requests VALUES ('old-1', 'hello', 3, 'chat', 1.0, 'accepted', NULL);
        """)
    conn.close()
    store = SQLiteStorage(path)
    try:
        assert [r.id for r in store.requests.unfinished()] == ["old-1"]
        req = request(1)
        store.requests.accept(req)
        store.requests.finish(answered(req))
        assert store.requests.outcome(req.id).operator is None  # the column added later
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        columns = {r[1] for r in conn.execute("PRAGMA table_info(escalations)")}
    conn.close()
    assert {"claimed_by", "pending_status", "pending_history"} <= columns


def test_two_processes_opening_a_new_file_migrate_it_once(tmp_path):
    first, second = SQLiteStorage(tmp_path / "a.sqlite"), SQLiteStorage(tmp_path / "a.sqlite")
    first.close()
    second.close()
    with sqlite3.connect(tmp_path / "a.sqlite") as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # incremental
    conn.close()


def test_a_file_of_a_newer_release_is_refused_untouched(tmp_path):
    path = tmp_path / "new.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
        conn.execute("CREATE TABLE future (x)")
    conn.close()
    with pytest.raises(StorageError, match="newer than this release"):
        SQLiteStorage(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION + 1,)
    conn.close()


def test_the_days_spend_is_summed_from_the_index_alone(tmp_path):
    """The status bar's "Today" at every start: with a day of 300,000 outcomes, reading
    each row's cost from the table took a quarter of a second of the console's start."""
    store = SQLiteStorage(tmp_path / "a.sqlite")
    try:
        req = request(1)
        store.requests.accept(req)
        store.requests.finish(answered(req))
        assert store.requests.dollars_since(0) == answered(req).usage.dollars
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "a.sqlite") as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT COALESCE(SUM(dollars), 0) FROM outcomes"
            " WHERE finished_at >= ?", (0,)))
    conn.close()
    assert "COVERING INDEX outcomes_by_finished_cost" in plan
