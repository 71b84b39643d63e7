"""Storage tests run against the repositories' Protocols, one fixture per backend:
a second backend (PostgreSQL) adds a param to `backend` and runs them all."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentcore.clock import FakeClock
from agentcore.storage import Storage

Open = Callable[..., Storage]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", "postgresql"])
def open_backend(request: pytest.FixtureRequest, tmp_path: Path,
                 clock: FakeClock) -> Iterator[Open]:
    """Opens a backend (again, as a second process or a restart would) over one
    database; every one opened is closed at the end. `open_backend.database` reads
    and writes that database directly, as another process would (tests/.../databases)."""
    from tests.agentcore.storage.databases import Database

    if request.param == "sqlite":
        database = Database("sqlite", str(tmp_path / "agent.sqlite"))
    else:
        database = Database("postgresql", request.getfixturevalue("pg_url"),
                            request.getfixturevalue("postgres_server").password)
    opened: list[Storage] = []

    def open_(**options: object) -> Storage:
        store = database.open(now=clock.now, **options)
        opened.append(store)
        return store

    open_.database = database  # type: ignore[attr-defined]
    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def backend(open_backend: Open) -> Storage:
    return open_backend()


@pytest.fixture(params=["sqlite", "postgresql"])
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """The escalation queue's repository on each backend, with `seed` to put an escalated
    outcome in (tests/agentcore/storage/queues.py)."""
    from tests.agentcore.storage.queues import PostgresQueue, SQLiteQueue, open_queue

    made: SQLiteQueue | PostgresQueue
    if request.param == "sqlite":
        path = tmp_path / "agent.sqlite"
        made = SQLiteQueue(path, open_queue("sqlite", str(path)))
    else:
        url = request.getfixturevalue("pg_url")
        password = request.getfixturevalue("postgres_server").password
        made = PostgresQueue(url, password, open_queue("postgresql", url, password))
    yield made
    made.close()


