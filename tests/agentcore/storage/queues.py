"""The escalation queue's repository on each backend, with a way to put items in it.

SQLite's items come in as the engine makes them (accept, then finish an escalated
outcome). PostgreSQL has no requests repository yet, so its items are inserted with
the very parameters SQLite's outcome statements carry (`finish_statements`): the same
context JSON, the same outcome row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentcore.models import Outcome
from agentcore.storage import SQLiteStorage
from agentcore.storage._requests import finish_statements, storable_id


@dataclass
class SQLiteQueue:
    path: Path
    store: SQLiteStorage

    @property
    def escalations(self) -> Any:
        return self.store.escalations

    def seed(self, outcome: Outcome) -> int:
        self.store.requests.accept(outcome.request)
        self.store.requests.finish(outcome)
        self.store.flush()
        found = self.store.escalations.of_request(outcome.request.id)
        assert found is not None
        return found

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        self.store.flush()
        return self.store._conn.execute(sql, params).fetchone()  # type: ignore[no-any-return]

    def close(self) -> None:
        self.store.close()


@dataclass
class PostgresQueue:
    url: str
    password: str
    store: Any  # PostgresStorage

    @property
    def escalations(self) -> Any:
        return self.store.escalations

    def seed(self, outcome: Outcome) -> int:
        import psycopg

        req = outcome.request
        statements = finish_statements(outcome)
        outcome_row = statements[0][1][:-2]  # without the fence's id and note (`_STILL_ACCEPTED`)
        rid, reason, created_at, context, pending, _, _ = next(
            p for sql, p in statements if sql.startswith("INSERT INTO escalations"))
        with psycopg.connect(self.url, password=self.password) as conn:
            conn.execute("INSERT INTO requests VALUES (%s, %s, %s, %s, %s, 'escalated', %s)",
                         (req.id, req.text, storable_id(req.customer_id), req.channel,
                          req.received_at, req.note))
            conn.execute("INSERT INTO outcomes (request_id, route, status, intent, rule_id,"
                         " answer, prompt_tokens, completion_tokens, dollars, latency_ms,"
                         " errors, escalation_reason, finished_at) VALUES"
                         " (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", outcome_row)
            row = conn.execute("INSERT INTO escalations (request_id, reason, state, created_at,"
                               " context, pending_status) VALUES (%s, %s, 'open', %s, %s, %s)"
                               " RETURNING id",
                               (rid, reason, created_at, context, pending)).fetchone()
        assert row is not None
        return int(row[0])

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        import psycopg

        with psycopg.connect(self.url, password=self.password) as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchone()  # type: ignore[arg-type]

    def close(self) -> None:
        self.store.close()


def open_queue(kind: str, location: str, password: str | None = None) -> Any:
    """The store a process of its own opens (the contested claims' subprocesses)."""
    if kind == "sqlite":
        return SQLiteStorage(Path(location))
    from agentcore.storage._pg import PostgresStorage

    return PostgresStorage(location, password)
