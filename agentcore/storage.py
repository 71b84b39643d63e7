"""The engine's SQLite database: requests, outcomes, spans, rules, escalations.

WAL mode with synchronous=NORMAL (a process crash loses nothing committed).
Accepting a request is one short transaction on the caller's connection
(about 30 µs): it must be on disk before any work starts. Outcomes and their
spans, the bulk of the bytes, go to a writer thread with its own connection,
which commits them in batches and runs the WAL checkpoints, so neither the
encoding nor an fsync ever stalls the event loop (the GUI's, in the console).
An outcome reaches the disk a few milliseconds after it is returned; if the
process dies in between, its request is still 'accepted' and is re-run on
restart, and write tools are idempotent, so nothing acts twice. Reads through
this class flush first, so they always see every outcome already returned.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from agentcore.errors import DuplicateRequest, StorageError
from agentcore.models import Outcome, Request, Status
from agentcore.sqlite_tx import transaction

log = logging.getLogger("agentcore.storage")

SCHEMA = """
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
    operator TEXT                   -- who resolved it (route 'human'); NULL: the engine
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

# Columns the escalation queue added to `escalations`; `_migrate` adds any an older
# database lacks, so one code path serves new and old files alike.
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

# Columns added to `outcomes` since the first release, migrated the same way.
OUTCOME_COLUMNS = {"operator": "TEXT"}

RULE_COLUMNS = ("id", "name", "pattern", "intent", "handler", "template", "priority",
                "enabled", "cache")


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def storable(text: object) -> str:
    """Text SQLite can hold: lone surrogates (invalid UTF-8) become U+FFFD."""
    if not isinstance(text, str):  # a rejected non-text request is kept as its repr
        text = repr(text)
    return text.encode("utf-8", "replace").decode("utf-8")


def _storable_id(customer_id: object) -> int | None:
    """A customer id SQLite can hold; a rejected request's wild one is dropped."""
    if type(customer_id) is int and -(2**63) <= customer_id < 2**63:
        return customer_id
    return None


def _connect(path: Path, *, checkpoints: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=5000")  # the other connection may hold the write lock
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    if not checkpoints:
        conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does it
    return conn


def _execute(conn: sqlite3.Connection, statements: list[tuple[str, Any]]) -> None:
    """Runs statements in one transaction (a list of parameters means executemany)."""
    with transaction(conn):
        for sql, params in statements:
            if isinstance(params, list):
                conn.executemany(sql, params)
            else:
                conn.execute(sql, params)


# A re-escalated item's earlier pending write, and how it was settled (approved with an
# override, say), joins its history instead of being overwritten by the new one.
_KEEP_PENDING = (
    "CASE WHEN escalations.pending_status IS NULL THEN escalations.pending_history"
    " ELSE json_insert(COALESCE(escalations.pending_history, '[]'), '$[#]', json_object("
    "'action', json(json_extract(escalations.context, '$.pending_action')),"
    " 'status', escalations.pending_status,"
    " 'result', json(COALESCE(escalations.pending_result, 'null')))) END")


def _finish_statements(outcome: Outcome) -> list[tuple[str, Any]]:
    """What recording an outcome writes: its row, its spans, any escalation."""
    rid = outcome.request.id
    u = outcome.usage
    spans = [(rid, i, s.name, s.parent, s.start, s.end, _json(s.attributes), s.error)
             for i, s in enumerate(outcome.spans)]
    finished_at = outcome.spans[-1].end if outcome.spans else outcome.request.received_at
    statements: list[tuple[str, Any]] = [
        ("UPDATE requests SET status = ? WHERE id = ?", (str(outcome.status), rid)),
        # Named columns: `operator` is the queue's to set, and an engine outcome
        # (a re-run after a hand-back) replaces the row with it NULL again.
        ("INSERT OR REPLACE INTO outcomes (request_id, route, status, intent, rule_id,"
         " answer, prompt_tokens, completion_tokens, dollars, latency_ms, errors,"
         " escalation_reason, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
         (rid, str(outcome.route), str(outcome.status), outcome.intent, outcome.rule_id,
          storable(outcome.answer), u.prompt_tokens, u.completion_tokens, u.dollars,
          outcome.latency_ms, _json(outcome.errors),
          str(outcome.escalation_reason) if outcome.escalation_reason else None,
          finished_at)),
        ("DELETE FROM spans WHERE request_id = ?", (rid,)),
        ("INSERT INTO spans VALUES (?,?,?,?,?,?,?,?)", spans),
    ]
    if outcome.status is Status.ESCALATED:
        context = {
            "draft_answer": outcome.draft_answer,
            "tool_results": outcome.tool_results,
            "pending_action": asdict(outcome.pending_action)
            if outcome.pending_action else None,
            "errors": outcome.errors,
            "intent": outcome.intent,
        }
        # A request handed back to the agent that escalates again reopens its item
        # (same id and created_at: it keeps its place in the queue) with the new
        # context; any other existing item is left alone.
        statements.append((
            "INSERT INTO escalations (request_id, reason, state, created_at, context,"
            " pending_status) VALUES (?, ?, 'open', ?, ?, ?)"
            " ON CONFLICT (request_id) DO UPDATE SET reason = excluded.reason,"
            " state = 'open', context = excluded.context, pending_history = " + _KEEP_PENDING +
            ", pending_status = excluded.pending_status, pending_result = NULL,"
            " claimed_by = NULL, lease_expires_at = NULL"
            " WHERE escalations.state = 'handed_back'",
            (rid, str(outcome.escalation_reason), finished_at, _json(context),
             "waiting" if outcome.pending_action else None)))
    elif outcome.request.note is not None:  # a hand-back's re-run, settled
        statements.append(_settle_hand_back(rid, outcome.status, finished_at))
    return statements


def _settle_hand_back(rid: str, status: Status, finished_at: float) -> tuple[str, Any]:
    """A handed-back item the agent answered is resolved; one the guard turned away
    (rate limit) goes back to the operators. Same transaction as the outcome."""
    if status is Status.ANSWERED:
        return ("UPDATE escalations SET state = 'resolved', resolved_at = ?,"
                " resolved_by = 'agent', resolution = 'answered by the agent'"
                " WHERE request_id = ? AND state = 'handed_back'", (finished_at, rid))
    return ("UPDATE escalations SET state = 'open', claimed_by = NULL,"
            " lease_expires_at = NULL WHERE request_id = ? AND state = 'handed_back'", (rid,))


def _migrate(conn: sqlite3.Connection) -> None:
    """Adds the columns a database made by an older version lacks (idempotent; in
    one IMMEDIATE transaction, so two processes opening one file migrate once)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        have = {row[1] for row in conn.execute("PRAGMA table_info(escalations)")}
        for name, kind in ESCALATION_COLUMNS.items():
            if name not in have:
                conn.execute(f"ALTER TABLE escalations ADD COLUMN {name} {kind}")
        have = {row[1] for row in conn.execute("PRAGMA table_info(outcomes)")}
        for name, kind in OUTCOME_COLUMNS.items():
            if name not in have:
                conn.execute(f"ALTER TABLE outcomes ADD COLUMN {name} {kind}")
        conn.execute("CREATE INDEX IF NOT EXISTS escalations_by_state"
                     " ON escalations(state, created_at)")
        conn.execute("CREATE INDEX IF NOT EXISTS escalations_by_resolution"  # the look back
                     " ON escalations(state, resolved_at)")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class _Checkpointer(threading.Thread):
    """Moves the WAL into the database once a second, off the engine's thread.

    A checkpoint is where SQLite fsyncs; done by the engine's own connection
    it would stall the event loop for milliseconds now and then. PASSIVE
    never blocks writers: they go on appending to the WAL meanwhile."""

    def __init__(self, path: Path, interval_s: float = 1.0) -> None:
        super().__init__(name="agentcore-checkpointer", daemon=True)
        self.conn = _connect(path, checkpoints=True)
        self.interval_s = interval_s
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval_s):
            self._checkpoint()
        self._checkpoint()
        self.conn.close()

    def _checkpoint(self) -> None:
        try:
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # busy or disk trouble: the next round tries again
            log.warning("WAL checkpoint failed: %s", exc)


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = _connect(path, checkpoints=False)
            self.conn.executescript(SCHEMA)
            _migrate(self.conn)
            self._checkpointer = _Checkpointer(path)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {path}: {exc}") from exc
        self._checkpointer.start()

    def close(self) -> None:
        self._checkpointer.stopping.set()
        self._checkpointer.join()
        self.conn.close()

    def _write(self, statements: list[tuple[str, Any]]) -> None:
        try:
            _execute(self.conn, statements)
        except sqlite3.Error as exc:
            raise StorageError(f"write to {self.path} failed: {exc}") from exc

    # -- requests and outcomes ----------------------------------------------

    def accept(self, request: Request, status: Status | None = None, *,
               again: bool = False) -> None:
        """Records a request before any work on it starts ('accepted').

        An id is used once: DuplicateRequest when it is taken, so a reused id never
        overwrites a request, its outcome or an operator's reply. `again` is a re-run
        of that same request, already marked accepted on disk (what a crash left, or a
        hand-back): the same text for the same customer, or it is a duplicate too."""
        row = (request.id, storable(request.text), _storable_id(request.customer_id),
               storable(request.channel), request.received_at, str(status or "accepted"),
               request.note)
        try:
            with transaction(self.conn):
                if again:
                    if self.conn.execute(
                            "UPDATE requests SET note = ? WHERE id = ? AND status = 'accepted'"
                            " AND text = ? AND customer_id IS ?",
                            (request.note, request.id, row[1], row[2])).rowcount == 1:
                        return
                    if self.conn.execute("SELECT 1 FROM requests WHERE id = ?",
                                         (request.id,)).fetchone():
                        raise sqlite3.IntegrityError("not a request waiting to be re-run")
                self.conn.execute("INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        except sqlite3.IntegrityError:
            raise DuplicateRequest(f"request id {request.id!r} was already used; a request "
                                   "needs an id of its own") from None
        except sqlite3.Error as exc:
            raise StorageError(f"write to {self.path} failed: {exc}") from exc

    def finish(self, outcome: Outcome) -> None:
        """Records the outcome, its spans and any escalation, in one transaction."""
        self._write(_finish_statements(outcome))

    def unfinished(self) -> list[Request]:
        """Accepted requests with no outcome: what a crash interrupted."""
        rows = self.conn.execute(
            "SELECT id, text, customer_id, channel, received_at, note FROM requests "
            "WHERE status = 'accepted' ORDER BY received_at").fetchall()
        return [Request(text=t, customer_id=c, channel=ch, id=i, received_at=r, note=n)
                for i, t, c, ch, r, n in rows]

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # -- rules ---------------------------------------------------------------

    def load_rules(self) -> list[dict[str, Any]]:
        rows = self.query(f"SELECT {', '.join(RULE_COLUMNS)} FROM rules ORDER BY position")
        # SQLite has no booleans: 1 would reach exports and diffs as 'enabled: 1'.
        return [{**row, "enabled": bool(row["enabled"])} for row in rows]

    def load_fragments(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT name, pattern FROM rule_fragments"))

    def save_rules(self, rules: list[dict[str, Any]], fragments: dict[str, str],
                   also: list[tuple[str, Any]] | None = None) -> None:
        """Replaces the whole rule set and its fragments in one transaction, with
        `also` (e.g. the version row that records the change) in the same one."""
        rows = [(*(r[c] if c != "enabled" else int(bool(r[c])) for c in RULE_COLUMNS), pos)
                for pos, r in enumerate(rules)]
        self._write([("DELETE FROM rules", ()),
                     (f"INSERT INTO rules ({', '.join(RULE_COLUMNS)}, position) "
                      f"VALUES ({', '.join('?' * (len(RULE_COLUMNS) + 1))})", rows),
                     ("DELETE FROM rule_fragments", ()),
                     ("INSERT INTO rule_fragments VALUES (?, ?)", list(fragments.items())),
                     *(also or [])])
