"""Dead letters: a delivery a receiver refuses for good, or one still failing past the
give-up age, is dead (never sent again by itself), counted in /metrics, and revived by
`agentcore outbox retry` under the same delivery id. A transient refusal is retried."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentcore.clock import SystemClock
from agentcore.credentials import KeyringCredentials
from agentcore.errors import ChatwootError
from agentcore.intake.outbox import Outbox
from agentcore.storage import Store
from agentcore.telemetry import install
from tests.agentcore.intake.conftest import until
from tests.agentcore.intake.receiver import Receiver
from tests.processes import REPO

ORDER = {"text": "where is my order 1001?", "customer_id": 3}
FAST = {"retry_base_s": 0.02, "retry_cap_s": 0.05}


@pytest.fixture
async def receiver(test_keyring):
    KeyringCredentials().set("intake-webhook-secret", "hook-secret")
    receiver = Receiver("hook-secret")
    await receiver.start()
    yield receiver
    await receiver.close()


async def outbox_gauges(url: str) -> dict[str, float]:
    async with httpx2.AsyncClient(base_url=url) as http:
        text = (await http.get("/metrics")).text
    return {s.labels["state"]: s.value for f in text_string_to_metric_families(text)
            for s in f.samples if s.name == "agentcore_outbox_deliveries"}


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_a_permanent_refusal_is_dead_at_once_and_never_sent_again(
        intake, receiver, status):
    receiver.fail_first, receiver.fail_status = 10**6, status
    server = await intake(callbacks={"api": receiver.url}, extensions=(install,), **FAST)
    async with httpx2.AsyncClient(base_url=server.url) as http:
        rid = (await http.post("/v1/requests", json=ORDER,
                               headers={"Prefer": "wait=10"})).json()["id"]
    outbox = server.engine.store.outbox
    await until(lambda: outbox.counts()["dead"] == 1)
    dead = outbox.entry(f"outcome:{rid}")
    assert dead is not None and dead.state == "dead"
    assert f"HTTP {status}" in (dead.last_error or "")
    # Were it retried, it would be every 20-50 ms: half a second of turns later, still once.
    for _ in range(20):
        await asyncio.sleep(0.025)
    assert receiver.attempts == 1
    assert await outbox_gauges(server.url) == {"pending": 0.0, "dead": 1.0}


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 503])
async def test_a_transient_refusal_is_retried_until_taken(intake, receiver, status):
    receiver.fail_first, receiver.fail_status = 2, status
    server = await intake(callbacks={"api": receiver.url}, **FAST)
    async with httpx2.AsyncClient(base_url=server.url) as http:
        rid = (await http.post("/v1/requests", json=ORDER)).json()["id"]
    await until(lambda: receiver.deliveries)
    assert receiver.attempts == 3
    assert [body["request"]["id"] for _, body in receiver.deliveries] == [rid]
    assert server.engine.store.outbox.counts() == {"pending": 0, "dead": 0}


async def test_an_unreachable_receiver_is_retried_then_dead_past_the_give_up_age(
        intake, receiver):
    await receiver.close()  # nothing listens there now: connection refused, every time
    server = await intake(callbacks={"api": receiver.url}, give_up_after_s=0.3,
                          extensions=(install,), **FAST)
    async with httpx2.AsyncClient(base_url=server.url) as http:
        rid = (await http.post("/v1/requests", json=ORDER)).json()["id"]
    outbox = server.engine.store.outbox
    await until(lambda: outbox.counts()["dead"] == 1)
    dead = outbox.entry(f"outcome:{rid}")
    assert dead is not None and dead.attempts > 1  # retried before it was given up on
    assert "gave up after" in (dead.last_error or "")
    assert await outbox_gauges(server.url) == {"pending": 0.0, "dead": 1.0}


async def test_a_deliverer_error_that_says_not_retryable_is_dead(settings):
    """Duck-typed: the Chatwoot channel's own error, raised from its deliverer."""
    store = Store(settings.engine_db)
    calls: list[str] = []

    async def refuse(target: str, payload: dict, delivery_id: str) -> None:
        calls.append(delivery_id)
        raise ChatwootError("Chatwoot said 404: the conversation is gone", retryable=False)

    outbox = Outbox(store.outbox, SystemClock(), base_s=0.01, cap_s=0.01)
    outbox.register("chatwoot_message", refuse)
    outbox.start()
    try:
        outbox.enqueue("chatwoot_message", "http://desk/conversations/9", {"content": "hi"},
                       "chatwoot:r1:answer")
        await until(lambda: store.outbox.counts()["dead"] == 1)
        for _ in range(10):  # were it retried, it would be every 10 ms
            await asyncio.sleep(0.02)
        assert len(calls) == 1
        entry = store.outbox.entry("chatwoot:r1:answer")
        assert entry is not None and "conversation is gone" in (entry.last_error or "")
    finally:
        await outbox.close()
        store.close()


def agentcore_cli(settings_path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentcore", "--settings", str(settings_path),
                           "outbox", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)


async def test_the_cli_lists_dead_deliveries_and_a_retry_sends_them_under_the_same_id(
        intake, receiver, settings, tmp_path):
    receiver.fail_first, receiver.fail_status = 10**6, 410
    server = await intake(callbacks={"api": receiver.url}, **FAST)
    async with httpx2.AsyncClient(base_url=server.url) as http:
        rids = [(await http.post("/v1/requests", json={**ORDER, "external_id": str(i)})
                 ).json()["id"] for i in range(2)]
    await until(lambda: server.engine.store.outbox.counts()["dead"] == 2)
    await intake.stop(server)
    path = tmp_path / "settings.json"
    settings.save(path)

    listed = await asyncio.to_thread(agentcore_cli, path, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2 and all(" dead " in line and "HTTP 410" in line for line in lines)
    assert "0 pending, 2 dead" in listed.stderr
    store = Store(settings.engine_db)
    try:
        entries = {rid: store.outbox.entry(f"outcome:{rid}") for rid in rids}
    finally:
        store.close()
    ids = {rid: entry.id for rid, entry in entries.items() if entry is not None}

    retried = await asyncio.to_thread(agentcore_cli, path, "retry", f"outcome:{rids[0]}")
    assert retried.returncode == 0, retried.stderr
    again = await asyncio.to_thread(agentcore_cli, path, "retry", ids[rids[0]])
    assert again.returncode == 1 and "not dead" in again.stderr
    unknown = await asyncio.to_thread(agentcore_cli, path, "retry", "no-such-delivery")
    assert unknown.returncode == 2
    everything = await asyncio.to_thread(agentcore_cli, path, "retry", "--all-dead")
    assert everything.returncode == 0 and "1 dead deliveries owed again" in everything.stderr

    receiver.fail_first = 0  # the receiver was fixed
    receiver.attempts = 0
    server = await intake(callbacks={"api": receiver.url}, **FAST)
    await until(lambda: len(receiver.deliveries) == 2)
    assert {d: body["request"]["id"] for d, body in receiver.deliveries} == {
        ids[rid]: rid for rid in rids}  # each under the id it had when it died
    assert server.engine.store.outbox.counts() == {"pending": 0, "dead": 0}
