"""The engine's SQLite database: requests, outcomes, spans, rules, escalations.

WAL mode, one connection owned by the engine's loop. The per-request writes
(one accept, one finish) are single short transactions that cost tens of
microseconds without an fsync (WAL + synchronous=NORMAL survives a process
crash), cheaper than a hop to a worker thread; bulk reads for later views go
through `asyncio.to_thread` on a separate connection.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Any

from agentcore.errors import StorageError
from agentcore.models import Outcome, Request, Status

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
    finished_at REAL NOT NULL
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
CREATE TABLE IF NOT EXISTS escalations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL UNIQUE REFERENCES requests(id),
    reason TEXT NOT NULL,
    state TEXT NOT NULL,            -- open (claims and resolution come with the queue)
    created_at REAL NOT NULL,
    context TEXT NOT NULL           -- JSON: draft answer, tool results, pending action
);
"""

RULE_COLUMNS = ("id", "name", "pattern", "intent", "handler", "template", "priority",
                "enabled", "cache")


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def storable(text: object) -> str:
    """Text SQLite can hold: lone surrogates (invalid UTF-8) become U+FFFD."""
    if not isinstance(text, str):  # a rejected non-text request is kept as its repr
        text = repr(text)
    return text.encode("utf-8", "replace").decode("utf-8")


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {path}: {exc}") from exc

    def close(self) -> None:
        self.conn.close()

    def _write(self, statements: list[tuple[str, Any]]) -> None:
        conn = self.conn
        try:
            conn.execute("BEGIN")
            try:
                for sql, params in statements:
                    if isinstance(params, list):
                        conn.executemany(sql, params)
                    else:
                        conn.execute(sql, params)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StorageError(f"write to {self.path} failed: {exc}") from exc

    # -- requests and outcomes ----------------------------------------------

    def accept(self, request: Request, status: Status | None = None) -> None:
        """Records a request before any work on it starts ('accepted')."""
        self._write([(
            "INSERT OR REPLACE INTO requests VALUES (?, ?, ?, ?, ?, ?, ?)",
            (request.id, storable(request.text), request.customer_id, request.channel,
             request.received_at, str(status or "accepted"), request.note))])

    def finish(self, outcome: Outcome) -> None:
        """Records the outcome, its spans and any escalation, in one transaction."""
        rid = outcome.request.id
        u = outcome.usage
        spans = [(rid, i, s.name, s.parent, s.start, s.end, _json(s.attributes), s.error)
                 for i, s in enumerate(outcome.spans)]
        finished_at = outcome.spans[-1].end if outcome.spans else outcome.request.received_at
        statements: list[tuple[str, Any]] = [
            ("UPDATE requests SET status = ? WHERE id = ?", (str(outcome.status), rid)),
            ("INSERT OR REPLACE INTO outcomes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
            statements.append((
                "INSERT OR IGNORE INTO escalations (request_id, reason, state, created_at,"
                " context) VALUES (?, ?, 'open', ?, ?)",
                (rid, str(outcome.escalation_reason), finished_at, _json(context))))
        self._write(statements)

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
        return self.query(f"SELECT {', '.join(RULE_COLUMNS)} FROM rules ORDER BY position")

    def load_fragments(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT name, pattern FROM rule_fragments"))

    def save_rules(self, rules: list[dict[str, Any]], fragments: dict[str, str]) -> None:
        """Replaces the whole rule set and its fragments in one transaction."""
        rows = [(*(r[c] if c != "enabled" else int(bool(r[c])) for c in RULE_COLUMNS), pos)
                for pos, r in enumerate(rules)]
        self._write([("DELETE FROM rules", ()),
                     (f"INSERT INTO rules ({', '.join(RULE_COLUMNS)}, position) "
                      f"VALUES ({', '.join('?' * (len(RULE_COLUMNS) + 1))})", rows),
                     ("DELETE FROM rule_fragments", ()),
                     ("INSERT INTO rule_fragments VALUES (?, ?)", list(fragments.items()))])
