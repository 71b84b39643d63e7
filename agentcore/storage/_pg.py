"""The PostgreSQL backend: one pool of connections to a team's database, migrated on
open, this process registered on it as an instance (`_instances`: what it accepts is
its own until it dies or stops), and the repositories on it:

- the request path (`PostgresRequests`): requests accepted by the caller, committed
  before `accept` returns; outcomes, spans and escalations committed by the same
  outcome writer thread as SQLite's (`_writer`), with a PostgreSQL sink;
- the recorded traffic backtests read (`PostgresTraffic`);
- the escalation queue (`PostgresEscalations`);
- the rule set with its versions and rejected suggestions (`PostgresRules`), the
  saved replies (`PostgresReplies`), the learned tier's versions and models
  (`PostgresLearned`) and the answer cache's L2 with its invalidation log
  (`PostgresAnswerCache`);
- retention (`PostgresPruner`): SQLite's rules, one station pruning at a time;
- the intake's claims and its outbox of deliveries (`PostgresIntake`,
  `PostgresOutbox`), several instances sharing them;
- the audit log (`PostgresAudit`): the queue's actions and the saved replies' edits
  each append their entry in their own transaction, listed with the rule and learned
  versions as on SQLite;
- the change feed (`changes()`, `_pg_notify`): the writes of requests, outcomes, the
  queue, rules, replies, learned versions, cache invalidations and audit entries
  announce the ids they touched in their own transaction, for the other processes
  on the database (the intake's, the outbox's and retention's do not).

With its health check (`health`, what /readyz reads) it is a whole `Storage`: the
engine opens it from the settings' `database_url` (agentcore.database.open_storage).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg_pool import PoolClosed, PoolTimeout

from agentcore.storage._changes import ChangeFeed
from agentcore.storage._instances import GRACE_S, HEARTBEAT_S, Instance
from agentcore.storage._pg_answer_cache import PostgresAnswerCache
from agentcore.storage._pg_audit import PostgresAudit
from agentcore.storage._pg_connection import open_pool, parse_url, pg_translated
from agentcore.storage._pg_escalations import PostgresEscalations
from agentcore.storage._pg_intake import PostgresIntake, PostgresOutbox
from agentcore.storage._pg_learned import PostgresLearned
from agentcore.storage._pg_notify import PostgresChanges
from agentcore.storage._pg_replies import PostgresReplies
from agentcore.storage._pg_requests import PostgresRequests, PostgresSink
from agentcore.storage._pg_retention import PostgresPruner
from agentcore.storage._pg_rules import PostgresRules
from agentcore.storage._pg_schema import migrate
from agentcore.storage._pg_traffic import PostgresTraffic
from agentcore.storage._protocols import (
    AnswerCacheRepository,
    AuditRepository,
    EscalationRepository,
    IntakeRepository,
    LearnedRepository,
    OutboxRepository,
    ReplyRepository,
    RequestRepository,
    RuleRepository,
    TrafficRepository,
)
from agentcore.storage._retention import PruneReport
from agentcore.storage._writer import OutcomeWriter

HEALTH_WAIT_S = 1.0
# What a heartbeat may meet with the server gone: said in the log, tried again.
_DATABASE_ERRORS = (psycopg.Error, PoolTimeout, PoolClosed)


class PostgresStorage:
    """`Storage` on a team's PostgreSQL database, over one pool. `password` None connects
    without one (trust, a certificate); `entry` names its keyring entry for messages.
    Retention as SQLiteStorage's: `retention_days` None keeps requests for ever,
    `spans_max_mb` None caps no spans, `prune_every_s` None runs no pruner thread."""

    def __init__(self, url: str, password: str | None, *, entry: str = "database-password",
                 max_connections: int = 8, retention_days: float | None = None,
                 spans_max_mb: float | None = None, now: Callable[[], float] = time.time,
                 prune_every_s: float | None = None, heartbeat_s: float = HEARTBEAT_S,
                 grace_s: float = GRACE_S) -> None:
        target = parse_url(url)
        self.where = target.where
        # Every write of this store announces itself as this origin (_pg_notify); its
        # change feeds carry it too, so its own processes can tell its writes apart.
        self.origin = uuid.uuid4().hex
        self._connecting = (url, password, entry)
        self._feeds: list[PostgresChanges] = []
        self._pool = open_pool(url, password, entry=entry, max_size=max_connections)
        try:
            with pg_translated(f"migrating the database at {self.where} failed"), \
                    self._pool.connection() as conn:
                migrate(conn)
            with pg_translated(f"registering this instance at {self.where} failed"):
                # This process on the database: its heartbeat, the owner of what it takes.
                self.instance = Instance(self._run, heartbeat_s=heartbeat_s,
                                         grace_s=grace_s, errors=_DATABASE_ERRORS)
        except BaseException:
            self._pool.close()
            raise
        origin = self.origin
        self._writer = OutcomeWriter(PostgresSink(self._pool, origin))
        self._writer.start()
        self._requests = PostgresRequests(self._pool, self._writer, self.where, origin,
                                          self.instance)
        self._traffic = PostgresTraffic(self._pool, self.where, self._writer.flush)
        self._escalations = PostgresEscalations(self._pool, self.where, self._writer.flush,
                                                origin=origin, owner=self.instance.id)
        self._rules = PostgresRules(self._pool, self.where, origin=origin)
        self._replies = PostgresReplies(self._pool, self.where, origin=origin)
        self._learned = PostgresLearned(self._pool, self.where, origin=origin)
        self._intake = PostgresIntake(self._pool, self.where, self.instance)
        self._outbox = PostgresOutbox(self._pool, self.where)
        self._audit = PostgresAudit(self._pool, self.where)
        self._pruner = PostgresPruner(self._pool, self.where, retention_days=retention_days,
                                      spans_max_mb=spans_max_mb, now=now)
        if prune_every_s is not None:
            self._pruner.start(prune_every_s)

    @property  # mypy checks each keeps its Protocol
    def requests(self) -> RequestRepository:
        return self._requests

    @property
    def traffic(self) -> TrafficRepository:
        return self._traffic

    @property
    def escalations(self) -> EscalationRepository:
        return self._escalations

    @property
    def rules(self) -> RuleRepository:
        return self._rules

    @property
    def replies(self) -> ReplyRepository:
        return self._replies

    @property
    def learned(self) -> LearnedRepository:
        return self._learned

    def answer_cache(self) -> AnswerCacheRepository:
        """An answer cache L2 (one per engine, as on SQLite) on the store's pool."""
        return PostgresAnswerCache(self._pool, self.where, origin=self.origin)

    def changes(self) -> ChangeFeed:
        """A feed of what every store on this database commits (LISTEN on a connection
        of its own, made when it starts listening); each call a new one, all closed
        with the store."""
        url, password, entry = self._connecting
        feed = PostgresChanges(url, password, entry=entry, origin=self.origin)
        self._feeds.append(feed)
        return feed

    def flush(self) -> None:
        """Returns once every outcome already returned is committed."""
        self._writer.flush()

    def prune(self) -> PruneReport:
        """Applies the retention now (the pruner thread does it every few minutes)."""
        self.flush()
        return self._pruner.prune()

    def retain(self, retention_days: float | None, spans_max_mb: float | None) -> None:
        """New retention settings: the next round applies them."""
        self._pruner.retention_days = retention_days
        self._pruner.spans_max_mb = spans_max_mb

    @property
    def intake(self) -> IntakeRepository:
        return self._intake

    @property
    def outbox(self) -> OutboxRepository:
        return self._outbox

    @property
    def audit(self) -> AuditRepository:
        return self._audit

    def server_time(self) -> float | None:
        """The database server's clock, in seconds since the epoch: the one clock every
        station of the team shares (a lease or an approval window measured by each
        machine's own would end at different times on different machines)."""
        with pg_translated(f"reading the clock of the PostgreSQL server at {self.where} "
                           "failed"), self._pool.connection() as conn:
            row = conn.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())").fetchone()
        assert row is not None  # a SELECT of one value returns one row
        return float(row[0])

    def health(self) -> list[str]:
        """What keeps this store from taking requests now, in an operator's words (empty:
        healthy): read by /readyz, so it waits at most HEALTH_WAIT_S for a connection."""
        problems = []
        try:
            with self._pool.connection(timeout=HEALTH_WAIT_S) as conn:
                conn.execute("SELECT 1").fetchone()
        except PoolClosed:
            problems.append("the engine database is closed")
        except PoolTimeout:
            problems.append(f"no connection to the PostgreSQL server at {self.where} could "
                            f"be had within {HEALTH_WAIT_S:g} s (is it up?)")
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
            problems.append(f"the PostgreSQL server at {self.where} cannot be read: {first}")
        writer = self._writer.problem
        if writer is not None:
            problems.append(writer)
        return problems

    def close(self) -> None:
        for feed in self._feeds:
            feed.close()
        self._pruner.stop()
        self._writer.stop()  # what is queued is written first, on the pool
        self.instance.stop()  # after the writer: what it wrote is not taken over
        self._pool.close()

    def _run(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        """An `_instances` statement (`?` placeholders) on a pool connection, committed."""
        with self._pool.connection() as conn:
            cur = conn.execute(sql.replace("?", "%s"), tuple(params))
            return cur.fetchall() if cur.description else []
