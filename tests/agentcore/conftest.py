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
