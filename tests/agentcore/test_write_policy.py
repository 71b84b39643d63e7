"""No refund goes past its policy: the write checks it, in its own transaction, for
the agent and for an operator's approval alike.

Each test is one way the promise broke before: concurrent requests each refunding
in full, an approval as proposed running the refused $5,000, an edited approval
above what was paid, two escalations of one order refunding it twice, and tool
arguments (1e308, 1e-9, true) that overflowed or refunded nonsense.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from agentcore import Engine, EscalationReason, FakeClock, Request, Status
from agentcore.demo_shop.tools import shop_registry
from agentcore.errors import QueueError, ToolArgumentsError, WriteRefused
from agentcore.escalations import PendingStatus
from agentcore.models import PolicyOverride
from tests.agentcore.desk import Desk
from tests.agentcore.scripted_llm import tool_call


@pytest.fixture
def settings(settings):
    settings.llm.classify = None  # one decide stage keeps the scripts exact
    settings.guard.rate_per_minute = 10_000  # a burst from one customer is the point here
    return settings


def refunded(engine: Engine, order_id: int) -> int:
    return sum(r["amount_cents"] for r in engine.domain.shop.get_refunds(order_id))


async def test_six_concurrent_refund_requests_refund_the_order_once(settings):
    """The same request six times at once: all six read the quote before any refund,
    and the write is where only one of them can go through."""
    engine = Engine(settings, clock=FakeClock())  # the in-process mock LLM
    try:
        order = Desk.refundable_in(engine)
        outcomes = await asyncio.gather(*(
            engine.submit(Request(f"I want a refund for order {order['id']}, it arrived damaged",
                                  customer_id=order["customer_id"])) for _ in range(6)))
        assert refunded(engine, order["id"]) == order["allowed_cents"]
        assert len(engine.domain.shop.get_refunds(order["id"])) == 1
        told = [o for o in outcomes if o.answer.startswith("I've refunded")]
        held = [o for o in outcomes if o.status is Status.ESCALATED]
        late = [o for o in outcomes if o not in told and o not in held]
        assert len(told) == 1
        # Those that read the quote before the refund are held at the write, with
        # nothing left to approve; any that read it after are told nothing is left.
        assert all(o.escalation_reason is EscalationReason.POLICY_VIOLATION
                   and o.pending_action is None
                   and "exceeds what the policy allows ($0.00" in " ".join(o.errors)
                   for o in held)
        assert all("can't refund it: nothing left to refund" in o.answer for o in late)
    finally:
        await engine.close()


async def test_an_approval_as_proposed_refunds_what_the_policy_allows(desk):
    item, order = await desk.refund_injection()  # the injected "$5,000"
    await desk.queue.claim(item, "alice", lease_s=300)
    result = await desk.queue.approve(item, "alice")  # one keystroke, as proposed
    assert result["amount_cents"] == order["allowed_cents"]
    assert refunded(desk.engine, order["id"]) == order["allowed_cents"]
    shown = await desk.queue.get(item)
    assert shown.pending_status is PendingStatus.APPROVED
    assert shown.pending_result["result"]["amount_cents"] == order["allowed_cents"]


async def test_an_edited_approval_above_the_policy_needs_an_explicit_override(desk):
    item, order = await desk.refund_injection(desk.order_with_a_fee())
    await desk.queue.claim(item, "alice", lease_s=300)
    paid = (await desk.queue.get(item)).limits.figure("Paid")
    refused = {"order_id": order["id"], "amount": 5000, "reason": "customer insisted"}
    with pytest.raises(QueueError, match=r"exceeds what the policy allows"):
        await desk.queue.approve(item, "alice", refused)
    assert (await desk.queue.get(item)).pending_status is PendingStatus.FAILED
    with pytest.raises(QueueError, match=r"more than is left of what was paid"):
        await desk.queue.approve(item, "alice", {**refused, "amount": 99_999},
                                 override_reason="loyal customer")
    with pytest.raises(QueueError, match="reason for overriding the policy must not be empty"):
        await desk.queue.approve(item, "alice", {**refused, "amount": paid / 100},
                                 override_reason="  ")
    assert refunded(desk.engine, order["id"]) == 0

    # Above the policy, within what was paid, with a reason: done, and said so.
    result = await desk.queue.approve(item, "alice", {**refused, "amount": paid / 100},
                                      override_reason="goodwill: the parcel arrived damaged")
    assert result["amount_cents"] == paid > order["allowed_cents"]
    assert result["override"] == {"by": "alice",
                                  "reason": "goodwill: the parcel arrived damaged"}
    [row] = desk.engine.domain.shop.get_refunds(order["id"])
    assert "policy overridden by alice: goodwill" in row["reason"]
    shown = await desk.queue.get(item)
    assert shown.pending_result["override"] == "goodwill: the parcel arrived damaged"


async def test_two_escalations_of_one_order_cannot_refund_it_twice(desk):
    first, order = await desk.refund_injection()
    second, _ = await desk.refund_injection(order)
    for item in (first, second):
        await desk.queue.claim(item, "alice", lease_s=300)
    await desk.queue.approve(first, "alice")
    with pytest.raises(QueueError, match=r"exceeds what the policy allows \(\$0\.00"):
        await desk.queue.approve(second, "alice")
    assert refunded(desk.engine, order["id"]) == order["allowed_cents"]


async def test_an_anonymous_requests_pending_write_is_never_approved(desk):
    item, order = await desk.refund_injection()
    with sqlite3.connect(desk.settings.engine_db) as db:  # as an older version recorded one
        db.execute("UPDATE requests SET customer_id = NULL WHERE id = (SELECT request_id FROM"
                   " escalations WHERE id = ?)", (item,))
    await desk.queue.claim(item, "alice", lease_s=300)
    with pytest.raises(QueueError, match="has no customer"):
        await desk.queue.approve(item, "alice")
    assert refunded(desk.engine, order["id"]) == 0


@pytest.mark.parametrize(("amount", "problem"), [
    ("1e308", "less than or equal to 100000"),
    ("1e-9", "greater than or equal to 0.01"),
    ("0.001", "greater than or equal to 0.01"),
    ("19.999", "two decimal places"),
    ("true", "must be a number or text, not true"),
    ("-5", "greater than or equal to 0.01"),
    ('"NaN"', "finite number"),
    ('"lots"', "valid number"),
])
def test_refund_amounts_are_whole_cents_in_range(amount, problem):
    tool = shop_registry(None).get("issue_refund")  # parsing only: no shop is read
    with pytest.raises(ToolArgumentsError, match=problem):
        tool.parse(f'{{"order_id": 12345, "amount": {amount}, "reason": "x"}}')


def test_booleans_are_not_numbers_anywhere():
    registry = shop_registry(None)  # parsing only
    with pytest.raises(ToolArgumentsError, match="order_id must be a number"):
        registry.get("get_order").parse('{"order_id": true}')
    with pytest.raises(ToolArgumentsError, match="customer_id must be a number"):
        registry.get("send_password_reset").parse('{"customer_id": true}')


async def test_a_bad_amount_from_the_model_is_corrected_or_escalated_never_an_internal_error(
        desk):
    order = desk.refundable_order()
    for amount in ("1e308", "1e-9", "true"):
        desk.script.steps.append({"tool_calls": [tool_call(
            "issue_refund", f'{{"order_id": {order["id"]}, "amount": {amount},'
                            ' "reason": "x"}')]})
    outcome = await desk.engine.submit(Request(f"refund order {order['id']}, it broke",
                                               customer_id=order["customer_id"]))
    assert outcome.escalation_reason is EscalationReason.INVALID_ARGUMENTS
    assert refunded(desk.engine, order["id"]) == 0


def test_the_shop_write_refuses_what_no_tool_should_send(desk):
    order = desk.refundable_order()
    shop = desk.engine.domain.shop
    for cents in (0, -100, True):
        with pytest.raises(WriteRefused, match=r"at least \$0\.01"):
            shop.issue_refund("r-1", order["id"], cents, "x")
    override = PolicyOverride("alice", "testing")
    limits = shop.refund_limits(order["id"])
    with pytest.raises(WriteRefused, match="more than is left of what was paid"):
        shop.issue_refund("r-2", order["id"], limits.left_cents + 1, "x", override=override)
    done = shop.issue_refund("r-3", order["id"], limits.left_cents, "x", override=override)
    assert done["amount_cents"] == limits.left_cents
    with pytest.raises(WriteRefused, match=r"more than is left of what was paid \(\$0\.00"):
        shop.issue_refund("r-4", order["id"], 1, "x", override=override)
    assert shop.issue_refund("r-3", order["id"], 1, "x")["replayed"] is True  # the same again
