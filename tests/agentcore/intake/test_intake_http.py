"""The intake over real HTTP (httpx2) on a loopback port: a real engine behind it
(mock LLM, real SQLite), a real webhook receiver for the callbacks."""

from __future__ import annotations

import asyncio

import httpx2
import pytest

from agentcore.credentials import KeyringCredentials
from agentcore.engine import Engine
from agentcore.errors import SettingsError
from agentcore.intake.server import IntakeServer
from agentcore.intake.settings import IntakeSettings
from tests.agentcore.intake.receiver import Receiver

ORDER = {"text": "where is my order 1001?", "customer_id": 3}


async def test_a_post_is_accepted_then_answered_at_its_status_url(intake):
    server = await intake()
    async with httpx2.AsyncClient(base_url=server.url) as http:
        posted = await http.post("/v1/requests", json=ORDER)
        assert posted.status_code in (200, 202)
        body = posted.json()
        assert body["status"] in ("accepted", "answered")
        assert posted.headers["Location"] == body["status_url"]
        polled = await http.get(body["status_url"], headers={"Prefer": "wait=10"})
        assert polled.status_code == 200
        got = polled.json()
        assert got["id"] == body["id"] and got["status"] == "answered"
        assert got["answer"] and got["route"] and got["intent"] == "order_status"
        assert got["escalation"] is None


async def test_prefer_wait_answers_with_the_outcome(intake):
    server = await intake()
    async with httpx2.AsyncClient(base_url=server.url) as http:
        posted = await http.post("/v1/requests", json=ORDER, headers={"Prefer": "wait=10"})
    assert posted.status_code == 200
    assert posted.headers["Preference-Applied"] == "wait=10"
    assert posted.json()["status"] == "answered"


async def test_an_unknown_id_is_404(intake):
    server = await intake()
    async with httpx2.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/v1/requests/nope")).status_code == 404


async def test_a_redelivery_returns_the_first_request(intake):
    server = await intake()
    async with httpx2.AsyncClient(base_url=server.url) as http:
        first = await http.post("/v1/requests", json=ORDER, headers={"Idempotency-Key": "k1"})
        again = await http.post("/v1/requests", json=ORDER, headers={"Idempotency-Key": "k1"})
        by_external = [await http.post("/v1/requests", json={**ORDER, "external_id": "m-7"})
                       for _ in range(2)]
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert by_external[0].json()["id"] == by_external[1].json()["id"]
    assert server.engine.store.requests.counts().get("answered", 0) + \
        server.engine.store.requests.counts().get("accepted", 0) == 2


async def test_twenty_concurrent_redeliveries_make_one_request(intake):
    server = await intake()
    async with httpx2.AsyncClient(base_url=server.url) as http:
        replies = await asyncio.gather(*[
            http.post("/v1/requests", json=ORDER, headers={"Idempotency-Key": "same"})
            for _ in range(20)])
    ids = {r.json()["id"] for r in replies}
    assert len(ids) == 1
    assert sum(r.status_code in (200, 202) for r in replies) == 20
    server.engine.store.flush()
    assert sum(server.engine.store.requests.counts().values()) == 1


async def test_a_key_survives_a_restart(intake):
    server = await intake()
    async with httpx2.AsyncClient(base_url=server.url) as http:
        first = await http.post("/v1/requests", json=ORDER, headers={"Idempotency-Key": "k"})
    await intake.close()
    intake.started.clear()
    server = await intake()
    async with httpx2.AsyncClient(base_url=server.url) as http:
        again = await http.post("/v1/requests", json=ORDER, headers={"Idempotency-Key": "k"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]


async def test_without_the_token_or_with_a_wrong_one_it_is_401(intake, test_keyring):
    KeyringCredentials().set("intake-token", "s3cret-token")
    server = await intake()
    async with httpx2.AsyncClient(base_url=server.url) as http:
        none = await http.post("/v1/requests", json=ORDER)
        wrong = await http.post("/v1/requests", json=ORDER,
                                headers={"Authorization": "Bearer nope"})
        right = await http.post("/v1/requests", json=ORDER,
                                headers={"Authorization": "Bearer s3cret-token"})
    assert none.status_code == 401 and wrong.status_code == 401
    assert right.status_code in (200, 202)


async def test_a_bind_beyond_loopback_without_a_token_refuses_to_start(settings):
    engine = Engine(settings)
    server = IntakeServer(engine, IntakeSettings(host="0.0.0.0", port=0), KeyringCredentials())
    try:
        with pytest.raises(SettingsError, match="token"):
            await server.start()
    finally:
        await engine.close()


async def test_an_oversize_body_is_413_with_a_reason(intake):
    server = await intake(max_body_bytes=2048)
    async with httpx2.AsyncClient(base_url=server.url) as http:
        big = await http.post("/v1/requests", json={"text": "x" * 5000})
    assert big.status_code == 413
    assert "2048" in big.json()["error"]


async def test_the_guards_rejection_is_422_with_its_reason(intake):
    server = await intake()
    async with httpx2.AsyncClient(base_url=server.url) as http:
        empty = await http.post("/v1/requests", json={"text": "   "})
        shape = await http.post("/v1/requests", json={"txt": "hi"})
    assert empty.status_code == 422
    assert empty.json()["status"] == "rejected" and empty.json()["reason"] == "empty"
    assert shape.status_code == 400


async def test_a_burst_past_a_customers_rate_is_429_with_retry_after(intake, settings):
    settings.guard.rate_per_minute = 5
    server = await intake()
    async with httpx2.AsyncClient(base_url=server.url) as http:
        replies = [await http.post("/v1/requests", json=ORDER) for _ in range(8)]
    limited = [r for r in replies if r.status_code == 429]
    assert len(limited) == 3
    assert all(int(r.headers["Retry-After"]) >= 1 for r in limited)


async def test_a_burst_past_the_clients_rate_is_429_with_retry_after(intake):
    server = await intake(client_rate_per_minute=5)
    async with httpx2.AsyncClient(base_url=server.url) as http:
        replies = [await http.get("/v1/requests/x") for _ in range(7)]
    assert [r.status_code for r in replies].count(429) == 2
    assert int(replies[-1].headers["Retry-After"]) >= 1


async def test_callbacks_are_signed_and_retried_until_a_flaky_receiver_takes_them(
        intake, test_keyring):
    KeyringCredentials().set("intake-webhook-secret", "hook-secret")
    receiver = Receiver("hook-secret", fail_first=3)
    url = await receiver.start()
    try:
        server = await intake(callbacks={"api": url}, retry_base_s=0.05, retry_cap_s=0.2)
        async with httpx2.AsyncClient(base_url=server.url) as http:
            posted = [await http.post("/v1/requests", json={**ORDER, "external_id": str(i)})
                      for i in range(3)]
        ids = {p.json()["id"] for p in posted}
        for _ in range(200):
            if len(receiver.deliveries) >= 3:
                break
            await asyncio.sleep(0.05)
        assert receiver.bad_signatures == 0
        assert receiver.attempts >= 3 + 3  # three refused, then each delivered
        assert {body["request"]["id"] for _, body in receiver.deliveries} == ids
        assert all(body["request"]["status"] == "answered" for _, body in receiver.deliveries)
        assert len({d for d, _ in receiver.deliveries}) == 3
    finally:
        await receiver.close()
