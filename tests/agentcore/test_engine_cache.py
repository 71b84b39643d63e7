"""The cache as a customer meets it, including the stale-credit story: after a refund,
the next question about that order must see the refund, never a cached answer."""

from __future__ import annotations

from agentcore import Engine, Request, Route, Status
from agentcore.handlers import money
from tests.agentcore.test_agent_loop import refundable_order


async def test_a_repeated_question_is_answered_from_memory_then_from_disk(settings):
    engine = Engine(settings)
    text = "how long does shipping take?"
    first = await engine.submit(Request(text, customer_id=5))
    again = await engine.submit(Request(text, customer_id=6))  # shared: the same for all
    assert first.route is Route.RULE and again.route is Route.CACHE_L1
    assert again.answer == first.answer
    await engine.close()
    restarted = Engine(settings)  # memory is gone, SQLite is not
    third = await restarted.submit(Request(text, customer_id=7))
    fourth = await restarted.submit(Request(text, customer_id=7))
    assert (third.route, fourth.route) == (Route.CACHE_L2, Route.CACHE_L1)
    await restarted.close()


async def test_after_a_refund_the_next_refund_question_sees_the_new_balance(settings):
    order = refundable_order(settings)
    oid, cid = order["id"], order["customer_id"]
    engine = Engine(settings)  # the in-process mock LLM does the refund
    ask = f"where is my refund for order {oid}?"
    before = await engine.submit(Request(ask, customer_id=cid))
    cached = await engine.submit(Request(ask, customer_id=cid))
    assert before.route is Route.RULE and cached.route is Route.CACHE_L1
    assert "no refund" in before.answer.lower()

    refund = await engine.submit(Request(f"I want a refund for order {oid}, it arrived broken",
                                         customer_id=cid))
    assert refund.route is Route.LLM and refund.status is Status.ANSWERED, refund.errors
    shop = engine.domain.shop
    refunded = [r for r in shop.get_refunds(oid) if r["request_id"] == refund.request_id]
    assert [r["amount_cents"] for r in refunded] == [order["allowed_cents"]]

    after = await engine.submit(Request(ask, customer_id=cid))
    assert after.route is Route.RULE, "a stale cached answer was served after the refund"
    assert money(order["allowed_cents"]) in after.answer
    # A second refund request now sees that nothing is left to refund.
    second = await engine.submit(Request(f"I want a refund for order {oid}, it arrived broken",
                                         customer_id=cid))
    assert [r for r in shop.get_refunds(oid) if r["request_id"] == second.request_id] == []
    await engine.close()
