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
                  extensions: Iterable[Extension] | None = None) -> IntakeServer:
    """Not started: `await server.start()` binds on the running loop (qasync's too),
    `await server.close()` stops it gracefully; `server.url`, `server.intake.per_minute()`
    say what the status bar shows. `extensions` None: the standard ones."""
    from agentcore.intake.server import IntakeServer

    if extensions is None:
        extensions = standard_extensions(credentials)
    return IntakeServer(engine, settings, credentials, extensions=extensions)


def standard_extensions(credentials: KeyringCredentials | None) -> list[Extension]:
    """What `agentcore serve` and the console's intake mount beside /v1/requests:
    /healthz, /readyz and /metrics, and the Chatwoot channel (when the settings have
    `chatwoot`)."""
    from agentcore.channels.chatwoot import extension
    from agentcore.credentials import KeyringCredentials
    from agentcore.telemetry import install

    return [install, extension(credentials or KeyringCredentials())]
