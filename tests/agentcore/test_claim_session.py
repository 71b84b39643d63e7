"""One item in an operator's hands, headless: which actions are allowed when, one
action at a time, the lease renewed only for an operator who works on the item,
each item's half-written texts kept apart, and a hand-back that says what the
agent's new attempt did."""

from __future__ import annotations

import asyncio

import pytest

from agentcore import Act, ClaimSession, EscalationState, Renewal, Texts
from agentcore.settings import EscalationSettings
from tests.agentcore.scripted_llm import final

OPERATOR = "alice"


@pytest.fixture
def settings(settings):
    settings.llm.classify = None  # one decide stage keeps the scripts exact
    return settings


@pytest.fixture
def escalation_settings() -> EscalationSettings:
    return EscalationSettings(operator=OPERATOR, lease_s=300)


@pytest.fixture
def session(desk, escalation_settings) -> ClaimSession:
    return ClaimSession(desk.queue, desk.clock, lambda: escalation_settings,
                        draft=lambda item: f"Hi, about #{item.id}")


async def shown(session: ClaimSession, escalation_id: int,
                current: Texts = Texts()) -> Texts | None:  # noqa: B008
    return await session.load(escalation_id, fresh=True, current=current)


async def test_what_may_be_done_follows_the_claim_and_the_pending_write(desk, session):
    refund, _order = await desk.refund_injection()
    assert session.allowed() == frozenset()  # nothing shown
    assert await shown(session, refund) == Texts(f"Hi, about #{refund}", "")
    assert session.allowed() == {Act.CLAIM}
    await session.claim()
    assert session.mine and session.allowed() == {
        Act.RELEASE, Act.APPROVE, Act.DENY, Act.REPLY, Act.RESOLVE, Act.HAND_BACK}
    await session.deny("the customer withdrew it")
    assert session.allowed() == {Act.RELEASE, Act.REPLY, Act.RESOLVE, Act.HAND_BACK}
    # Someone else's claim: nothing for this operator.
    await session.release()
    await desk.queue.claim(refund, "bob", 300)
    await session.load(refund, fresh=False)
    assert session.allowed() == frozenset()


async def test_one_action_at_a_time(desk, session):
    budget = await desk.over_budget()
    await shown(session, budget)
    seen: list[frozenset[Act]] = []
    session.on_changed.append(lambda _item: seen.append(session.allowed()))
    gate = asyncio.Event()

    async def slow() -> None:
        await gate.wait()

    running = asyncio.ensure_future(session.run(slow()))
    await asyncio.sleep(0)
    assert session.acting and session.allowed() == frozenset()  # claim waits too
    gate.set()
    await running
    assert session.allowed() == {Act.CLAIM} and seen[-1] == {Act.CLAIM}


async def test_the_lease_is_renewed_for_work_and_lapses_for_absence(desk, session):
    budget = await desk.over_budget()
    await shown(session, budget)
    await session.claim()
    desk.clock.advance(100)
    assert session.renewal() is None  # plenty left
    desk.clock.advance(100)
    assert session.renewal() is None  # half gone, but no keystroke since the claim
    session.touch()
    assert session.renewal() is Renewal.RENEW
    await session.claim()
    assert session.item.lease_expires_at == desk.clock.now() + 300
    desk.clock.advance(301)
    assert session.renewal() is Renewal.RELOAD
    await session.load(budget, fresh=False)
    assert session.item.state is EscalationState.OPEN and session.renewal() is None


async def test_each_item_keeps_its_own_half_written_texts(desk, session):
    first = await desk.over_budget(customer_id=1)
    second = await desk.over_budget(customer_id=2)
    await shown(session, first)
    await session.claim()
    written = Texts("Hello, about your", "VIP")
    assert await shown(session, second, current=written) == Texts(f"Hi, about #{second}", "")
    assert await shown(session, first) == written
    # Saved, the operator's texts come back after a restart (a new session).
    assert session.save_draft(Texts("Hello again", "VIP"))
    again = ClaimSession(desk.queue, desk.clock, session._settings,
                         draft=lambda item: "the draft")
    assert await shown(again, first) == Texts("Hello again", "VIP")


async def test_a_hand_back_says_what_the_agent_did(desk, session):
    budget = await desk.over_budget()
    await shown(session, budget)
    await session.claim()
    said: list[tuple[str, bool]] = []
    session.on_said.append(lambda text, refusal: said.append((text, refusal)))
    desk.script.steps.append(final("Restarting the app in safe mode fixes this crash."))
    await session.hand_back("try the FAQ on crashes")
    assert said == [("Handed back; the agent answered the customer", False)]
    assert session.item.state is EscalationState.RESOLVED
    await session.reply("too late")  # resolved by the agent: refused, said
    assert said[-1][1] and "already resolved" in said[-1][0]
