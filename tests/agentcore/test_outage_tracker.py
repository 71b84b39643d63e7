"""The outage tracker: one outage, since when, what it cost, and its items handed back
as a group once the endpoint is back. A fake clock; the engine on a scripted LLM."""

from __future__ import annotations

import pytest

from agentcore import (
    BreakerChanged,
    EscalationState,
    Outage,
    OutageTracker,
    Request,
    RequestAnswered,
    RequestEscalated,
    Status,
    hand_back_all,
)
from agentcore.models import Outcome, Route
from tests.agentcore.desk import SLOW_TEXT
from tests.agentcore.scripted_llm import final

BILLING = "I was charged twice for the same order, please sort it out"  # no rung answers it
TECHNICAL = "since the update the app is unusable, it crashes all the time"  # a template rung


@pytest.fixture
def settings(settings):
    settings.llm.classify = None
    settings.resilience.retry.max_attempts = 1
    settings.resilience.breaker.failure_threshold = 100  # the breaker stays out of it
    return settings


@pytest.fixture
def tracked(desk):
    tracker = OutageTracker(desk.clock.now, desk.engine.escalations.of_request)
    desk.engine.subscribe(tracker.observe)
    heard: list[Outage] = []
    tracker.subscribe(heard.append)
    return tracker, heard


async def test_an_outage_counts_what_it_cost_and_ends_when_the_llm_answers(desk, tracked):
    tracker, heard = tracked
    started = desk.clock.now()
    desk.script.steps.extend([503, 503, 503])
    first = await desk.engine.submit(Request(BILLING, customer_id=1))
    desk.clock.advance(60)
    await desk.engine.submit(Request(TECHNICAL, customer_id=2))
    second = await desk.engine.submit(Request(BILLING, customer_id=3))
    outage = tracker.current
    assert outage is not None and outage.ongoing and tracker.ongoing
    assert outage.since == started and outage.cause == "server error"
    assert (outage.degraded, outage.escalated) == (1, 2)
    assert outage.escalation_ids == [desk.escalation_of(first.request_id),
                                     desk.escalation_of(second.request_id)]
    assert len(heard) == 3  # one notice per request: the banner coalesces them

    desk.clock.advance(120)
    desk.script.steps.append(final("Reinstall it.", intent="technical"))
    answered = await desk.engine.submit(Request(SLOW_TEXT, customer_id=4))
    assert answered.route is Route.LLM and answered.status is Status.ANSWERED
    assert not tracker.ongoing and outage.ended_at == started + 180
    assert outage.duration_s(desk.clock.now() + 999) == 180  # ended: it stays 3 minutes
    assert tracker.current is outage  # still shown, "back", until dismissed
    tracker.dismiss()
    assert tracker.current is None


async def test_failing_again_soon_is_the_same_outage_and_later_a_new_one(desk, tracked):
    tracker, _ = tracked
    desk.script.steps.extend([503, final(intent="technical"), (401, "no"),
                              final(intent="technical"), 503])
    await desk.engine.submit(Request(BILLING, customer_id=1))
    first = tracker.current
    desk.clock.advance(10)
    await desk.engine.submit(Request(SLOW_TEXT, customer_id=2))
    assert first is not None and not first.ongoing
    desk.clock.advance(10)
    await desk.engine.submit(Request(BILLING, customer_id=3))
    # A flapping endpoint: one outage, both items in its group, the latest cause.
    assert tracker.current is first and first.ongoing and len(first.escalation_ids) == 2
    assert first.cause == "rejected the key"
    await desk.engine.submit(Request(SLOW_TEXT + ", really", customer_id=4))  # not cached
    assert not first.ongoing
    desk.clock.advance(tracker.rejoin_s)
    await desk.engine.submit(Request(BILLING, customer_id=5))
    assert tracker.current is not first and tracker.ongoing
    assert tracker.current is not None and tracker.current.escalated == 1


async def test_the_outages_items_are_handed_back_one_at_a_time(desk, tracked):
    tracker, _ = tracked
    desk.script.steps.extend([503, 503, 503])
    ids = [desk.escalation_of((await desk.engine.submit(
        Request(BILLING, customer_id=c))).request_id) for c in (1, 2, 3)]
    outage = tracker.current
    assert outage is not None and outage.escalation_ids == ids
    await desk.engine.escalations.claim(ids[1], "bob", 300)  # bob is on this one already
    desk.script.steps.extend([final("Refunded the duplicate charge."),
                              final(handoff="needs a human to check the bank statement")])
    done: list[tuple[int, int]] = []
    report = await hand_back_all(desk.engine.escalations, outage.escalation_ids, "ann",
                                 note=outage.hand_back_note, lease_s=300,
                                 progress=lambda d, n: done.append((d, n)))
    assert (report.answered, report.escalated_again, report.handed_back) == (1, 1, 2)
    assert [i for i, _ in report.refused] == [ids[1]] and "bob" in report.refused[0][1]
    assert report.text().startswith("2 handed back: 1 answered, 1 escalated again; "
                                    f"1 refused (#{ids[1]}: ")
    assert done == [(1, 3), (2, 3), (3, 3)]
    assert report.done == (ids[0], ids[2])
    outage.handed_back.update(report.done)  # as the banner does
    assert outage.to_hand_back == [ids[1]]  # bob's, for later
    states = [(await desk.engine.escalations.get(i)).state for i in ids]
    assert states == [EscalationState.RESOLVED, EscalationState.CLAIMED, EscalationState.OPEN]
    # The agent was told why it gets them back.
    assert "could not be had (server error)" in str(desk.script.requests[-1]["messages"])


# -- the breaker and stragglers, with events alone ------------------------------------

def outcome(received_at: float, *, cause: str | None, escalated: bool) -> Outcome:
    request = Request(BILLING, customer_id=1, received_at=received_at)
    if escalated:
        return Outcome(request, Route.LLM, Status.ESCALATED, llm_cause=cause, rung="human")
    return Outcome(request, Route.STATIC, Status.ANSWERED, llm_cause=cause, rung="static")


def test_the_breaker_opening_starts_it_and_closing_on_its_own_ends_it(desk):
    clock = desk.clock
    tracker = OutageTracker(clock.now, lambda _rid: None)
    tracker.observe(BreakerChanged("closed", "open", "5 consecutive failures", "auto",
                                   cause="endpoint unreachable"))
    assert tracker.current is not None and tracker.current.cause == "endpoint unreachable"
    clock.advance(30)
    tracker.observe(BreakerChanged("closed", "closed", "forced closed by an operator",
                                   "forced_closed"))
    assert tracker.ongoing  # forcing it closed proves nothing about the endpoint
    tracker.observe(BreakerChanged("open", "half_open", "probing", "auto"))
    tracker.observe(BreakerChanged("half_open", "closed", "1 probe(s) succeeded", "auto"))
    assert not tracker.ongoing and tracker.current.duration_s(clock.now()) == 30


def test_a_straggler_counts_in_the_outage_it_belongs_to(desk):
    clock = desk.clock
    tracker = OutageTracker(clock.now, lambda _rid: None)
    tracker.observe(RequestEscalated(outcome(clock.now(), cause="timed out", escalated=True)))
    first = tracker.current
    accepted_during = clock.now() + 5
    clock.advance(10)
    tracker.observe(BreakerChanged("half_open", "closed", "1 probe(s) succeeded", "auto"))
    clock.advance(1)
    # Accepted during the outage, finished after it (its retries ran out late).
    tracker.observe(RequestAnswered(outcome(accepted_during, cause="timed out",
                                            escalated=False)))
    assert tracker.current is first and not tracker.ongoing
    assert first is not None and (first.escalated, first.degraded) == (1, 1)


# -- what the banner says ---------------------------------------------------------------

def test_the_summary_says_since_when_why_and_what_it_cost_then_that_it_is_back():
    outage = Outage(since=1000.0, cause="no API key", degraded=12, escalated=7,
                    escalation_ids=list(range(7)))
    hhmm = {1000.0: "14:02", 1420.0: "14:09"}.__getitem__
    assert outage.summary(1180.0, hhmm) == (
        "LLM endpoint needs an API key (none stored) since 14:02 (3 min): "
        "12 answered degraded, 7 escalated. Store one in Settings.")
    outage.ended_at = 1420.0
    assert outage.summary(9999.0, hhmm) == (
        "LLM endpoint back at 14:09 after 7 min (no API key): 12 answered degraded; "
        "7 escalated items can be handed back.")
    assert Outage(since=0.0, cause="timed out", ended_at=20.0).summary(30.0, str).endswith(
        "after less than a minute (timed out): 0 answered degraded; nothing was escalated.")
