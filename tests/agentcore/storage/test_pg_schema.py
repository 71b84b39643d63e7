"""PostgreSQL's schema: the same tables and columns as SQLite's migrations make (read
from both at test time, so a SQLite migration without its PostgreSQL twin fails
here), migrated once when two processes migrate at once, a newer one refused."""

from __future__ import annotations

import sqlite3
import threading

import psycopg
import pytest

from agentcore.errors import StorageError
from agentcore.storage import SQLiteStorage
from agentcore.storage._pg_schema import SCHEMA_VERSION, migrate, schema_version

# Each backend's own bookkeeping: SQLite's AUTOINCREMENT counters, PostgreSQL's versions.
OWN_TABLES = {"sqlite_sequence", "schema_version"}
# SQLite's declared types and what PostgreSQL's migrations map each to (_pg_schema).
PG_TYPE = {"TEXT": "text", "INTEGER": "bigint", "REAL": "double precision", "BLOB": "bytea"}


def _sqlite_columns(path) -> dict[str, dict[str, tuple[str, bool, str | None]]]:
    """table -> column -> (the PostgreSQL type it maps to, nullable, default)."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: {c[1]: (PG_TYPE[c[2].upper()], not c[3] and not c[5], c[4])
                    for c in conn.execute(f"PRAGMA table_info({t})")}
                for t in tables if t not in OWN_TABLES}
    finally:
        conn.close()


def _sqlite_indexes(path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'"
            " AND name NOT LIKE 'sqlite_autoindex_%'")}
    finally:
        conn.close()


def _pg_columns(conn) -> dict[str, dict[str, tuple[str, bool, str | None]]]:
    tables: dict[str, dict[str, tuple[str, bool, str | None]]] = {}
    for table, column, kind, nullable, default, pk in conn.execute("""
            SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'YES',
                   c.column_default,
                   EXISTS (SELECT 1 FROM information_schema.key_column_usage k
                           JOIN information_schema.table_constraints t
                             ON t.constraint_name = k.constraint_name
                           WHERE t.constraint_type = 'PRIMARY KEY'
                             AND k.table_name = c.table_name
                             AND k.column_name = c.column_name)
            FROM information_schema.columns c WHERE c.table_schema = 'public'"""):
        if table not in OWN_TABLES:
            # A primary key's column is NOT NULL on PostgreSQL; SQLite's table_info
            # says notnull 0 for an INTEGER PRIMARY KEY: compared as SQLite reads it.
            tables.setdefault(table, {})[column] = (kind, nullable and not pk, default)
    return tables


def _pg_indexes(conn) -> set[str]:
    # Constraints' own indexes (primary keys, UNIQUE) are SQLite's autoindexes.
    return {r[0] for r in conn.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
        " AND indexname NOT IN (SELECT conname FROM pg_constraint)")}


@pytest.fixture
def pg(pg_url, postgres_server):
    with psycopg.connect(pg_url, password=postgres_server.password, autocommit=True) as conn:
        yield conn


@pytest.fixture
def sqlite_file(tmp_path):
    path = tmp_path / "agent.sqlite"
    SQLiteStorage(path).close()  # every SQLite migration of this checkout, applied
    return path


def test_postgresql_has_sqlites_tables_columns_types_and_defaults(pg, sqlite_file):
    assert migrate(pg) == 0
    want, have = _sqlite_columns(sqlite_file), _pg_columns(pg)
    assert sorted(have) == sorted(want), "tables differ"
    for table, columns in want.items():
        missing = sorted(set(columns) - set(have[table]))
        assert not missing, (f"{table}: {missing} are on SQLite (agentcore/storage/_schema.py)"
                             " but not on PostgreSQL: add a migration to _pg_schema.py")
        assert have[table] == columns, f"{table}: types, NULLs or defaults differ"


def test_postgresql_has_sqlites_indexes(pg, sqlite_file):
    migrate(pg)
    assert _pg_indexes(pg) == _sqlite_indexes(sqlite_file)


def test_a_migrated_database_is_left_as_it_is(pg):
    assert migrate(pg) == 0
    pg.execute("INSERT INTO requests VALUES ('r1', 'hello', 3, 'chat', 1.5, 'accepted', NULL)")
    assert migrate(pg) == SCHEMA_VERSION
    assert schema_version(pg) == SCHEMA_VERSION
    assert pg.execute("SELECT text, received_at FROM requests").fetchall() == [("hello", 1.5)]
    # The starter replies come once, not once per migrate.
    assert pg.execute("SELECT count(*) FROM saved_replies").fetchone() == (3,)


def test_eight_sessions_migrating_at_once_migrate_once(pg_url, postgres_server):
    """Services starting together on an empty database: without the advisory lock two
    CREATE TABLEs race and one fails with a duplicate key in pg_type."""
    barrier = threading.Barrier(8)
    found: list[int] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            with psycopg.connect(pg_url, password=postgres_server.password,
                                 autocommit=True) as conn:
                barrier.wait()
                found.append(migrate(conn))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(found) == [0] + [SCHEMA_VERSION] * 7
    with psycopg.connect(pg_url, password=postgres_server.password) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [
            (v,) for v in range(1, SCHEMA_VERSION + 1)]


def test_a_database_of_a_newer_release_is_refused_untouched(pg):
    migrate(pg)
    pg.execute("INSERT INTO schema_version VALUES (%s, 0)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StorageError, match="newer than this release"):
        migrate(pg)
    assert schema_version(pg) == SCHEMA_VERSION + 1


def test_the_answer_cache_triggers_work_as_on_sqlite(pg):
    """A logged tag drops its entries (and their tags) in the same transaction; '*'
    clears all: what the L2's invalidation relies on across processes."""
    migrate(pg)
    for key, tags in (("s:a", '["order:1"]'), ("s:b", '["order:2"]'), ("s:c", '["order:1"]')):
        pg.execute("INSERT INTO answer_cache VALUES (%s, 'shared', 'x', '{}', %s, 0, 9)",
                   (key, tags))
        pg.execute("INSERT INTO answer_cache_tags SELECT t, %s FROM"
                   " jsonb_array_elements_text(%s::jsonb) AS t", (key, tags))
    pg.execute("INSERT INTO answer_cache_log (tag) VALUES ('order:1')")
    assert pg.execute("SELECT key FROM answer_cache").fetchall() == [("s:b",)]
    assert pg.execute("SELECT tag, key FROM answer_cache_tags").fetchall() == [
        ("order:2", "s:b")]
    pg.execute("INSERT INTO answer_cache_log (tag) VALUES ('*')")
    assert pg.execute("SELECT count(*) FROM answer_cache").fetchone() == (0,)
    assert pg.execute("SELECT count(*) FROM answer_cache_tags").fetchone() == (0,)
