"""The engine database's schema (SQLite) and its migrations, in one place.

The version is SQLite's `PRAGMA user_version`: 0 is a file made before versions
were kept (or a new one), each migration moves it one step, in one IMMEDIATE
transaction, so two processes opening one file migrate it once. Steps are
idempotent (CREATE ... IF NOT EXISTS, columns added only when missing), so a
file of any earlier release comes up to date. A second backend keeps migrations
of its own; only the repositories' behaviour is shared.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from agentcore.storage._connection import transaction
from agentcore.storage._instances import INSTANCES

BASE = """
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    customer_id INTEGER,
    channel TEXT NOT NULL,
    received_at REAL NOT NULL,
    status TEXT NOT NULL,           -- accepted, answered, escalated, rejected
    note TEXT
);
CREATE INDEX IF NOT EXISTS requests_by_status ON requests(status);
CREATE TABLE IF NOT EXISTS outcomes (
    request_id TEXT PRIMARY KEY REFERENCES requests(id),
    route TEXT NOT NULL,
    status TEXT NOT NULL,
    intent TEXT,
    rule_id TEXT,
    answer TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    dollars REAL NOT NULL,
    latency_ms REAL NOT NULL,
    errors TEXT NOT NULL,           -- JSON list
    escalation_reason TEXT,
    finished_at REAL NOT NULL,
    operator TEXT                   -- who resolved it (route 'human'), NULL: the engine
);
CREATE TABLE IF NOT EXISTS spans (
    request_id TEXT NOT NULL REFERENCES requests(id),
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    parent TEXT,
    start REAL NOT NULL,
    end REAL NOT NULL,
    attributes TEXT NOT NULL,       -- JSON object
    error TEXT,
    PRIMARY KEY (request_id, seq)
);
CREATE TABLE IF NOT EXISTS rules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    pattern TEXT NOT NULL,
    intent TEXT NOT NULL,
    handler TEXT NOT NULL,
    template TEXT NOT NULL,
    priority INTEGER NOT NULL,
    enabled INTEGER NOT NULL,
    cache TEXT NOT NULL,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rule_fragments (
    name TEXT PRIMARY KEY,
    pattern TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rule_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    author TEXT NOT NULL,
    action TEXT NOT NULL,           -- seed, apply, import, revert, undo, redo (rulebook.py)
    summary TEXT NOT NULL,
    restores INTEGER,               -- undo, redo, revert: the version whose rules came back
    rules TEXT NOT NULL,            -- JSON list: the whole rule set after this change
    fragments TEXT NOT NULL         -- JSON object
);
CREATE TABLE IF NOT EXISTS rejected_suggestions (
    key TEXT PRIMARY KEY,           -- intent and pattern: a rejected one is never offered again
    pattern TEXT NOT NULL,
    intent TEXT NOT NULL,
    author TEXT NOT NULL,
    rejected_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS escalations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL UNIQUE REFERENCES requests(id),
    reason TEXT NOT NULL,
    state TEXT NOT NULL,            -- open, claimed, resolved, handed_back (escalations.py)
    created_at REAL NOT NULL,
    context TEXT NOT NULL           -- JSON: draft answer, tool results, pending action
);
CREATE TABLE IF NOT EXISTS labelled_examples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL UNIQUE REFERENCES requests(id),
    text TEXT NOT NULL,
    customer_id INTEGER,
    intent TEXT,
    answer TEXT NOT NULL,
    source TEXT NOT NULL,           -- 'human': an operator's reply
    operator TEXT,
    created_at REAL NOT NULL
);
"""

# Columns the escalation queue added to `escalations` after the first release.
ESCALATION_COLUMNS = {
    "claimed_by": "TEXT",
    "lease_expires_at": "REAL",
    "resolved_at": "REAL",
    "resolved_by": "TEXT",  # an operator, or 'agent' when a hand-back was answered
    "resolution": "TEXT",  # replied, resolved, answered by the agent
    "note": "TEXT",  # the operator's note of a hand-back
    "pending_status": "TEXT",  # waiting, approving, approved, failed, denied (NULL: no action)
    "pending_result": "TEXT",  # JSON: what approving did, or why it failed or was denied
    "approving_until": "REAL",  # while approving: past it, a crash cut the approval short
    "reply_draft": "TEXT",  # the reply being written: kept across a restart or a crash
    "note_draft": "TEXT",  # the hand-back note being written
    "draft_by": "TEXT",  # whose drafts they are: nobody else is shown them
    "pending_history": "TEXT",  # JSON list: earlier pending writes and how each was settled
}
OUTCOME_COLUMNS = {"operator": "TEXT"}

# The answer cache's L2 (agentcore.cache): answers, their tags, and the log of
# invalidated tags each process's L1 catches up from. A trigger on the log deletes
# the tagged answers in the invalidating transaction itself.
ALL_TAG = "*"  # logged by a clear: every entry goes
ANSWER_CACHE = """
CREATE TABLE IF NOT EXISTS answer_cache (
    key TEXT PRIMARY KEY,            -- 's:<text>' shared, 'c:<customer>:<text>' per customer
    policy TEXT NOT NULL,
    intent TEXT,
    value TEXT NOT NULL,             -- JSON: answer, rule_id, route, customer_id
    tags TEXT NOT NULL,              -- JSON list, as answer_cache_tags holds them
    stored_at REAL NOT NULL,         -- wall-clock seconds (TTL must survive a restart)
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS answer_cache_shared_by_intent ON answer_cache(intent, stored_at)
    WHERE policy = 'shared';
CREATE INDEX IF NOT EXISTS answer_cache_by_expiry ON answer_cache(expires_at);
CREATE TABLE IF NOT EXISTS answer_cache_tags (
    tag TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (tag, key)
) WITHOUT ROWID;
-- AUTOINCREMENT: sequence numbers are never reused, so a reader that finds
-- one missing knows the log was pruned past it.
CREATE TABLE IF NOT EXISTS answer_cache_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tag TEXT NOT NULL
);
-- How far the cache has read each outside change log (the shop's): changes made
-- while no engine ran are still applied at the next start.
CREATE TABLE IF NOT EXISTS answer_cache_sources (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
"""
ANSWER_CACHE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS answer_cache_untag AFTER DELETE ON answer_cache BEGIN "
    "DELETE FROM answer_cache_tags WHERE key = OLD.key AND tag IN "
    "(SELECT value FROM json_each(OLD.tags)); END",
    "CREATE TRIGGER IF NOT EXISTS answer_cache_drop AFTER INSERT ON answer_cache_log "
    f"WHEN NEW.tag <> '{ALL_TAG}' BEGIN DELETE FROM answer_cache WHERE key IN "
    "(SELECT key FROM answer_cache_tags WHERE tag = NEW.tag); END",
    "CREATE TRIGGER IF NOT EXISTS answer_cache_clear AFTER INSERT ON answer_cache_log "
    f"WHEN NEW.tag = '{ALL_TAG}' BEGIN DELETE FROM answer_cache_tags; "
    "DELETE FROM answer_cache; END",
)


def _statements(script: str) -> list[str]:
    """A script of plain DDL cut into statements (executescript would COMMIT the open
    transaction); the DDL holds no ';' in strings or comments."""
    return [s.strip() for s in script.split(";") if s.strip()]


def _add_columns(conn: sqlite3.Connection, table: str, columns: dict[str, str]) -> None:
    have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    for name, kind in columns.items():
        if name not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


def _v1(conn: sqlite3.Connection) -> None:
    """The tables of the releases before versions were kept, with every column
    those releases added since (a file of any of them arrives here with version 0)."""
    for statement in _statements(BASE):
        conn.execute(statement)
    _add_columns(conn, "escalations", ESCALATION_COLUMNS)
    _add_columns(conn, "outcomes", OUTCOME_COLUMNS)
    conn.execute("CREATE INDEX IF NOT EXISTS escalations_by_state"
                 " ON escalations(state, created_at)")
    conn.execute("CREATE INDEX IF NOT EXISTS escalations_by_resolution"  # the look back
                 " ON escalations(state, resolved_at)")


def _v2(conn: sqlite3.Connection) -> None:
    """The answer cache moves in from the shop's database; retention needs the
    finished outcomes by age."""
    for statement in (*_statements(ANSWER_CACHE), *ANSWER_CACHE_TRIGGERS):
        conn.execute(statement)
    conn.execute("CREATE INDEX IF NOT EXISTS outcomes_by_finished ON outcomes(finished_at)")


def _v3(conn: sqlite3.Connection) -> None:
    """Saved replies (macros) the operators share."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS saved_replies ("
        " id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE, body TEXT NOT NULL,"
        " updated_by TEXT NOT NULL, updated_at REAL NOT NULL)")
    # A team starts with a few it can edit: a greeting, a refund done, a delay.
    for title, body in STARTER_REPLIES:
        conn.execute("INSERT OR IGNORE INTO saved_replies (title, body, updated_by,"
                     " updated_at) VALUES (?, ?, 'console', 0)", (title, body))


STARTER_REPLIES = (
    ("Refund issued", "Hi {first_name},\n\nI've refunded {amount} for order #{order_id}. "
     "It will show on your original payment method within 5-10 business days.\n\n"
     "Best regards,\n{operator}"),
    ("Looking into it", "Hi {first_name},\n\nThanks for your patience. I'm looking into "
     "order #{order_id} myself and will write again today.\n\nBest regards,\n{operator}"),
    ("Need more details", "Hi {first_name},\n\nTo help you with this, could you tell me "
     "the order number and what went wrong?\n\nBest regards,\n{operator}"),
)

def _v4(conn: sqlite3.Connection) -> None:
    """The day's spend from the index alone: the status bar sums it at every start, and
    with 300,000 outcomes in a day, reading each row's cost from the table took 0.24 s
    of the console's start. The old index on finished_at alone is covered by this one."""
    conn.execute("CREATE INDEX IF NOT EXISTS outcomes_by_finished_cost"
                 " ON outcomes(finished_at, dollars)")
    conn.execute("DROP INDEX IF EXISTS outcomes_by_finished")


def _v5(conn: sqlite3.Connection) -> None:
    """The learned tier's versions (`_learned`): each a model, or a change of threshold
    or switch naming the version whose model it runs; the newest is the current one."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS learned_models ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " created_at REAL NOT NULL,"
        " operator TEXT NOT NULL,"
        " action TEXT NOT NULL,"  # train, threshold, enable, disable, undo
        " examples INTEGER NOT NULL,"
        " threshold REAL NOT NULL,"
        " enabled INTEGER NOT NULL,"
        " restores INTEGER,"  # undo: the version whose state came back
        " model_of INTEGER REFERENCES learned_models(id),"  # the version holding the model
        " backtest TEXT,"  # JSON: the backtest it was saved with
        " model BLOB)")  # only in the version that trained it


def _v6(conn: sqlite3.Connection) -> None:
    """The intake (`_intake`): each request that came in over HTTP under its idempotency
    key (NULL: none given), with the callback URL its outcome goes to; and the outbox,
    deliveries owed to someone else's server (a webhook, a help desk's API), one per key,
    kept until delivered so a crash neither loses nor repeats a delivery id."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS intake_requests ("
        " request_id TEXT PRIMARY KEY,"
        " key TEXT UNIQUE,"  # the Idempotency-Key (or channel + external_id); NULLs differ
        " channel TEXT NOT NULL,"
        " conversation_id TEXT,"
        " external_id TEXT,"
        " callback TEXT,"  # the webhook URL its outcome is owed to, NULL: none
        " created_at REAL NOT NULL)")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS outbox ("
        " id TEXT PRIMARY KEY,"  # the delivery id the receiver dedupes by
        " key TEXT NOT NULL UNIQUE,"  # what it delivers, e.g. outcome:<request id>
        " kind TEXT NOT NULL,"  # which deliverer sends it (webhook, chatwoot, ...)
        " target TEXT NOT NULL,"
        " payload TEXT NOT NULL,"  # JSON
        " created_at REAL NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0,"
        " next_at REAL NOT NULL,"
        " delivered_at REAL,"
        " last_error TEXT)")
    conn.execute("CREATE INDEX IF NOT EXISTS outbox_due ON outbox(delivered_at, next_at)")


def _v7(conn: sqlite3.Connection) -> None:
    """A claim keeps what it takes to run its request (text, customer, arrival), so one a
    crash cut off before the engine accepted it is run at the next start, not only on a
    redelivery; an outbox delivery can be dead (a permanent refusal, or owed too long),
    never sent again unless an operator revives it (`retried_at`: since when it is owed
    again). Owed deliveries get a partial index of their own: dead ones, kept for the
    operator, cost the sender's poll nothing."""
    _add_columns(conn, "intake_requests", {"text": "TEXT", "customer_id": "INTEGER",
                                           "received_at": "REAL"})
    _add_columns(conn, "outbox", {"dead_at": "REAL", "retried_at": "REAL"})
    conn.execute("CREATE INDEX IF NOT EXISTS outbox_owed ON outbox(next_at)"
                 " WHERE delivered_at IS NULL AND dead_at IS NULL")
    conn.execute("CREATE INDEX IF NOT EXISTS outbox_dead ON outbox(dead_at)"
                 " WHERE dead_at IS NOT NULL")
    conn.execute("DROP INDEX IF EXISTS outbox_due")  # covered by outbox_owed


AUDIT_LOG = """
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    operator TEXT NOT NULL,
    kind TEXT NOT NULL,
    item TEXT NOT NULL,
    detail TEXT NOT NULL
)"""


def _v8(conn: sqlite3.Connection) -> None:
    """Who did what (`_audit`): what the queue's and the saved replies' tables keep only
    as their state now (a claim, a release, a denial, an edited or deleted reply), one
    row an action, appended in the action's own transaction and never changed. Rule
    versions and learned versions are kept already: the listing reads those."""
    conn.execute(AUDIT_LOG)
    conn.execute("CREATE INDEX IF NOT EXISTS audit_log_by_time ON audit_log(at)")


def _v9(conn: sqlite3.Connection) -> None:
    """Which process took what (`_instances`): the instances on this database with their
    heartbeats, and the owner of each request and each intake claim, so a resume takes
    over only what a dead (or stopped) instance left, never another one's in flight.
    NULL owners (rows of earlier releases) are anyone's."""
    conn.execute(INSTANCES)
    _add_columns(conn, "requests", {"owner": "TEXT"})
    _add_columns(conn, "intake_requests", {"owner": "TEXT"})


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1, _v2, _v3, _v4, _v5, _v6,
                                                                 _v7, _v8, _v9)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Brings the file up to SCHEMA_VERSION; returns the version it had."""
    with transaction(conn, "IMMEDIATE"):
        found = schema_version(conn)
        if found > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"the database is of schema version {found}, newer than this release's "
                f"{SCHEMA_VERSION}: run the release that made it")
        for step in MIGRATIONS[found:]:
            step(conn)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return found
