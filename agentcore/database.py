"""Which engine database the settings choose, and what it can hold so far.

SQLite (`database_url` "sqlite", the default) is the whole engine database on one
workstation. PostgreSQL (a `postgresql://` URL) is the team backend being built
(docs/postgresql.md): it has the whole schema and every repository (POSTGRES_HOLDS), not
yet the health check /readyz reads, and the engine does not open it yet: so the engine
refuses to start on it rather than run half on one database and half on another.
"""

from __future__ import annotations

from agentcore.credentials import KeyringCredentials
from agentcore.errors import SettingsError
from agentcore.settings import Settings

# What PostgreSQL holds so far, and what the engine needs of a backend: the storage
# Protocols (agentcore.storage._protocols), in an operator's words.
POSTGRES_HOLDS = ("the schema (agentcore migrate)", "requests and outcomes", "spans",
                  "the escalation queue", "rules and their versions", "the answer cache",
                  "labelled examples", "the learned tier's versions", "saved replies",
                  "recorded traffic", "the intake and its outbox", "the audit log")
ENGINE_NEEDS = ("requests and outcomes", "spans", "the escalation queue", "rules and their "
                "versions", "the answer cache", "labelled examples", "the learned tier's "
                "versions", "saved replies", "recorded traffic", "the intake and its outbox",
                "the audit log", "a health check (/readyz)")


def database_password(settings: Settings,
                      credentials: KeyringCredentials | None = None) -> str | None:
    """The PostgreSQL password from the keyring entry the settings name (None: none
    stored, the server may not want one)."""
    return (credentials or KeyringCredentials()).get(settings.database_password_name)


def refuse_partial_backend(settings: Settings) -> None:
    """SettingsError when the settings choose a backend the engine cannot run on yet."""
    if not settings.uses_postgres:
        return
    raise SettingsError(
        "database_url points at PostgreSQL, which holds "
        + ", ".join(POSTGRES_HOLDS) + " so far; the engine needs all of: "
        + ", ".join(ENGINE_NEEDS) + "; still missing: "
        + ", ".join(need for need in ENGINE_NEEDS if need not in POSTGRES_HOLDS)
        + ". Run the engine on SQLite (database_url 'sqlite') "
        "until then; `agentcore migrate --database URL` prepares the server already "
        "(docs/postgresql.md)")
