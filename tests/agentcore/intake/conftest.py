"""An intake on a free loopback port over a real engine (mock LLM, real SQLite)."""

from __future__ import annotations

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

    async def __call__(self, **intake: object) -> IntakeServer:
        self.settings.intake = IntakeSettings(port=0, **intake)  # type: ignore[arg-type]
        engine = Engine(self.settings, credentials=KeyringCredentials())
        server = IntakeServer(engine, self.settings.intake, KeyringCredentials())
        self.started.append((server, engine))
        try:
            await server.start()
        except BaseException:
            await engine.close()
            self.started.remove((server, engine))
            raise
        return server

    async def close(self) -> None:
        for server, engine in reversed(self.started):
            await server.close()
            await engine.close()


@pytest.fixture
async def intake(settings):
    running = Running(settings)
    yield running
    await running.close()
