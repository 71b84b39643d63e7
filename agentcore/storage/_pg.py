"""The PostgreSQL backend, as far as it goes: one pool of connections to a team's
database, migrated on open, and the repositories built on it so far.

Here so far: the escalation queue (`PostgresEscalations`), the rule set with its
versions and rejected suggestions (`PostgresRules`), the saved replies
(`PostgresReplies`), the learned tier's versions and models (`PostgresLearned`) and
the answer cache's L2 with its invalidation log (`PostgresAnswerCache`). Not yet:
requests, outcomes, spans, recorded traffic, retention, the intake and its outbox.
The engine needs every repository of `Storage`, so it refuses a PostgreSQL URL until
they all are (agentcore.database), rather than keep some tables on one database and
the rest on another.
"""

from __future__ import annotations

from agentcore.storage._pg_answer_cache import PostgresAnswerCache
from agentcore.storage._pg_connection import open_pool, parse_url, pg_translated
from agentcore.storage._pg_escalations import PostgresEscalations
from agentcore.storage._pg_learned import PostgresLearned
from agentcore.storage._pg_replies import PostgresReplies
from agentcore.storage._pg_rules import PostgresRules
from agentcore.storage._pg_schema import migrate
from agentcore.storage._protocols import (
    AnswerCacheRepository,
    EscalationRepository,
    LearnedRepository,
    ReplyRepository,
    RuleRepository,
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
        self._rules = PostgresRules(self._pool, self.where)
        self._replies = PostgresReplies(self._pool, self.where)
        self._learned = PostgresLearned(self._pool, self.where)

    @property
    def escalations(self) -> EscalationRepository:  # mypy checks it keeps the Protocol
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
        return PostgresAnswerCache(self._pool, self.where)

    def close(self) -> None:
        self._pool.close()
