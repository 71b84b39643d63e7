"""Review of issue 13's ClaimSession: "one action at a time" when the lease renewal
(a timer) runs an action of its own while an approval waits for its confirmation."""

from __future__ import annotations

import asyncio

import pytest

from agentcore import Act, ClaimSession, Renewal, Texts
from agentcore.settings import EscalationSettings


@pytest.fixture
def settings(settings):
    settings.llm.classify = None
    return settings


async def test_a_renewal_finishing_does_not_free_the_buttons_of_an_approval_still_running(
        desk):
    rules = EscalationSettings(operator="alice", lease_s=300)
    session = ClaimSession(desk.queue, desk.clock, lambda: rules)
    refund, _order = await desk.refund_injection()
    await session.load(refund, fresh=True, current=Texts())
    await session.claim()
    gate = asyncio.Event()

    async def approval_being_confirmed() -> None:  # the modal box is open
        await gate.wait()

    approving = asyncio.ensure_future(session.run(approval_being_confirmed()))
    await asyncio.sleep(0)
    assert session.allowed() == frozenset()
    desk.clock.advance(200)  # the panel's renewal timer: half the lease gone, worked on
    session.touch()
    assert session.renewal() is Renewal.RENEW
    await session.run(session.claim())
    # The approval has not returned: a second Approve must not be offered meanwhile.
    assert Act.APPROVE not in session.allowed() and session.acting
    gate.set()
    await approving
    assert Act.APPROVE in session.allowed() and not session.acting


async def test_a_draft_the_queue_would_not_keep_is_said_not_saved(desk):
    """The lease lapsed (or another station took the item) while the operator typed:
    the queue keeps nothing (`save_draft` is False), and the operator must hear it, or
    a crash loses a reply they believe is on disk."""
    rules = EscalationSettings(operator="alice", lease_s=300)
    session = ClaimSession(desk.queue, desk.clock, lambda: rules)
    said: list[tuple[str, bool]] = []
    session.on_said.append(lambda text, refusal: said.append((text, refusal)))
    budget = await desk.over_budget()
    await session.load(budget, fresh=True, current=Texts())
    await session.claim()
    assert session.save_draft(Texts("Hi, about your refund", ""))
    desk.clock.advance(301)
    assert not session.save_draft(Texts("Hi, about your refund: done", ""))
    assert said and said[-1][1] and "not saved" in said[-1][0]
