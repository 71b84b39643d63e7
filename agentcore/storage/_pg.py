"""The PostgreSQL backend, as far as it goes: one pool of connections to a team's
database, migrated on open, and the repositories built on it so far.

Only the escalation queue is here yet (`PostgresEscalations`): the engine needs every
repository of `Storage`, so it refuses a PostgreSQL URL until they all are
(agentcore.database), rather than keep some tables on one database and the rest on
another.
"""

from __future__ import annotations

from agentcore.storage._pg_connection import open_pool, parse_url, pg_translated
from agentcore.storage._pg_escalations import PostgresEscalations
from agentcore.storage._pg_intake import PostgresIntake, PostgresOutbox
from agentcore.storage._pg_schema import migrate
from agentcore.storage._protocols import (
    EscalationRepository,
    IntakeRepository,
    OutboxRepository,
)


class PostgresStorage:
    """The repositories PostgreSQL holds so far, over one pool. `password` None connects
    without one (trust, a certificate); `entry` names its keyring entry for messages."""

    def __init__(self, url: str, password: str | None, *, entry: str = "database-password",
                 max_connections: int = 8) -> None:
        target = parse_url(url)
        self.where = target.where
        self._pool = open_pool(url, password, entry=entry, max_size=max_connections)
        try:
            with pg_translated(f"migrating the database at {self.where} failed"), \
                    self._pool.connection() as conn:
                migrate(conn)
        except BaseException:
            self._pool.close()
            raise
        self._escalations = PostgresEscalations(self._pool, self.where)
        self._intake = PostgresIntake(self._pool, self.where)
        self._outbox = PostgresOutbox(self._pool, self.where)

    @property
    def escalations(self) -> EscalationRepository:  # mypy checks it keeps the Protocol
        return self._escalations

    @property
    def intake(self) -> IntakeRepository:
        return self._intake

    @property
    def outbox(self) -> OutboxRepository:
        return self._outbox

    def close(self) -> None:
        self._pool.close()
