"""A crash after the idempotency key's claim and before the engine's accept: the claim
kept the request, so the next start runs it (answered once, its callback delivered
once) without waiting for the sender to deliver it again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import httpx2

from agentcore.credentials import KeyringCredentials
from agentcore.engine import Engine
from agentcore.models import Request
from agentcore.storage import IntakeRecord
from tests.agentcore.intake.conftest import until
from tests.agentcore.intake.receiver import Receiver
from tests.processes import REPO


async def crash_after_the_claim(settings, callback: str, key: str) -> str:
    """What `Intake.submit` writes before the engine runs, then the process gone: an
    engine that claimed and never accepted (nor ran, nor closed its intake)."""
    engine = Engine(settings, credentials=KeyringCredentials())
    try:
        request = Request(text="where is my order 1001?", customer_id=3, channel="api",
                          received_at=engine.clock.now())
        # The intake keeps a caller's key per channel (`Intake.submit`).
        record = IntakeRecord(request.id, f"key:api:{key}", "api", "conv-7", "msg-7", callback,
                              text=request.text, customer_id=request.customer_id,
                              received_at=request.received_at)
        rid, created = engine.store.intake.claim(record, time.time())
        assert created
        assert engine.store.requests.status(rid) is None  # never accepted
    finally:
        await engine.close()
    return rid


async def test_a_claim_a_crash_cut_off_is_run_at_the_next_start(intake, settings,
                                                                test_keyring):
    KeyringCredentials().set("intake-webhook-secret", "hook-secret")
    receiver = Receiver("hook-secret")
    url = await receiver.start()
    try:
        rid = await crash_after_the_claim(settings, url, "key-7")
        server = await intake(callbacks={"api": url}, retry_base_s=0.05, retry_cap_s=0.2)
        async with httpx2.AsyncClient(base_url=server.url) as http:
            got = (await http.get(f"/v1/requests/{rid}", headers={"Prefer": "wait=10"})).json()
            assert got["status"] == "answered" and got["answer"]
            assert (got["customer_id"], got["conversation_id"]) == (3, "conv-7")
            # The sender's redelivery, late: the same request, not a second one.
            again = await http.post("/v1/requests", headers={"Idempotency-Key": "key-7"},
                                    json={"text": "where is my order 1001?", "customer_id": 3})
            assert again.status_code == 200 and again.json()["id"] == rid
        await until(lambda: receiver.deliveries)
        await intake.stop(server)

        # Another start: nothing left to run, nothing delivered again.
        server = await intake(callbacks={"api": url}, retry_base_s=0.05, retry_cap_s=0.2)
        assert await server.intake.resume() == 0
        assert server.engine.store.outbox.counts() == {"pending": 0, "dead": 0}
        assert [body["request"]["id"] for _, body in receiver.deliveries] == [rid]
        assert [o.request_id for o in server.engine.store.requests.outcomes()] == [rid]
    finally:
        await receiver.close()


async def test_a_resumed_claim_still_goes_through_the_guard(intake, settings):
    """Run at the start as it would have been: a text the guard refuses is refused."""
    engine = Engine(settings, credentials=KeyringCredentials())
    try:
        request = Request(text="   ", channel="api", received_at=engine.clock.now())
        engine.store.intake.claim(IntakeRecord(request.id, "blank", "api", None, None, None,
                                               text=request.text, received_at=1.0), 1.0)
    finally:
        await engine.close()
    server = await intake()
    view = server.intake.view(request.id)
    assert view is not None and view["status"] == "rejected" and view["reason"] == "empty"


async def test_a_submit_claims_with_what_it_takes_to_run_the_request(intake):
    """What the test above stands in for: the claim a real POST writes keeps the request."""
    server = await intake()
    async with httpx2.AsyncClient(base_url=server.url) as http:
        body = (await http.post("/v1/requests", json={"text": "where is my order 1001?",
                                                       "customer_id": 3})).json()
    record = server.engine.store.intake.record(body["id"])
    assert record is not None
    kept = record.request()
    stored = server.engine.store.requests.request(body["id"])
    assert kept is not None and stored is not None
    assert (kept.text, kept.customer_id, kept.channel, kept.received_at) == (
        stored.text, stored.customer_id, stored.channel, stored.received_at)


# A process that submits through the real Intake and is SIGKILLed by itself in the
# window: `submit` claims (synchronously), creates the engine's task and awaits it; the
# main coroutine, scheduled before that task's first step, kills the process then.
KILLED_IN_THE_WINDOW = """
import asyncio, os, pathlib, signal, sys
from agentcore.engine import Engine
from agentcore.events import RequestAccepted
from agentcore.intake.service import Intake
from agentcore.models import Request
from agentcore.settings import Settings

async def main():
    settings = Settings.load(pathlib.Path(sys.argv[1]))
    engine = Engine(settings)
    await engine.start()
    engine.subscribe(lambda e: isinstance(e, RequestAccepted) and print("ACCEPTED", flush=True))
    intake = Intake(engine, callbacks=settings.intake.callbacks)
    request = Request(text="where is my order 1001?", customer_id=3, channel="api")
    asyncio.get_running_loop().create_task(intake.submit(request, key="killed-key"))
    await asyncio.sleep(0)
    print("CLAIMED", request.id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


async def test_a_process_killed_between_claim_and_accept_loses_nothing(
        intake, settings, tmp_path, test_keyring):
    KeyringCredentials().set("intake-webhook-secret", "hook-secret")
    receiver = Receiver("hook-secret")
    url = await receiver.start()
    try:
        settings.intake.callbacks = {"api": url}
        path = tmp_path / "settings.json"
        settings.save(path)
        child = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", KILLED_IN_THE_WINDOW, str(path)],
            capture_output=True, text=True, cwd=REPO, timeout=120,
            env={**os.environ, "PYTHONPATH": str(REPO)})
        assert child.returncode == -signal.SIGKILL, child.stderr
        said, rid = child.stdout.split()
        assert said == "CLAIMED"  # and not ACCEPTED: killed before the engine's accept

        # The next start runs it, though its sender never delivers it again.
        server = await intake(callbacks={"api": url}, retry_base_s=0.05, retry_cap_s=0.2)
        async with httpx2.AsyncClient(base_url=server.url) as http:
            got = await http.get(f"/v1/requests/{rid}", headers={"Prefer": "wait=10"})
            assert got.status_code == 200 and got.json()["status"] == "answered"
            await until(lambda: receiver.deliveries)
            replayed = await http.post("/v1/requests", headers={"Idempotency-Key": "killed-key"},
                                       json={"text": "where is my order 1001?",
                                             "customer_id": 3})
        assert replayed.headers.get("Idempotent-Replayed") == "true"
        assert replayed.json()["id"] == rid
        assert [body["request"]["id"] for _, body in receiver.deliveries] == [rid]
        assert [o.request_id for o in server.engine.store.requests.outcomes()] == [rid]
    finally:
        await receiver.close()
