"""Review of issue 13's `customer_context(customer_id, about)`: the orders a request
is "about" come from what the model put in its tool calls, which is anything."""

from __future__ import annotations

import pytest

from agentcore import Request, Status
from tests.agentcore.desk import SLOW_TEXT
from tests.agentcore.scripted_llm import final, tool_call


@pytest.fixture
def settings(settings):
    settings.llm.classify = None
    return settings


@pytest.mark.parametrize("order_id", [10**20, float("inf"), -(10**30)])
async def test_an_absurd_order_id_in_a_tool_call_leaves_the_item_readable(desk, order_id):
    """The model (or an injection steering it) looks up order 1e20, or Infinity (which
    JSON parsing accepts); the lookup fails, the request escalates. The operator must
    still be able to open the item: its customer card is built from those calls."""
    desk.script.steps.extend([
        {"tool_calls": [tool_call("get_order", {"order_id": order_id})]},
        final(handoff="needs a human")])
    outcome = await desk.engine.submit(Request(SLOW_TEXT, customer_id=1))
    assert outcome.status is Status.ESCALATED
    item = await desk.queue.get(desk.escalation_of(outcome.request_id))
    assert item.customer is not None
    assert all(not record.about for record in item.customer.items)
