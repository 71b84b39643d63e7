"""Fixtures of the headless core's tests beyond the shared ones (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.agentcore.desk import Desk


@pytest.fixture
async def desk(settings):
    """An engine on a scripted LLM and a fake clock, with a queue over its database;
    a test module's own `settings` fixture shapes it."""
    desk = Desk(settings)
    yield desk
    await desk.engine.close()



class StoreOpener:
    """Opens stores over one database: `kind`, `location` and `password` are what a
    station's process of its own needs to open one too (queues.open_queue)."""

    def __init__(self, kind: str, location: str, password: str | None) -> None:
        self.kind, self.location, self.password = kind, location, password
        self.opened: list = []

    def __call__(self):
        from tests.agentcore.storage.queues import open_queue

        store = open_queue(self.kind, self.location, self.password)
        self.opened.append(store)
        return store


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request, tmp_path):
    """Opens a store over one database on each backend (again, as another station or a
    restart would); every one opened is closed at the end. PostgreSQL's holds only the
    repositories ported so far (agentcore/storage/_pg.py)."""
    if request.param == "sqlite":
        opener = StoreOpener("sqlite", str(tmp_path / "agent.sqlite"), None)
    else:
        opener = StoreOpener("postgresql", request.getfixturevalue("pg_url"),
                             request.getfixturevalue("postgres_server").password)
    yield opener
    for store in opener.opened:
        store.close()
