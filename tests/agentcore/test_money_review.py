"""What a hostile review of the money path found, each as the way it broke.

A released payment hold counted as paid (an override could refund it); a
cancellation kept the capture; an approval racing another console's "it was
interrupted" lost its record; an edited order id ("12345.0") read one way by the
write and another by crash recovery; an approval replaying a different refund
of the same request counted as done; a hand-back turned away by the rate limit
stranded its item; a re-escalation erased who approved what; `Engine.rerun`
re-ran any id with any text; a resumed answer quoting a refund was cached.
"""

from __future__ import annotations

import asyncio

import pytest

from agentcore import Request, Status
from agentcore.errors import QueueError
from agentcore.escalations import EscalationState, PendingStatus
from agentcore.tools import ToolContext
from tests.agentcore.desk import Desk
from tests.agentcore.scripted_llm import final, tool_call


@pytest.fixture
def settings(settings):
    settings.llm.classify = None
    settings.guard.rate_per_minute = 10_000
    return settings


def order_in(desk: Desk, status: str, payment: str) -> tuple[int, int]:
    return desk.engine.domain.shop.conn.execute(
        "SELECT o.id, o.customer_id FROM orders o JOIN payments p ON p.order_id = o.id"
        " WHERE o.status = ? AND p.status = ? ORDER BY o.id LIMIT 1",
        (status, payment)).fetchone()


async def test_a_released_hold_is_not_money_an_override_can_refund(desk):
    oid, cid = order_in(desk, "cancelled", "refunded")
    limits = desk.engine.domain.shop.refund_limits(oid)
    assert (limits.paid_cents, limits.left_cents) == (0, 0)
    desk.script.steps.append({"tool_calls": [tool_call(
        "issue_refund", {"order_id": oid, "amount": 20, "reason": "x"})]})
    outcome = await desk.engine.submit(Request(f"refund order {oid}, it arrived damaged",
                                               customer_id=cid))
    assert outcome.pending_action is None  # nothing left of what was paid: nothing to offer
    assert desk.engine.domain.shop.get_refunds(oid) == []


async def test_cancelling_an_order_releases_its_payment_in_the_same_write(desk):
    oid, cid = order_in(desk, "processing", "captured")
    before = desk.engine.domain.shop.refund_limits(oid)
    assert before.paid_cents > 0
    tools = desk.engine.domain.tools
    result = await tools.call("cancel_order", {"order_id": oid, "reason": "wrong size"},
                              ToolContext("r-cancel", cid), 5)
    assert result["cancelled"] and result["payments_released"] >= 1
    after = desk.engine.domain.shop.refund_limits(oid)
    assert (after.paid_cents, after.left_cents, after.quote.allowed_cents) == (0, 0, 0)
    assert [p["status"] for p in desk.engine.domain.shop.get_payments(oid)
            if p["status"] == "captured"] == []


async def test_a_write_landing_after_another_console_gave_it_up_is_recorded_done(desk):
    item, order = await desk.refund_injection()
    await desk.queue.claim(item, "alice", lease_s=3600)
    writing, release = asyncio.Event(), asyncio.Event()
    real = desk.queue._act

    async def slow_act(*args):  # a write that outlives its window (a suspended process)
        writing.set()
        await release.wait()
        return await real(*args)

    desk.queue._act = slow_act
    approval = asyncio.ensure_future(desk.queue.approve(item, "alice"))
    await writing.wait()
    desk.clock.advance(desk.queue.approval_window_s + 1)
    other = desk.queue_over(desk.engine.store)  # another console looks meanwhile
    gave_up = await other.get(item)
    assert gave_up.pending_status is PendingStatus.FAILED
    assert "interrupted before the write" in gave_up.pending_result["error"]
    await other.deny(item, "alice", "looked stuck")
    release.set()
    result = await approval
    assert result["amount_cents"] == order["allowed_cents"]
    shown = await other.get(item)
    assert shown.pending_status is PendingStatus.APPROVED  # the shop's record wins
    assert shown.pending_result["result"]["amount_cents"] == order["allowed_cents"]


async def test_edited_arguments_are_recorded_as_the_write_read_them(desk):
    item, order = await desk.refund_injection()
    await desk.queue.claim(item, "alice", lease_s=300)
    await desk.queue.approve(item, "alice", {"order_id": f"{order['id']}.0",
                                             "amount": "10.00", "reason": "x"})
    shown = await desk.queue.get(item)
    recorded = shown.pending_result["arguments"]
    assert recorded["order_id"] == order["id"] and recorded["amount"] == 10.0
    # what crash recovery would look up is what the shop wrote
    assert desk.engine.domain.recorded_write("issue_refund", recorded, shown.request_id)[
        "amount_cents"] == 1000


async def test_an_approval_replaying_another_refund_of_the_request_is_not_done(desk):
    order = desk.refundable_order()
    desk.script.steps.append({"tool_calls": [  # one turn: refused $5,000, and $1 done
        tool_call("issue_refund", {"order_id": order["id"], "amount": 5000, "reason": "a"},
                  "c1"),
        tool_call("issue_refund", {"order_id": order["id"], "amount": 1, "reason": "b"},
                  "c2")]})
    outcome = await desk.engine.submit(Request(f"refund order {order['id']}, it arrived damaged",
                                               customer_id=order["customer_id"]))
    item = desk.escalation_of(outcome.request_id)
    await desk.queue.claim(item, "alice", lease_s=300)
    with pytest.raises(QueueError, match=r"already did issue_refund there, otherwise: .*"
                                         r"\"amount_cents\": 100.*nothing more was done"):
        await desk.queue.approve(item, "alice", override_reason="as offered")
    shown = await desk.queue.get(item)
    assert shown.pending_status is PendingStatus.FAILED  # not "approved" for $49.99
    assert desk.refunds_of(outcome.request_id) == [{"order_id": order["id"],
                                                    "amount_cents": 100}]


async def test_a_hand_back_is_rerun_even_while_the_customer_is_rate_limited(desk):
    item, order = await desk.refund_injection()
    await desk.queue.claim(item, "alice", lease_s=300)
    desk.engine.guard.settings.rate_per_minute = 1
    desk.engine.guard.check("hello again", order["customer_id"])  # the one token, taken
    desk.script.steps.append(final("We refunded what the policy allows.",
                                   intent="refund_request"))
    outcome = await desk.queue.hand_back(item, "alice", "refund the policy amount")
    assert outcome.status is Status.ANSWERED
    assert (await desk.queue.get(item)).state is EscalationState.RESOLVED


async def test_a_hand_back_cut_short_before_its_rerun_is_left_for_resume(desk):
    item = await desk.over_budget(customer_id=6)
    await desk.queue.claim(item, "alice", lease_s=300)

    async def dies_before_running(request: Request):
        raise ConnectionAbortedError  # the process dies right after the hand-back commits

    queue = desk.queue_over(desk.engine.store, rerun=dies_before_running)
    with pytest.raises(ConnectionAbortedError):
        await queue.hand_back(item, "alice", "Offer the 2.3 update.")
    assert [r.note for r in desk.engine.store.requests.unfinished()] == ["Offer the 2.3 update."]
    desk.script.steps.append(final("Please install update 2.3.", intent="technical"))
    [outcome] = await desk.engine.resume()
    assert outcome.status is Status.ANSWERED
    assert (await desk.queue.get(item)).state is EscalationState.RESOLVED


async def test_a_re_escalated_item_keeps_who_approved_what(desk):
    item, order = await desk.refund_injection(desk.order_with_a_fee())
    await desk.queue.claim(item, "alice", lease_s=300)
    paid = (await desk.queue.get(item)).limits.figure("Paid")
    await desk.queue.approve(item, "alice", {"order_id": order["id"], "amount": paid / 100,
                                             "reason": "x"}, override_reason="damaged")
    desk.script.steps.append({"tool_calls": [tool_call(
        "issue_refund", {"order_id": order["id"], "amount": 5000, "reason": "again"})]})
    await desk.queue.hand_back(item, "alice", "tell the customer what we did")
    after = await desk.queue.get(item)
    assert after.state is EscalationState.OPEN
    [earlier] = after.earlier_actions
    assert earlier["status"] == "approved" and earlier["result"]["by"] == "alice"
    assert earlier["result"]["override"] == "damaged"
    assert earlier["result"]["result"]["amount_cents"] == paid


async def test_rerun_is_only_for_a_request_waiting_to_be_rerun(desk):
    item = await desk.over_budget(customer_id=4)
    shown = await desk.queue.get(item)
    await desk.queue.claim(item, "alice", lease_s=300)
    await desk.queue.reply(item, "alice", "Sorry, we can't refund that.")
    stolen = Request("what is your refund policy?", customer_id=9, id=shown.request_id)
    outcome = await desk.engine.rerun(stolen)
    assert outcome.status is Status.REJECTED and "already used" in outcome.answer
    empty = await desk.engine.rerun(Request(" ", customer_id=4, id=shown.request_id))
    assert empty.status is Status.REJECTED  # turned away by the guard, and recorded nowhere
    kept = desk.engine.store.requests.outcome(shown.request_id)
    assert kept is not None
    assert (kept.answer, kept.operator) == ("Sorry, we can't refund that.", "alice")


async def test_a_resumed_answer_quoting_a_refund_is_not_cached(desk):
    order = desk.refundable_order()
    text = "what happened with my refund? explain the refund policy"
    crashed = Request(text, customer_id=order["customer_id"], received_at=desk.clock.now())
    desk.engine.store.requests.accept(crashed)  # the first run refunded, then the process died
    desk.engine.domain.shop.issue_refund(crashed.id, order["id"], 1234, "first run")
    desk.script.steps += [
        final(f"We refunded $12.34 on order {order['id']}.", intent="refund_policy"),
        final("Refunds are possible within each category's window.", intent="refund_policy")]
    [resumed] = await desk.engine.resume()
    assert str(order["id"]) in resumed.answer
    anonymous = await desk.engine.submit(Request(text))
    assert str(order["id"]) not in anonymous.answer


async def test_an_override_reason_is_kept_whole_or_refused(desk):
    item, _ = await desk.refund_injection(desk.order_with_a_fee())
    await desk.queue.claim(item, "alice", lease_s=300)
    with pytest.raises(QueueError, match="under 300 characters"):
        await desk.queue.approve(item, "alice", override_reason="x" * 301)
