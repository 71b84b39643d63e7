"""An intake started beside an engine that is already answering (the console turning
its intake on, or restarting it, while demo traffic or the compose box runs): what it
resumes is what a crash left unfinished, never a request the engine is running now."""

from __future__ import annotations

import asyncio

from agentcore.credentials import KeyringCredentials
from agentcore.engine import Engine
from agentcore.events import Event, RequestAccepted, RequestAnswered, RequestEscalated
from agentcore.intake.server import IntakeServer
from agentcore.intake.settings import IntakeSettings
from agentcore.models import Request

SLOW = "my app keeps crashing and nothing helps"  # the LLM's path: it takes a while


async def test_a_request_in_flight_when_the_intake_starts_is_answered_once(settings):
    settings.mock.latency_median_ms = 400
    settings.mock.latency_sigma = 0
    engine = Engine(settings, credentials=KeyringCredentials())
    finished: list[str] = []
    accepted = asyncio.Event()

    def heard(event: Event) -> None:
        if isinstance(event, RequestAccepted):
            accepted.set()  # on disk as accepted, no outcome yet: as a crash leaves it
        if isinstance(event, RequestAnswered | RequestEscalated):
            finished.append(event.outcome.request.id)

    engine.subscribe(heard)
    request = Request(SLOW, customer_id=3)
    running = asyncio.ensure_future(engine.submit(request))
    try:
        await accepted.wait()
        server = IntakeServer(engine, IntakeSettings(port=0), KeyringCredentials())
        await server.start()
        try:
            assert server.intake.in_flight == 0  # it started no second run of it
            await running
            await asyncio.sleep(1.0)  # a second run's outcome, were one started anyway
        finally:
            await server.close()
    finally:
        await engine.close()
    assert finished == [request.id]
