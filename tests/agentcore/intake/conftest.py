"""An intake on a free loopback port over a real engine (mock LLM, real SQLite)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from agentcore.credentials import KeyringCredentials
from agentcore.engine import Engine
from agentcore.intake.server import IntakeServer
from agentcore.intake.settings import IntakeSettings


class Running:
    """Starts an intake with the given intake settings; closes all it started."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.started: list[tuple[IntakeServer, Engine]] = []

    async def __call__(self, *, extensions: tuple = (), **intake: object) -> IntakeServer:
        self.settings.intake = IntakeSettings(port=0, **intake)  # type: ignore[arg-type]
        engine = Engine(self.settings, credentials=KeyringCredentials())
        server = IntakeServer(engine, self.settings.intake, KeyringCredentials(),
                              extensions=extensions)
        self.started.append((server, engine))
        try:
            await server.start()
        except BaseException:
            await engine.close()
            self.started.remove((server, engine))
            raise
        return server

    async def stop(self, server: IntakeServer) -> None:
        """Closes one server and its engine (a restart: start another on the same data)."""
        for pair in list(self.started):
            if pair[0] is server:
                self.started.remove(pair)
                await server.close()
                await pair[1].close()

    async def close(self) -> None:
        for server, engine in reversed(self.started):
            await server.close()
            await engine.close()


async def until(condition: Callable[[], bool], *, turns: int = 400,
                step_s: float = 0.025) -> None:
    """Waits for `condition` (a bounded number of turns, never a time asserted)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(step_s)
    raise AssertionError("the condition never held")


@pytest.fixture
async def intake(settings):
    running = Running(settings)
    yield running
    await running.close()
