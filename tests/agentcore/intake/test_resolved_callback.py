"""An escalated request's second callback: when an operator resolves the escalation,
the channel's webhook gets `request.resolved` with the operator's answer, once per
escalation, also when the resolution happened while no intake ran (a console on the
same database, or a crash between the reply and the enqueue)."""

from __future__ import annotations

import httpx2
import pytest

from agentcore.credentials import KeyringCredentials
from agentcore.engine import Engine
from agentcore.escalation_model import EscalationState
from tests.agentcore.intake.conftest import until
from tests.agentcore.intake.receiver import Receiver

HUMAN = {"text": "I want to talk to a human", "customer_id": 3}
REPLY = "Hi, I've looked at it myself: a refund is on its way."
FAST = {"retry_base_s": 0.05, "retry_cap_s": 0.2}


@pytest.fixture
async def receiver(test_keyring):
    KeyringCredentials().set("intake-webhook-secret", "hook-secret")
    receiver = Receiver("hook-secret")
    await receiver.start()
    yield receiver
    await receiver.close()


def of_type(receiver: Receiver, kind: str) -> list[tuple[str, dict]]:
    return [(d, body) for d, body in receiver.deliveries if body["type"] == kind]


async def escalated(server, http: httpx2.AsyncClient, customer: int = 3) -> tuple[str, int]:
    body = (await http.post("/v1/requests", json={**HUMAN, "customer_id": customer},
                            headers={"Prefer": "wait=10"})).json()
    assert body["status"] == "escalated", body
    assert body["escalation"]["state"] == "open"
    return body["id"], body["escalation"]["id"]


async def test_an_operators_reply_is_called_back_and_shown_at_the_status_url(
        intake, receiver):
    server = await intake(callbacks={"api": receiver.url}, **FAST)
    queue = server.engine.escalations
    async with httpx2.AsyncClient(base_url=server.url) as http:
        rid, eid = await escalated(server, http)
        await until(lambda: of_type(receiver, "request.finished"))
        await queue.claim(eid, "alice", 60)
        await queue.reply(eid, "alice", REPLY)
        await until(lambda: of_type(receiver, "request.resolved"))
        got = (await http.get(f"/v1/requests/{rid}")).json()
    [(_, finished)] = of_type(receiver, "request.finished")
    assert finished["request"]["status"] == "escalated"
    [(delivery, resolved)] = of_type(receiver, "request.resolved")
    view = resolved["request"]
    assert (view["id"], view["status"], view["route"], view["answer"]) == (
        rid, "answered", "human", REPLY)
    assert view["escalation"] | {"resolved_at": None} == {
        "id": eid, "reason": view["escalation"]["reason"], "state": "resolved",
        "resolution": "replied", "resolved_by": "alice", "resolved_at": None}
    assert got == view  # the status URL says what the callback said
    key = server.engine.store.outbox.entry(f"resolved:{eid}")
    assert key is not None and key.id == delivery
    # The queue changes again (nothing does after a resolution, but the bus may say so):
    # no second delivery for the same escalation.
    assert await server.intake.resume() == 0
    assert len(of_type(receiver, "request.resolved")) == 1


async def test_closed_as_handled_elsewhere_is_called_back_without_an_answer(
        intake, receiver):
    server = await intake(callbacks={"api": receiver.url}, **FAST)
    queue = server.engine.escalations
    async with httpx2.AsyncClient(base_url=server.url) as http:
        rid, eid = await escalated(server, http)
        await queue.claim(eid, "bob", 60)
        await queue.resolve(eid, "bob")
        await until(lambda: of_type(receiver, "request.resolved"))
    [(_, resolved)] = of_type(receiver, "request.resolved")
    assert resolved["request"]["id"] == rid
    assert resolved["request"]["answer"] is None  # the queue's note is no customer's answer
    assert resolved["request"]["escalation"]["resolution"] == "resolved"


async def test_a_resolution_while_no_intake_ran_is_called_back_at_the_next_start(
        intake, receiver, settings):
    server = await intake(callbacks={"api": receiver.url}, **FAST)
    async with httpx2.AsyncClient(base_url=server.url) as http:
        rid, eid = await escalated(server, http)
    await until(lambda: of_type(receiver, "request.finished"))
    await intake.stop(server)

    # An operator in a console over the same database, the intake down (or crashed).
    console = Engine(settings, credentials=KeyringCredentials())
    try:
        await console.escalations.claim(eid, "alice", 60)
        await console.escalations.reply(eid, "alice", REPLY)
        item = await console.escalations.get(eid)
        assert item.state is EscalationState.RESOLVED
    finally:
        await console.close()
    assert not of_type(receiver, "request.resolved")

    server = await intake(callbacks={"api": receiver.url}, **FAST)
    await until(lambda: of_type(receiver, "request.resolved"))
    [(_, resolved)] = of_type(receiver, "request.resolved")
    assert (resolved["request"]["id"], resolved["request"]["answer"]) == (rid, REPLY)
    await intake.stop(server)
    server = await intake(callbacks={"api": receiver.url}, **FAST)  # and once only
    assert server.engine.store.outbox.counts() == {"pending": 0, "dead": 0}
    assert len(of_type(receiver, "request.resolved")) == 1


async def test_a_reply_from_a_console_on_the_same_database_is_called_back_while_serving(
        intake, receiver, settings, monkeypatch):
    monkeypatch.setattr("agentcore.intake.service.SWEEP_S", 0.05)
    server = await intake(callbacks={"api": receiver.url}, **FAST)
    async with httpx2.AsyncClient(base_url=server.url) as http:
        rid, eid = await escalated(server, http)
        # Its queue publishes on its own bus: the serving intake never hears of it.
        console = Engine(settings, credentials=KeyringCredentials())
        try:
            await console.escalations.claim(eid, "alice", 60)
            await console.escalations.reply(eid, "alice", REPLY)
        finally:
            await console.close()
        await until(lambda: of_type(receiver, "request.resolved"))
        got = (await http.get(f"/v1/requests/{rid}")).json()
    [(_, resolved)] = of_type(receiver, "request.resolved")
    assert resolved["request"]["answer"] == REPLY == got["answer"]
    assert got["escalation"]["resolved_by"] == "alice"


async def test_a_hand_back_the_agent_then_answers_is_called_back_with_its_answer(
        intake, receiver, monkeypatch):
    monkeypatch.setattr("agentcore.intake.service.SWEEP_S", 3600.0)  # heard, not swept
    server = await intake(callbacks={"api": receiver.url}, **FAST)
    loop = server.engine.settings.loop
    ceiling, loop.dollar_ceiling = loop.dollar_ceiling, 0.0001  # stopped before any call
    async with httpx2.AsyncClient(base_url=server.url) as http:
        body = (await http.post("/v1/requests", headers={"Prefer": "wait=10"}, json={
            "text": "my app keeps crashing and nothing helps", "customer_id": 3})).json()
    loop.dollar_ceiling = ceiling
    assert body["status"] == "escalated", body
    queue = server.engine.escalations
    eid = body["escalation"]["id"]
    await queue.claim(eid, "alice", 60)
    outcome = await queue.hand_back(eid, "alice", "they run the latest version: go on")
    assert str(outcome.status) == "answered", outcome
    await until(lambda: of_type(receiver, "request.resolved"))
    [(_, resolved)] = of_type(receiver, "request.resolved")
    view = resolved["request"]
    assert (view["id"], view["status"], view["answer"]) == (body["id"], "answered",
                                                            outcome.answer)
    assert view["escalation"]["resolution"] == "answered by the agent"


async def test_a_callback_moved_or_removed_in_the_settings_is_not_sent_to_the_old_url(
        intake, receiver):
    """The claim names where its callback went when it came in; an operator who moved the
    channel's callback (the old host decommissioned, its domain let go) or removed it
    must not have a later resolution post that customer's answer to the old URL."""
    old = Receiver("hook-secret")
    await old.start()
    try:
        server = await intake(callbacks={"api": old.url}, **FAST)
        async with httpx2.AsyncClient(base_url=server.url) as http:
            moved, moved_eid = await escalated(server, http)
            dropped, dropped_eid = await escalated(server, http, customer=4)
        await until(lambda: len(of_type(old, "request.finished")) == 2)
        await intake.stop(server)
        server = await intake(callbacks={"api": receiver.url}, **FAST)
        queue = server.engine.escalations
        await queue.claim(moved_eid, "alice", 60)
        await queue.reply(moved_eid, "alice", REPLY)
        await until(lambda: of_type(receiver, "request.resolved"))
        await intake.stop(server)
        server = await intake(**FAST)  # no callbacks any more
        queue = server.engine.escalations
        await queue.claim(dropped_eid, "alice", 60)
        await queue.reply(dropped_eid, "alice", REPLY)
        assert server.engine.store.outbox.entry(f"resolved:{dropped_eid}") is None
    finally:
        await old.close()
    assert of_type(old, "request.resolved") == []
    [(_, resolved)] = of_type(receiver, "request.resolved")
    assert resolved["request"]["id"] == moved
    assert dropped != moved
