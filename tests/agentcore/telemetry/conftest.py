"""An engine on a scripted LLM and a fake clock, served over real HTTP on a loopback
port by a small aiohttp app with the telemetry routes installed, as the intake will."""

from __future__ import annotations

from dataclasses import dataclass

import httpx2
import pytest
from aiohttp import web

from agentcore import Engine, FakeClock, Request
from agentcore.telemetry import install
from tests.agentcore.scripted_llm import ScriptedLLM

SLOW_TEXT = "my app keeps crashing and nothing helps"  # matches no rule: the slow path
LLM_CALL_S = 0.25  # each scripted LLM call takes this long on the fake clock


class TimedLLM(ScriptedLLM):
    """The scripted LLM, each call taking LLM_CALL_S on the engine's fake clock: spans
    and latencies with real durations, and no test waiting on a wall clock."""

    clock: FakeClock

    def _respond(self, request: httpx2.Request) -> httpx2.Response:
        self.clock.advance(LLM_CALL_S)
        return super()._respond(request)


@dataclass
class Served:
    engine: Engine
    clock: FakeClock
    script: ScriptedLLM
    http: httpx2.AsyncClient

    async def ask(self, text: str, customer_id: int | None = 3) -> dict:
        response = await self.http.post("/v1/requests", json={"text": text,
                                                               "customer_id": customer_id})
        assert response.status_code == 200, response.text
        return response.json()


def intake_app(engine: Engine) -> web.Application:
    """A stand-in for the intake's app until its branch lands: one submit route."""
    async def submit(request: web.Request) -> web.Response:
        body = await request.json()
        outcome = await engine.submit(Request(body["text"], customer_id=body.get("customer_id")))
        return web.json_response({"id": outcome.request_id, "status": str(outcome.status),
                                  "route": str(outcome.route), "answer": outcome.answer,
                                  "rule_id": outcome.rule_id})

    app = web.Application()
    app.router.add_post("/v1/requests", submit)
    install(app, engine)
    return app


@pytest.fixture
async def served(settings):
    settings.llm.classify = None  # one scripted call per slow-path answer
    settings.guard.rate_per_minute = 10_000
    clock = FakeClock()
    script = TimedLLM([])
    script.clock = clock
    engine = Engine(settings, openai_client=script.client(), clock=clock)
    runner = web.AppRunner(intake_app(engine))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    async with httpx2.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as http:
        yield Served(engine, clock, script, http)
    await runner.cleanup()
    await engine.close()
