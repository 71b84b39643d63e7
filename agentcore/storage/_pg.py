"""The PostgreSQL backend, as far as it goes: one pool of connections to a team's
database, migrated on open, and the repositories built on it so far:

- the request path (`PostgresRequests`): requests accepted by the caller, committed
  before `accept` returns; outcomes, spans and escalations committed by the same
  outcome writer thread as SQLite's (`_writer`), with a PostgreSQL sink;
- the recorded traffic backtests read (`PostgresTraffic`);
- the escalation queue (`PostgresEscalations`).

Rules, replies, the learned tier, the answer cache and retention are not here yet:
the engine needs every repository of `Storage`, so it refuses a PostgreSQL URL until
they all are (agentcore.database), rather than keep some tables on one database and
the rest on another.
"""

from __future__ import annotations

from agentcore.storage._pg_connection import open_pool, parse_url, pg_translated
from agentcore.storage._pg_escalations import PostgresEscalations
from agentcore.storage._pg_requests import PostgresRequests, PostgresSink
from agentcore.storage._pg_schema import migrate
from agentcore.storage._pg_traffic import PostgresTraffic
from agentcore.storage._protocols import (
    EscalationRepository,
    RequestRepository,
    TrafficRepository,
)
from agentcore.storage._writer import OutcomeWriter


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
        self._writer = OutcomeWriter(PostgresSink(self._pool))
        self._writer.start()
        self._requests = PostgresRequests(self._pool, self._writer, self.where)
        self._traffic = PostgresTraffic(self._pool, self.where, self._writer.flush)
        self._escalations = PostgresEscalations(self._pool, self.where, self._writer.flush)

    @property  # mypy checks each keeps its Protocol
    def requests(self) -> RequestRepository:
        return self._requests

    @property
    def traffic(self) -> TrafficRepository:
        return self._traffic

    @property
    def escalations(self) -> EscalationRepository:
        return self._escalations

    def flush(self) -> None:
        """Returns once every outcome already returned is committed."""
        self._writer.flush()

    def close(self) -> None:
        self._writer.stop()  # what is queued is written first, on the pool
        self._pool.close()
