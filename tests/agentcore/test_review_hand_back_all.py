"""Review of issue 13's group hand-back: what it must leave alone."""

from __future__ import annotations

import pytest

from agentcore import EscalationState, OutageTracker, Request, StorageError, hand_back_all
from tests.agentcore.scripted_llm import final

BILLING = "I was charged twice for the same order, please sort it out"


@pytest.fixture
def settings(settings):
    settings.llm.classify = None
    settings.resilience.retry.max_attempts = 1
    settings.resilience.breaker.failure_threshold = 100
    return settings


async def test_hand_back_all_leaves_an_item_the_operator_is_working_on_at_another_station(desk):
    """Ann holds #2 at her other station (or in this console's context panel), her
    reply half written: "Hand back all" must not pull it from under her (her draft
    wiped, her claim gone, the agent answering the customer instead)."""
    tracker = OutageTracker(desk.clock.now, desk.engine.escalations.of_request)
    desk.engine.subscribe(tracker.observe)
    desk.script.steps.extend([503, 503])
    ids = [desk.escalation_of((await desk.engine.submit(
        Request(BILLING, customer_id=c))).request_id) for c in (1, 2)]
    queue = desk.engine.escalations
    await queue.claim(ids[1], "ann", 300)
    assert queue.save_draft(ids[1], "ann", "Hi, I'm refunding the duplicate now", "")
    desk.script.steps.extend([final("Refunded the duplicate charge."),
                              final("Refunded the duplicate charge.")])
    report = await hand_back_all(queue, ids, "ann", note="LLM is back", lease_s=300)
    assert report.done == (ids[0],)
    assert [i for i, _ in report.refused] == [ids[1]]
    kept = await queue.get(ids[1])
    assert kept.state is EscalationState.CLAIMED and kept.claimed_by == "ann"
    assert kept.reply_draft == "Hi, I'm refunding the duplicate now"


class _LockedOnce:
    """The real queue, its database locked for one item's hand-back."""

    def __init__(self, queue, locked: int) -> None:
        self.queue, self.locked = queue, locked

    async def get(self, escalation_id):
        return await self.queue.get(escalation_id)

    async def claim(self, escalation_id, operator, lease_s):
        return await self.queue.claim(escalation_id, operator, lease_s)

    async def release(self, escalation_id, operator):
        return await self.queue.release(escalation_id, operator)

    async def hand_back(self, escalation_id, operator, note):
        if escalation_id == self.locked:
            raise StorageError("database is locked")
        return await self.queue.hand_back(escalation_id, operator, note)


async def test_a_locked_database_midway_keeps_what_was_handed_back_already(desk):
    """Item 1 handed back and escalated again by the agent (a real reason this time);
    the database locked on item 2. The items done must be known as done, or the next
    "Hand back all" re-runs item 1 a second time, and item 2 must not stay claimed."""
    tracker = OutageTracker(desk.clock.now, desk.engine.escalations.of_request)
    desk.engine.subscribe(tracker.observe)
    desk.script.steps.extend([503, 503, 503])
    ids = [desk.escalation_of((await desk.engine.submit(
        Request(BILLING, customer_id=c))).request_id) for c in (1, 2, 3)]
    queue = desk.engine.escalations
    desk.script.steps.extend([final(handoff="needs a human to check the bank statement"),
                              final("Refunded the duplicate charge.")])
    report = await hand_back_all(_LockedOnce(queue, ids[1]), ids, "ann",
                                 note="LLM is back", lease_s=300)
    assert report.done == (ids[0], ids[2])
    assert [i for i, _ in report.refused] == [ids[1]]
    assert "locked" in report.refused[0][1]
    assert (await queue.get(ids[1])).state is EscalationState.OPEN  # for the next try


async def test_a_group_hand_back_of_an_item_whose_refund_ran_refunds_no_more(desk):
    """#1's refund was approved and the item released (the operator meant to reply
    later); it is in the outage's group, and "Hand back all" re-runs it: the agent
    refunding again must replay the first refund, not issue a second."""
    from tests.agentcore.scripted_llm import tool_call

    item, order = await desk.refund_injection()
    queue = desk.queue
    await queue.claim(item, "bob", 300)
    pending = (await queue.get(item)).pending_action
    allowed = order["allowed_cents"] / 100
    await queue.approve(item, "bob", {**pending.arguments, "amount": allowed})
    await queue.release(item, "bob")
    request_id = (await queue.get(item)).request_id
    desk.script.steps.extend([
        {"tool_calls": [tool_call("issue_refund", {"order_id": order["id"],
                                                   "amount": allowed, "reason": "again"})]},
        final("Refunded.")])
    report = await hand_back_all(queue, [item], "ann", note="LLM is back", lease_s=300)
    assert report.done == (item,) or report.refused
    assert len(desk.refunds_of(request_id)) == 1


async def test_an_own_claim_that_lapsed_is_handed_back_with_the_rest(desk):
    tracker = OutageTracker(desk.clock.now, desk.engine.escalations.of_request)
    desk.engine.subscribe(tracker.observe)
    desk.script.steps.extend([503])
    [item] = [desk.escalation_of((await desk.engine.submit(
        Request(BILLING, customer_id=1))).request_id)]
    queue = desk.engine.escalations
    await queue.claim(item, "ann", 300)
    desk.clock.advance(301)  # ann walked away: the item is open again
    desk.script.steps.append(final("Refunded the duplicate charge."))
    report = await hand_back_all(queue, [item], "ann", note="LLM is back", lease_s=300)
    assert report.done == (item,)


async def test_a_write_waiting_for_a_decision_is_never_decided_in_bulk(desk):
    """A hand-back denies the pending write: "Hand back all" leaves such an item for an
    operator to approve or deny from its panel, and says so."""
    item, _order = await desk.refund_injection()
    queue = desk.queue
    before = await queue.get(item)
    assert before.pending_status is not None and before.pending_status.undecided
    report = await hand_back_all(queue, [item], "ann", note="LLM is back", lease_s=300)
    assert report.done == () and [i for i, _why in report.refused] == [item]
    assert "waiting for a decision" in report.refused[0][1]
    after = await queue.get(item)
    assert after.state is EscalationState.OPEN and after.pending_status.undecided
