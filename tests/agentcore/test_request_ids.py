"""A request id is used once: a reused one is refused and history stays as it was.

Before, a reused `Request.id` silently replaced the earlier request, its outcome
and an operator's reply (INSERT OR REPLACE), and an escalated re-submission made
no queue item.
"""

from __future__ import annotations

import pytest

from agentcore import Request, Route, Status
from agentcore.escalations import EscalationState
from tests.agentcore.desk import SLOW_TEXT, Desk
from tests.agentcore.scripted_llm import final


@pytest.fixture
def settings(settings):
    settings.llm.classify = None
    return settings


def stored(desk: Desk, request_id: str) -> dict:
    requests = desk.engine.store.requests
    request, outcome = requests.request(request_id), requests.outcome(request_id)
    assert request is not None and outcome is not None
    return {"text": request.text, "customer_id": request.customer_id,
            "status": requests.status(request_id), "route": outcome.route,
            "answer": outcome.answer, "operator": outcome.operator}


async def test_a_reused_id_is_refused_and_the_first_request_stays(desk):
    first = await desk.engine.submit(Request("what is your refund policy?", customer_id=3,
                                             id="req-1"))
    assert first.status is Status.ANSWERED
    before = stored(desk, "req-1")
    again = await desk.engine.submit(Request("where is my order 12345?", customer_id=9,
                                             id="req-1"))
    assert (again.route, again.status) == (Route.GUARD, Status.REJECTED)
    assert again.errors[0] == "rejected: duplicate id"
    assert "request id 'req-1' was already used" in again.answer
    assert stored(desk, "req-1") == before
    # A rejected request reusing the id (here: empty) doesn't overwrite it either.
    await desk.engine.submit(Request("   ", id="req-1"))
    assert stored(desk, "req-1") == before


async def test_an_operators_reply_is_never_overwritten_by_a_reused_id(desk):
    item = await desk.over_budget(customer_id=4)
    request_id = (await desk.queue.get(item)).request_id
    await desk.queue.claim(item, "alice", lease_s=300)
    await desk.queue.reply(item, "alice", "Please reinstall version 2.3.")
    replied = stored(desk, request_id)

    desk.script.steps.append(final("Something else.", intent="technical"))
    again = await desk.engine.submit(Request(SLOW_TEXT, customer_id=4, id=request_id))
    assert again.status is Status.REJECTED
    assert stored(desk, request_id) == replied
    assert replied["operator"] == "alice" and replied["route"] == "human"
    assert (await desk.queue.get(item)).state is EscalationState.RESOLVED
    assert desk.script.steps, "the duplicate must not have reached the LLM"


async def test_an_escalated_request_resubmitted_under_its_id_leaves_its_item_alone(desk):
    item = await desk.over_budget(customer_id=5)
    shown = await desk.queue.get(item)
    again = await desk.engine.submit(Request(SLOW_TEXT, customer_id=5, id=shown.request_id))
    assert again.status is Status.REJECTED
    assert [i.id for i in await desk.queue.list()] == [item]
    assert (await desk.queue.get(item)).errors == shown.errors
