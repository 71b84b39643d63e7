"""The routes an SRE scrapes, added to the intake's aiohttp application.

`install(app, engine)` is an intake extension (`IntakeServer(..., extensions=
[install])`): GET /healthz (the process answers), GET /readyz (the engine can
take requests; see `_readiness`), GET /metrics (Prometheus text format, this
engine's registry). Scrapes are served on the loop: each is a few indexed
queries, and the engine's connection belongs to the loop's thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agentcore.telemetry._metrics import EngineMetrics
from agentcore.telemetry._readiness import readiness

if TYPE_CHECKING:
    from agentcore.engine import Engine

METRICS_KEY = web.AppKey("agentcore_metrics", EngineMetrics)


def install(app: web.Application, engine: Engine) -> None:
    """Adds /healthz, /readyz and /metrics to `app`, with metrics counted from now on;
    they stop counting when the app is cleaned up."""
    metrics = EngineMetrics(engine)
    app[METRICS_KEY] = metrics

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        state = readiness(engine)
        return web.json_response(state.as_json(), status=200 if state.ready else 503)

    async def scrape(request: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        # CONTENT_TYPE_LATEST carries its own charset parameter; aiohttp wants it apart.
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def stop_counting(app: web.Application) -> None:
        metrics.close()

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", scrape)
    app.on_cleanup.append(stop_counting)
