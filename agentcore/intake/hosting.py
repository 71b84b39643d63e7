"""`intake_server(...)`: an IntakeServer for embedders (the console), exported from
`agentcore` without importing aiohttp until one is built (cold start)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentcore.credentials import KeyringCredentials
    from agentcore.engine import Engine
    from agentcore.intake.server import Extension, IntakeServer
    from agentcore.intake.settings import IntakeSettings


def intake_server(engine: Engine, settings: IntakeSettings,
                  credentials: KeyringCredentials | None, *,
                  extensions: Iterable[Extension] = ()) -> IntakeServer:
    """Not started: `await server.start()` binds on the running loop (qasync's too),
    `await server.close()` stops it gracefully; `server.url`, `server.intake.per_minute()`
    say what the status bar shows."""
    from agentcore.intake.server import IntakeServer

    return IntakeServer(engine, settings, credentials, extensions=extensions)
