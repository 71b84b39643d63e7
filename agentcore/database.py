"""Which engine database the settings choose, opened.

SQLite (`database_url` "sqlite", the default) is the whole engine database on one
workstation, the file in the data folder. PostgreSQL (a `postgresql://` URL, its
password in the keyring) is the team's shared store (docs/postgresql.md): several
`agentcore serve` instances and attached stations on one database.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from agentcore.credentials import KeyringCredentials
from agentcore.errors import SettingsError
from agentcore.settings import Settings
from agentcore.storage import SQLiteStorage, Storage


def database_password(settings: Settings,
                      credentials: KeyringCredentials | None = None) -> str | None:
    """The PostgreSQL password from the keyring entry the settings name (None: none
    stored, the server may not want one)."""
    return (credentials or KeyringCredentials()).get(settings.database_password_name)


def add_database_flag(parser: Any, *, default: Any = argparse.SUPPRESS) -> None:
    """--database URL. On a subcommand it is SUPPRESSed unless given, so `agentcore
    --database URL serve` and `agentcore serve --database URL` both work."""
    parser.add_argument("--database", metavar="URL", default=default,
                        help="'sqlite' (the file in the data folder) or "
                             "postgresql://user@host:port/database, its password in the "
                             "keyring (default: the settings' database_url)")


def database_url(text: str) -> str:
    """--database checked as the setting is: a password in the URL is refused here too."""
    try:
        return Settings.model_validate({"database_url": text}).database_url
    except ValidationError as exc:
        raise SettingsError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) \
            from None


def database_name(settings: Settings) -> str:
    """The engine database as an operator recognises it (a log line, a title)."""
    if not settings.uses_postgres:
        return str(settings.engine_db)
    from agentcore.storage._pg_connection import parse_url

    target = parse_url(settings.database_url)
    return f"PostgreSQL database {target.database!r} at {target.where}"


def open_storage(settings: Settings, *, credentials: KeyringCredentials | None = None,
                 now: Callable[[], float] = time.time,
                 prune_every_s: float | None = None) -> Storage:
    """The engine database the settings choose, migrated. A PostgreSQL server that can't
    be reached, or refuses the password, raises DatabaseUnreachable in one sentence."""
    retention_days, spans_max_mb = (settings.storage.retention_days,
                                    settings.storage.spans_max_mb)
    if not settings.uses_postgres:
        return SQLiteStorage(settings.engine_db, now=now, prune_every_s=prune_every_s,
                             retention_days=retention_days, spans_max_mb=spans_max_mb)
    # Imported on use: psycopg would cost every SQLite start ~70 ms.
    from agentcore.storage._pg import PostgresStorage

    return PostgresStorage(settings.database_url, database_password(settings, credentials),
                           entry=settings.database_password_name, now=now,
                           prune_every_s=prune_every_s, retention_days=retention_days,
                           spans_max_mb=spans_max_mb)


def open_existing(settings: Settings) -> Storage:
    """The engine database for a command that only reads or tends it (export, audit,
    outbox): SettingsError when the settings' SQLite file is not there (rather than
    create an empty one and report nothing)."""
    if not settings.uses_postgres and not settings.engine_db.exists():
        raise SettingsError(f"no engine database at {settings.engine_db} (--data-dir? "
                            "--database?)")
    return open_storage(settings)
