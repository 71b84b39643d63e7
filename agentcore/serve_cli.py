"""`agentcore serve [--host H] [--port P] [--database URL]`: the engine headless behind
the HTTP intake. Several instances may serve one PostgreSQL database (a team's), each
behind its own port: they share the queue, the rules and the intake's claims.

Serves until SIGINT or SIGTERM, then shuts down gracefully: stops accepting,
lets in-flight requests finish within `intake.shutdown_grace_s` (what is cut
short stays accepted on disk and is resumed at the next start, as is whatever
a crash left), and flushes the outcomes. The bearer token and the callbacks'
signing secret come from the keyring entries the settings name.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from agentcore.database import add_database_flag, database_name
from agentcore.settings import Settings


def add_serve_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the engine headless behind the HTTP intake",
                           description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--host", help="address to bind (default: the settings', 127.0.0.1); "
                                      "any but loopback needs a token in the keyring")
    serve.add_argument("--port", type=int, help="TCP port (default: the settings', 8088)")
    add_database_flag(serve)


async def run_serve(settings: Settings, args: argparse.Namespace) -> int:
    from agentcore.credentials import KeyringCredentials
    from agentcore.engine import Engine
    from agentcore.intake.hosting import standard_extensions
    from agentcore.intake.server import IntakeServer
    from agentcore.telemetry import start_tracing

    intake = settings.intake.model_copy(update={
        k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None})
    credentials = KeyringCredentials()
    engine = Engine(settings, credentials=credentials)
    stop_tracing = start_tracing(engine, settings)  # OTLP when OTEL_EXPORTER_OTLP_* asks
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = IntakeServer(engine, intake, credentials,
                          extensions=standard_extensions(credentials))
    try:
        url = await server.start()
        print(f"intake listening on {url} (engine database {database_name(settings)})",
              flush=True)
        await stop.wait()
        print("stopping: finishing requests in flight", file=sys.stderr, flush=True)
    finally:
        await server.close()
        await asyncio.to_thread(stop_tracing)  # flushing may wait on the collector
        await engine.close()
    return 0
