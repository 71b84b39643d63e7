"""`agentcore migrate [--database URL]`: creates the engine database or brings its
schema up to date, SQLite or PostgreSQL, and says which version it left.

Without --database, the settings' `database_url` ("sqlite": data_dir/agent.sqlite).
PostgreSQL's password comes from the keyring entry `database_password_name`
(`keyring set agent-console database-password`), never from the URL."""

from __future__ import annotations

import argparse
from typing import Any

from agentcore.database import add_database_flag
from agentcore.settings import Settings


def add_migrate_parser(sub: Any) -> None:
    """`sub`: the `add_subparsers` result of the main parser."""
    migrate = sub.add_parser(
        "migrate", help="create the engine database or upgrade its schema",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status: 0 the database is up to date; 2 it cannot be reached or "
               "migrated (the message says why).")
    add_database_flag(migrate)


async def run_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from agentcore.database import database_password
    from agentcore.storage import migrate_postgres, migrate_sqlite

    if settings.uses_postgres:
        done = migrate_postgres(settings.database_url, database_password(settings),
                                entry=settings.database_password_name)
    else:
        done = migrate_sqlite(settings.engine_db)
    change = ("created" if done.created else "up to date" if done.before == done.after
              else f"upgraded from version {done.before}")
    print(f"{done.where}: schema version {done.after} ({change})")
    return 0
