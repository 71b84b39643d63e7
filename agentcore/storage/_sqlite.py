"""The SQLite backend: one engine database file, its connections and threads.

- the caller's connection (the event loop's): accepting a request (synchronous
  and durable, about 30 µs), the escalation queue, the rules;
- the outcome writer's (`_writer`): outcomes and spans, batched, off the loop;
- the checkpointer's: WAL checkpoints (the fsyncs) once a second, off the loop;
- each answer cache's own (`answer_cache()`);
- the learned tier's versions' own (`_learned`), saved from any thread;
- the pruner's, when retention is on (`_retention`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from agentcore.storage._answer_cache import SQLiteAnswerCache
from agentcore.storage._audit import SQLiteAudit
from agentcore.storage._changes import ChangeFeed, NoChanges
from agentcore.storage._connection import Checkpointer, connect, translated
from agentcore.storage._escalations import SQLiteEscalations
from agentcore.storage._instances import GRACE_S, HEARTBEAT_S, Instance, sqlite_runner
from agentcore.storage._intake import SQLiteIntake, SQLiteOutbox
from agentcore.storage._learned import SQLiteLearned
from agentcore.storage._replies import SQLiteReplies
from agentcore.storage._requests import SQLiteRequests, finish_statements
from agentcore.storage._retention import Pruner, PruneReport
from agentcore.storage._rules import SQLiteRules
from agentcore.storage._schema import migrate
from agentcore.storage._traffic import SQLiteTraffic
from agentcore.storage._writer import OutcomeWriter, SQLiteSink

log = logging.getLogger("agentcore.storage")

PRUNE_EVERY_S = 600.0


class SQLiteStorage:
    """`Storage` over one SQLite file. `retention_days` None keeps requests for ever;
    `spans_max_mb` None puts no cap on spans; `prune_every_s` None runs no pruner
    thread (`prune` still works)."""

    def __init__(self, path: Path, *, retention_days: float | None = None,
                 spans_max_mb: float | None = None, now: Callable[[], float] = time.time,
                 prune_every_s: float | None = None, heartbeat_s: float = HEARTBEAT_S,
                 grace_s: float = GRACE_S) -> None:
        self.path = path
        with translated(f"cannot open {path}"):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect(path)
        try:
            with translated(f"cannot open {path}"):
                migrate(self._conn)
            self._sink = SQLiteSink(path, finish_statements)
            self._writer = OutcomeWriter(self._sink)
            self._checkpointer = Checkpointer(path)
            run, self._close_instance_conn = sqlite_runner(path)
            with translated(f"cannot open {path}"):
                # This process on the database: its heartbeat, the owner of what it takes.
                self.instance = Instance(run, heartbeat_s=heartbeat_s, grace_s=grace_s,
                                         errors=sqlite3.Error)
        except BaseException:
            self._conn.close()
            raise
        self._writer.start()
        self._checkpointer.start()
        self._pruner = Pruner(path, retention_days=retention_days, spans_max_mb=spans_max_mb,
                              now=now)
        if prune_every_s is not None:  # a round with nothing to keep in check is a no-op
            self._pruner.start(prune_every_s)
        self._requests = SQLiteRequests(self._conn, self._writer, path, self.instance)
        self._escalations = SQLiteEscalations(self._conn, self._writer,
                                              owner=self.instance.id)
        self._rules = SQLiteRules(self._conn)
        self._traffic = SQLiteTraffic(path, self._writer.flush)
        self._replies = SQLiteReplies(self._conn)
        self._intake = SQLiteIntake(self._conn, path, self.instance)
        self._outbox = SQLiteOutbox(self._conn, path)
        self._learned = SQLiteLearned(path)  # its own connection: saved from any thread
        self._audit = SQLiteAudit(self._conn)

    @property
    def requests(self) -> SQLiteRequests:
        return self._requests

    @property
    def intake(self) -> SQLiteIntake:
        return self._intake

    @property
    def outbox(self) -> SQLiteOutbox:
        return self._outbox

    @property
    def escalations(self) -> SQLiteEscalations:
        return self._escalations

    @property
    def rules(self) -> SQLiteRules:
        return self._rules

    @property
    def traffic(self) -> SQLiteTraffic:
        return self._traffic

    @property
    def replies(self) -> SQLiteReplies:
        return self._replies

    @property
    def learned(self) -> SQLiteLearned:
        return self._learned

    @property
    def audit(self) -> SQLiteAudit:
        return self._audit

    def answer_cache(self) -> SQLiteAnswerCache:
        """An answer cache L2 on a connection of its own (see `_answer_cache`)."""
        return SQLiteAnswerCache(self.path)

    def flush(self) -> None:
        """Returns once every outcome already returned is on disk."""
        self._writer.flush()

    def prune(self) -> PruneReport:
        """Applies the retention now (the pruner thread does it every few minutes)."""
        self.flush()
        return self._pruner.prune()

    def retain(self, retention_days: float | None, spans_max_mb: float | None) -> None:
        """New retention settings (the Settings dialog's): the next round applies them."""
        self._pruner.retention_days = retention_days
        self._pruner.spans_max_mb = spans_max_mb

    def trace(self, callback: Callable[[str], None] | None) -> None:
        """Calls `callback` with every SQL statement this store's engine-side
        connections run (the bench counts statements per request); None stops."""
        for conn in (self._conn, self._sink.conn):
            conn.set_trace_callback(callback)

    def server_time(self) -> float | None:
        """None: this database is one machine's, and its clock is the only one."""
        return None

    def health(self) -> list[str]:
        """What keeps this store from taking requests now, in an operator's words (empty:
        healthy): read by /readyz, so cheap and never waiting on a lock."""
        problems = []
        try:
            self._conn.execute("SELECT 1").fetchone()
        except sqlite3.ProgrammingError:
            problems.append("the engine database is closed")
        except sqlite3.Error as exc:
            problems.append(f"the engine database cannot be read: {exc}")
        # Unlinked under a running engine, the file still takes writes that no restart
        # will ever see: as lost as a refused write.
        if not self.path.exists():
            problems.append(f"the engine database file is gone: {self.path}")
        elif not os.access(self.path, os.W_OK):
            problems.append(f"the engine database is read-only: {self.path}")
        writer = self._writer.problem
        if writer is not None:
            problems.append(writer)
        return problems

    def changes(self) -> ChangeFeed:
        """A feed that never tells anything: this backend is one process's database."""
        return NoChanges()

    def close(self) -> None:
        self._pruner.stop()
        self._writer.stop()
        self.instance.stop()  # after the writer: what it wrote is not taken over
        self._close_instance_conn()
        self._checkpointer.stop()
        self._learned.close()
        try:
            self._conn.close()
        except sqlite3.Error as exc:  # closing cannot lose anything committed
            log.warning("closing %s: %s", self.path, exc)
