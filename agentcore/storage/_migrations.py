"""Either backend's schema brought up to date, for `agentcore migrate`: each keeps its
own migrations (`_schema` for SQLite, `_pg_schema` for PostgreSQL). PostgreSQL's
modules are imported on use: psycopg costs every start of the app ~70 ms otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agentcore.errors import StorageError
from agentcore.storage import _schema
from agentcore.storage._connection import connect, translated


@dataclass(frozen=True)
class Migrated:
    where: str  # the database, as an operator names it
    before: int  # its schema version before
    after: int
    created: bool  # it had no tables before


def migrate_sqlite(path: Path) -> Migrated:
    """A new file is created."""
    with translated(f"cannot migrate {path}"):
        existed = path.exists() and path.stat().st_size > 0
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = connect(path)
        try:
            before = _schema.migrate(conn)
            return Migrated(f"SQLite database {path}", before, _schema.schema_version(conn),
                            created=not existed)
        finally:
            conn.close()


def migrate_postgres(url: str, password: str | None, *,
                     entry: str = "database-password") -> Migrated:
    """DatabaseUnreachable when it cannot be reached; the server's refusal of a statement
    (no CREATE right on the schema, say) leaves the database as it was: the migrations
    run in one transaction."""
    import psycopg

    from agentcore.storage import _pg_schema
    from agentcore.storage._pg_connection import connect as pg_connect
    from agentcore.storage._pg_connection import parse_url

    target = parse_url(url)
    with pg_connect(url, password, entry=entry) as conn:
        try:
            before = _pg_schema.migrate(conn)
            after = _pg_schema.schema_version(conn)
        except psycopg.Error as exc:
            raise StorageError(f"migrating the PostgreSQL database at {target.where} failed, "
                               f"nothing was changed: {exc}") from exc
    return Migrated(f"PostgreSQL database {target.database!r} at {target.where}", before,
                    after, created=before == 0)
