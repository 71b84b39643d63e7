"""The engine database: the only code that speaks SQL to it.

Typed repositories behind small Protocols (`_protocols`), with SQLite as the
embedded implementation (`SQLiteStorage`): requests and outcomes, the
escalation queue's state machine, rules and their history, the learned tier's
models and versions, the answer cache's
L2, recorded traffic for backtests, and who did what (`_audit`: the audit log
beside the rule and learned versions). Every sqlite3 error leaves as a
StorageError (agentcore.errors). See `_sqlite` for the connections and
threads, `_writer` for when an outcome reaches the disk, `_schema` for the
migrations and `_retention` for what is pruned.

PostgreSQL, the team backend (docs/postgresql.md), implements the same Protocols:
its schema (`_pg_schema`), connections (`_pg_connection`) and repositories
(`_pg_*`), assembled by `_pg.PostgresStorage`; `migrate_postgres` is public. Its
modules are imported on use (agentcore.database.open_storage): psycopg would cost
every start of the app ~70 ms.
`Storage.changes()` tells what other processes commit (`_changes`: LISTEN/NOTIFY on
PostgreSQL, `_pg_notify`; nothing on SQLite, one process's file).
"""

from agentcore.models import storable
from agentcore.storage._answer_cache import SQLiteAnswerCache, StoredAnswer
from agentcore.storage._audit import AUDIT_KINDS, AuditEntry, SQLiteAudit
from agentcore.storage._changes import CHANGE_KINDS, Change, ChangeFeed, NoChanges
from agentcore.storage._channel_posts import ChannelOutcome
from agentcore.storage._connection import transaction
from agentcore.storage._intake import (
    Delivery,
    IntakeRecord,
    OutboxEntry,
    OutboxState,
    SQLiteIntake,
    SQLiteOutbox,
)
from agentcore.storage._learned import LearnedRecord, SQLiteLearned, StoredLearned
from agentcore.storage._migrations import Migrated, migrate_postgres, migrate_sqlite
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
    Storage,
    TrafficRepository,
)
from agentcore.storage._replies import SavedReply
from agentcore.storage._requests import LatencyBins, OutcomeHistory
from agentcore.storage._retention import PruneReport
from agentcore.storage._rules import StoredVersion, VersionRecord
from agentcore.storage._schema import SCHEMA_VERSION
from agentcore.storage._sqlite import SQLiteStorage
from agentcore.storage._traffic import IntentRow, RecordedRow, SQLiteTraffic

Store = SQLiteStorage  # the engine's default backend, by its old name

__all__ = [
    "AUDIT_KINDS",
    "CHANGE_KINDS",
    "SCHEMA_VERSION",
    "AnswerCacheRepository",
    "AuditEntry",
    "AuditRepository",
    "Change",
    "ChangeFeed",
    "ChannelOutcome",
    "Delivery",
    "EscalationRepository",
    "IntakeRecord",
    "IntakeRepository",
    "IntentRow",
    "LatencyBins",
    "LearnedRecord",
    "LearnedRepository",
    "Migrated",
    "NoChanges",
    "OutboxEntry",
    "OutboxRepository",
    "OutboxState",
    "OutcomeHistory",
    "PruneReport",
    "RecordedRow",
    "ReplyRepository",
    "RequestRepository",
    "RuleRepository",
    "SQLiteAnswerCache",
    "SQLiteAudit",
    "SQLiteIntake",
    "SQLiteLearned",
    "SQLiteOutbox",
    "SQLiteStorage",
    "SQLiteTraffic",
    "SavedReply",
    "Storage",
    "Store",
    "StoredAnswer",
    "StoredLearned",
    "StoredVersion",
    "TrafficRepository",
    "VersionRecord",
    "migrate_postgres",
    "migrate_sqlite",
    "storable",
    "transaction",
]
