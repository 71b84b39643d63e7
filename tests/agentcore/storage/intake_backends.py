"""The intake's and outbox's repositories on each backend (test_intake_outbox), with a way
to put requests and outcomes in beside them, and the processes that contest them.

SQLite's requests come in as the engine makes them. PostgreSQL has no requests
repository yet, so there a request and its outcome are inserted with the parameters
SQLite's statements carry (`finish_statements`), as tests/agentcore/storage/queues.py
does: once `PostgresStorage.requests` exists, `PostgresIntakeBackend.requests` should
become it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentcore.models import Outcome, Request
from agentcore.storage import IntakeRecord, SQLiteStorage
from agentcore.storage._requests import finish_statements, storable_id


@dataclass
class SQLiteIntakeBackend:
    store: SQLiteStorage

    @property
    def intake(self) -> Any:
        return self.store.intake

    @property
    def outbox(self) -> Any:
        return self.store.outbox

    @property
    def escalations(self) -> Any:
        return self.store.escalations

    @property
    def requests(self) -> Any:
        return self.store.requests

    def settle(self) -> None:  # outcomes go to disk through a writer
        self.store.flush()

    def close(self) -> None:
        self.store.close()


@dataclass
class _InsertedRequests:
    """accept and finish as rows, for a backend without a requests repository yet."""

    url: str
    password: str | None

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, password=self.password, autocommit=True)

    def accept(self, req: Request) -> None:
        with self._connect() as conn:
            conn.execute("INSERT INTO requests VALUES (%s, %s, %s, %s, %s, 'accepted', %s)",
                         (req.id, req.text, storable_id(req.customer_id), req.channel,
                          req.received_at, req.note))

    def finish(self, outcome: Outcome) -> None:
        statements = finish_statements(outcome)
        status, rid, _ = statements[-1][1]
        with self._connect() as conn, conn.transaction():
            conn.execute("UPDATE requests SET status = %s WHERE id = %s", (status, rid))
            conn.execute("INSERT INTO outcomes (request_id, route, status, intent, rule_id,"
                         " answer, prompt_tokens, completion_tokens, dollars, latency_ms,"
                         " errors, escalation_reason, finished_at) VALUES"
                         " (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", statements[0][1][:-2])
            reopen = [p for sql, p in statements if sql.startswith("INSERT INTO escalations")]
            if reopen:
                rid, reason, created_at, context, pending, _, _ = reopen[0]
                conn.execute("INSERT INTO escalations (request_id, reason, state, created_at,"
                             " context, pending_status) VALUES (%s, %s, 'open', %s, %s, %s)",
                             (rid, reason, created_at, context, pending))


@dataclass
class PostgresIntakeBackend:
    url: str
    password: str | None
    store: Any  # PostgresStorage
    requests: _InsertedRequests = field(init=False)

    def __post_init__(self) -> None:
        self.requests = _InsertedRequests(self.url, self.password)

    @property
    def intake(self) -> Any:
        return self.store.intake

    @property
    def outbox(self) -> Any:
        return self.store.outbox

    @property
    def escalations(self) -> Any:
        return self.store.escalations

    def settle(self) -> None:
        pass

    def close(self) -> None:
        self.store.close()


def open_store(kind: str, location: str, password: str | None) -> Any:
    """The store a process of its own opens."""
    if kind == "sqlite":
        return SQLiteStorage(Path(location))
    from agentcore.storage._pg import PostgresStorage

    return PostgresStorage(location, password)


def claim_key(kind: str, location: str, password: str | None, key: str, names: list[str],
              start: Any, results: Any) -> None:
    """Claims `key` once per name of `names`, from a thread each, all at once after every
    process is ready; puts (name, (holder, won)) per claim."""
    store = open_store(kind, location, password)
    try:
        ready = threading.Barrier(len(names))

        def run(name: str) -> None:
            record = IntakeRecord(name, key, "api", None, None, "http://hook",
                                  text=f"request {name}", customer_id=7, received_at=1.0)
            ready.wait()
            results.put((name, store.intake.claim(record, 2.0)))

        start.wait()
        workers = [threading.Thread(target=run, args=(name,)) for name in names]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        store.close()


def drain_due(kind: str, location: str, password: str | None, threads: int, batch: int,
              now: float, start: Any, results: Any) -> None:
    """Polls `due` from `threads` threads at once until nothing is due, marking each
    delivery delivered as the outbox would after a send; puts every id it was handed."""
    store = open_store(kind, location, password)
    try:
        ready = threading.Barrier(threads)
        got: list[str] = []
        lock = threading.Lock()

        def run() -> None:
            ready.wait()
            while batch_ := store.outbox.due(now, batch):
                with lock:
                    got.extend(d.id for d in batch_)
                for delivery in batch_:
                    store.outbox.delivered(delivery.id, now)

        start.wait()
        workers = [threading.Thread(target=run) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        results.put(got)
    finally:
        store.close()


def lease_and_hang(location: str, password: str | None, now: float, results: Any) -> None:
    """Takes what is due at `now`, says which, then hangs as a send would until killed."""
    store = open_store("postgresql", location, password)
    results.put([d.id for d in store.outbox.due(now, 10)])
    threading.Event().wait()
