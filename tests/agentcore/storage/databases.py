"""The database under a backend, reached directly (as another process, or an operator's
own SQL, would): to look at what a repository wrote, or to put rows in by the
thousand faster than the engine would."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Database:
    kind: str  # "sqlite" or "postgresql"
    location: str  # the file, or the URL (without its password)
    password: str | None = None

    def open(self, **options: Any) -> Any:
        """The backend's store over this database; options it does not take yet are a
        skip, said why, not a failure."""
        if self.kind == "sqlite":
            from agentcore.storage import SQLiteStorage

            return SQLiteStorage(Path(self.location), **options)
        import inspect

        import pytest

        from agentcore.storage._pg import PostgresStorage

        takes = inspect.signature(PostgresStorage).parameters
        if "now" not in takes:
            options.pop("now", None)  # nothing on PostgreSQL reads the clock yet
        if missing := sorted(set(options) - set(takes)):
            pytest.skip(f"PostgresStorage takes no {', '.join(missing)} yet")
        return PostgresStorage(self.location, self.password, **options)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Runs one statement (`?` placeholders, as SQLite writes them) in its own
        transaction, committed; the rows it returns."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.location) as conn:
                found = conn.execute(sql, params).fetchall()
            conn.close()
            return found
        import psycopg

        with psycopg.connect(self.location, password=self.password) as conn:
            cur = conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []
