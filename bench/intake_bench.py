"""The intake under sustained load: `python -m bench.intake_bench` (INTAKE_BENCH_S
shortens the 60 s run). The shipped corpus POSTed by 32 concurrent clients (httpx2,
keep-alive) into the intake over a real engine (mock LLM at 0 ms, real SQLite),
then the same clients against a bare aiohttp handler doing no work, in the same run
and process: the ratio is what the intake and the engine cost over HTTP itself.
Client and server share one loop and the machine's two cores (other sessions too):
absolute figures are low, the ratio is the yardstick. Lost: accepted requests with
no outcome once the load stopped and in-flight work finished."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx2
from aiohttp import web

from agentcore.engine import Engine
from agentcore.intake.server import IntakeServer
from agentcore.intake.settings import IntakeSettings
from agentcore.settings import Settings
from bench.sections import write_stamped

CORPUS = Path(__file__).resolve().parent.parent / "data" / "requests.jsonl"
CLIENTS = 32
Row = tuple[str, str, str]


def _corpus() -> list[dict[str, object]]:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return [{"text": r["text"], "customer_id": r.get("customer_id"),
             "channel": r.get("channel") or "api"} for r in rows]


async def _load(url: str, bodies: list[dict[str, object]], seconds: float
                ) -> tuple[int, list[float], list[str]]:
    latencies: list[float] = []
    ids: list[str] = []
    end = time.perf_counter() + seconds
    limits = httpx2.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx2.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        async def client(n: int) -> None:
            i = n
            while time.perf_counter() < end:
                started = time.perf_counter()
                reply = await http.post("/v1/requests", json=bodies[i % len(bodies)])
                latencies.append((time.perf_counter() - started) * 1000)
                if reply.status_code in (200, 202):
                    ids.append(reply.json().get("id", ""))
                i += CLIENTS
        await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return len(latencies), latencies, ids


async def _bare(seconds: float, bodies: list[dict[str, object]]) -> tuple[float, list[float]]:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"id": "x", "status": "accepted"}, status=202)

    app = web.Application()
    app.router.add_post("/v1/requests", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        n, lat, _ = await _load(f"http://127.0.0.1:{port}", bodies, seconds)
    finally:
        await runner.cleanup()
    return n / seconds, lat


async def _intake(seconds: float, bodies: list[dict[str, object]]
                  ) -> tuple[float, list[float], int, int]:
    folder = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    try:
        settings = Settings(data_dir=folder)
        settings.mock.latency_median_ms = 0.0
        settings.guard.rate_per_minute = 10**6  # the corpus reuses customers: no guard 429s
        settings.guard.anonymous_rate_per_minute = 10**6
        intake = IntakeSettings(port=0, client_rate_per_minute=10**7, shutdown_grace_s=60)
        engine = Engine(settings)
        server = IntakeServer(engine, intake, None)
        url = await server.start()
        try:
            n, lat, ids = await _load(url, bodies, seconds)
            await server.intake.drain(60.0)
            store = engine.store
            store.flush()
            lost = sum(1 for rid in ids if store.requests.status(rid) == "accepted")
        finally:
            await server.close()
            await engine.close()
        return n / seconds, lat, len(ids), lost
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else 0.0


def run(rows: list[Row]) -> None:
    seconds = float(os.environ.get("INTAKE_BENCH_S", "60"))
    bodies = _corpus()
    bare_rate, bare_lat = asyncio.run(_bare(min(seconds, 20.0), bodies))
    rate, lat, accepted, lost = asyncio.run(_intake(seconds, bodies))
    rows += [
        ("intake req/s (POST accepted, engine behind)", f"{rate:.0f}",
         f"{rate / bare_rate:.2f} of a bare aiohttp handler ({bare_rate:.0f} req/s)"),
        ("accept latency p50 / p99", f"{_pct(lat, 50):.1f} / {_pct(lat, 99):.1f} ms",
         f"bare: {_pct(bare_lat, 50):.1f} / {_pct(bare_lat, 99):.1f} ms"),
        ("accepted, lost", f"{accepted}, {lost}", f"{seconds:.0f} s, {CLIENTS} clients"),
    ]


def write_section(results: list[Row]) -> str:
    return write_stamped("Intake (bench/intake_bench.py)",
                         "client and server in one process: the ratio to the bare handler "
                         "is the yardstick", results)

if __name__ == "__main__":
    rows: list[Row] = []
    run(rows)
    print(write_section(rows))
