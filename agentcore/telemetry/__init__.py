"""What an SRE scrapes from a running engine: health, readiness, metrics, traces.

- `install(app, engine)`: an intake extension adding GET /healthz, /readyz and
  /metrics (Prometheus text format, a registry per engine) to the intake's
  aiohttp application.
- `start_tracing(engine, settings)`: each finished request exported as an OTLP
  trace (GenAI semantic conventions) when OTEL_EXPORTER_OTLP_ENDPOINT is set;
  returns the function that stops and flushes (a no-op when tracing is off).

Importing this package imports neither aiohttp, prometheus-client nor the
OpenTelemetry SDK: each is imported where it is first used, so the console's
cold start does not pay for what it may never serve.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web
    from opentelemetry.sdk.trace.export import SpanExporter

    from agentcore.engine import Engine
    from agentcore.settings import Settings

__all__ = ["install", "start_tracing"]


def install(app: web.Application, engine: Engine) -> None:
    """Adds /healthz, /readyz and /metrics for `engine` to the intake's `app`."""
    from agentcore.telemetry._http import install as install_routes

    install_routes(app, engine)


def start_tracing(engine: Engine, settings: Settings, *,
                  exporter: SpanExporter | None = None) -> Callable[[], None]:
    """Exports each request `engine` finishes as an OTLP trace when the OTEL_*
    environment asks for it (or to `exporter`); returns the stop function. Stopping
    flushes what is queued and may wait on the collector (up to the OTLP timeout):
    call it off the loop, `await asyncio.to_thread(stop)`, before `engine.close()`."""
    from agentcore.telemetry._otel import start_tracing as start

    return start(engine, settings, exporter=exporter)
