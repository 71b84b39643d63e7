"""An Idempotency-Key (or external id) is a redelivery's, never a way into another
customer's request: a second caller reusing a key with another request is refused and
shown nothing of the first, and the API cannot claim a help-desk channel's keys."""

from __future__ import annotations

import httpx2

A = {"text": "where is my order 1001?", "customer_id": 3}
B = {"text": "where is my order 1002?", "customer_id": 4}


async def test_a_key_reused_for_another_customers_request_is_refused_with_nothing_of_it(
        intake):
    server = await intake()
    async with httpx2.AsyncClient(base_url=server.url) as http:
        first = await http.post("/v1/requests", json=A, headers={
            "Idempotency-Key": "order-1", "Prefer": "wait=10"})
        assert first.json()["status"] == "answered"
        reused = await http.post("/v1/requests", json=B, headers={
            "Idempotency-Key": "order-1", "Prefer": "wait=10"})
        by_external = await http.post("/v1/requests", json={**B, "external_id": "m-1"})
        stolen = await http.post("/v1/requests", json={**A, "customer_id": 4,
                                                       "external_id": "m-1"})
        same = await http.post("/v1/requests", json=A, headers={"Idempotency-Key": "order-1"})
    assert reused.status_code == 422, reused.text
    assert first.json()["answer"] not in reused.text and first.json()["id"] not in reused.text
    assert "Idempotency-Key" in reused.json()["error"]
    assert stolen.status_code == 422 and by_external.json()["id"] not in stolen.text
    # The first caller's redelivery still gets its request.
    assert same.status_code == 200 and same.json()["id"] == first.json()["id"]


async def test_the_same_key_on_two_channels_is_two_requests(intake):
    server = await intake()
    async with httpx2.AsyncClient(base_url=server.url) as http:
        web = await http.post("/v1/requests", json={**A, "channel": "web"},
                              headers={"Idempotency-Key": "1"})
        mail = await http.post("/v1/requests", json={**A, "channel": "email"},
                               headers={"Idempotency-Key": "1"})
    assert web.status_code in (200, 202) and mail.status_code in (200, 202)
    assert web.json()["id"] != mail.json()["id"]


async def test_the_api_cannot_take_a_chatwoot_messages_key(intake):
    """Chatwoot's message 555 is the key `external:chatwoot:555`: an API caller that
    claimed it first would be shown that customer's answer, and the message itself
    would never be answered (its delivery found the key taken)."""
    server = await intake()
    async with httpx2.AsyncClient(base_url=server.url) as http:
        by_header = await http.post("/v1/requests", json=A, headers={
            "Idempotency-Key": "external:chatwoot:555"})
        by_channel = await http.post("/v1/requests", json={**A, "channel": "chatwoot",
                                                           "external_id": "555"})
    assert by_channel.status_code == 400 and "chatwoot" in by_channel.json()["error"]
    assert by_header.status_code in (200, 202)
    record = server.engine.store.intake.record(by_header.json()["id"])
    assert record is not None and record.key != "external:chatwoot:555"
