"""The engine as a user of the API sees it: outcomes, events, persistence, rejection."""

from __future__ import annotations

import sqlite3

import pytest

from agentcore import (
    BreakerChanged,
    Engine,
    FakeClock,
    Request,
    RequestAccepted,
    RequestAnswered,
    RequestRejected,
    Route,
    SettingsError,
    SpanFinished,
    Status,
)
from agentcore.router import Rule


@pytest.fixture
async def engine(settings):
    engine = Engine(settings)
    yield engine
    await engine.close()


def delivered_order(engine: Engine) -> tuple[int, int]:
    row = engine.domain.shop.conn.execute(
        "SELECT id, customer_id FROM orders WHERE status = 'delivered' ORDER BY id LIMIT 1"
    ).fetchone()
    return row[0], row[1]


async def test_fast_path_answers_from_the_shop_with_a_span_per_stage(engine):
    oid, cid = delivered_order(engine)
    outcome = await engine.submit(Request(f"Where is my order #{oid}?", customer_id=cid))
    assert outcome.route is Route.RULE and outcome.status is Status.ANSWERED
    assert outcome.intent == "order_status"
    assert str(oid) in outcome.answer and "delivered" in outcome.answer.lower()
    assert [s.name for s in outcome.spans] == ["guard", "accept", "cache", "route", "template"]
    assert all(s.end >= s.start > 0 for s in outcome.spans)
    assert outcome.usage.dollars == 0


async def test_request_is_on_disk_before_work_starts_and_outcome_after(engine, settings):
    seen_on_accept: list[tuple] = []

    def on_event(event):
        if isinstance(event, RequestAccepted):
            # A second connection: what a crash right now would leave behind.
            with sqlite3.connect(settings.engine_db) as conn:
                seen_on_accept.append(conn.execute(
                    "SELECT status FROM requests WHERE id = ?", (event.request.id,)).fetchone())

    engine.subscribe(on_event)
    oid, cid = delivered_order(engine)
    outcome = await engine.submit(Request(f"where is order {oid}", customer_id=cid))
    assert seen_on_accept == [("accepted",)]
    engine.store.flush()  # the outcome writer's commit, a few ms later
    with sqlite3.connect(settings.engine_db) as conn:
        assert conn.execute("SELECT status FROM requests WHERE id = ?",
                            (outcome.request_id,)).fetchone() == ("answered",)
        row = conn.execute("SELECT route, intent, answer FROM outcomes WHERE request_id = ?",
                           (outcome.request_id,)).fetchone()
        assert row == ("rule", "order_status", outcome.answer)
        spans = conn.execute("SELECT name FROM spans WHERE request_id = ? ORDER BY seq",
                             (outcome.request_id,)).fetchall()
        assert [s[0] for s in spans] == ["guard", "accept", "cache", "route", "template"]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_subscribers_hear_every_step_in_order(engine):
    events = []
    engine.subscribe(events.append)
    oid, cid = delivered_order(engine)
    await engine.submit(Request(f"status of order {oid}", customer_id=cid))
    kinds = [type(e).__name__ for e in events]
    # guard and accept finish (the request is on disk) before "accepted" is told.
    assert kinds[:3] == ["SpanFinished", "SpanFinished", "RequestAccepted"]
    assert kinds[-1] == "RequestAnswered"
    assert [e.span.name for e in events if isinstance(e, SpanFinished)] == [
        "guard", "accept", "cache", "route", "template"]
    assert isinstance(events[-1], RequestAnswered)


async def test_a_failing_subscriber_does_not_break_the_request(engine):
    def broken(event):
        raise RuntimeError("subscriber bug")

    engine.subscribe(broken)
    oid, cid = delivered_order(engine)
    outcome = await engine.submit(Request(f"where is my order {oid}", customer_id=cid))
    assert outcome.status is Status.ANSWERED


async def test_the_breaker_is_heard_on_the_engines_bus_until_unsubscribed(engine):
    heard: list[BreakerChanged] = []
    unsubscribe = engine.subscribe(
        lambda e: heard.append(e) if isinstance(e, BreakerChanged) else None)
    engine.breaker.force_open("maintenance window")
    engine.breaker.release()
    unsubscribe()
    engine.breaker.force_closed()
    assert heard == [
        BreakerChanged("closed", "open", "maintenance window", "forced_open",
                       cause="switched off by an operator"),
        BreakerChanged("open", "half_open", "returned to automatic by an operator", "auto")]


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty"),
    ("   \n\t  ", "empty"),
    ("x" * 20_000, "too long"),
    ("\x00\x01\x02binary\x03\x04", "binary"),
    ("\ud800\udfff" * 10, "binary"),
    (b"bytes are not text", "not text"),
])
async def test_bad_input_is_rejected_with_a_reason_and_kept(engine, text, reason):
    rejected = []
    engine.subscribe(lambda e: rejected.append(e) if isinstance(e, RequestRejected) else None)
    outcome = await engine.submit(Request(text, customer_id=7))  # type: ignore[arg-type]
    assert outcome.status is Status.REJECTED and outcome.route is Route.GUARD
    assert outcome.errors == [f"rejected: {reason}"]
    assert outcome.answer  # the customer is told why
    assert len(rejected) == 1
    assert engine.store.requests.status(outcome.request_id) == "rejected"


async def test_a_customer_flooding_the_agent_is_rate_limited(engine, settings):
    engine.guard.settings.rate_per_minute = 3
    outcomes = [await engine.submit(Request("hello", customer_id=99)) for _ in range(5)]
    assert [o.status for o in outcomes].count(Status.REJECTED) == 2
    assert outcomes[-1].errors == ["rejected: rate limited"]


async def test_a_rule_handler_that_cannot_answer_falls_through_to_the_llm(engine):
    oid, cid = delivered_order(engine)
    stranger = cid + 1
    outcome = await engine.submit(Request(f"where is my order {oid}", customer_id=stranger))
    assert outcome.route is Route.LLM
    assert any("could not answer" in e for e in outcome.errors)


async def test_with_no_request_deadline_the_llm_path_still_answers(settings):
    settings.resilience.request_deadline_s = None  # "bounded only by the attempts"
    engine = Engine(settings)
    try:
        outcome = await engine.submit(Request("my app keeps crashing and nothing helps",
                                              customer_id=3))
    finally:
        await engine.close()
    assert (outcome.route, outcome.status) == (Route.LLM, Status.ANSWERED)


async def test_applied_rules_take_effect_at_once_and_survive_a_restart(engine, settings):
    vip = Rule(id="vip", name="VIP line", pattern=r"\bvip line\b", intent="contact",
               handler="static", template="The VIP line is open 24/7.", priority=100)
    rules = [*engine.router.rules, vip]
    engine.apply_rules(rules)
    outcome = await engine.submit(Request("what is the vip line number", customer_id=3))
    assert outcome.rule_id == "vip" and outcome.answer == "The VIP line is open 24/7."
    await engine.close()
    again = Engine(settings)
    assert "vip" in {r.id for r in again.router.rules}
    await again.close()


async def test_requests_a_crash_interrupted_are_answered_on_resume(engine, settings):
    oid, cid = delivered_order(engine)
    interrupted = Request(f"where is order {oid}", customer_id=cid, received_at=1.0)
    engine.store.requests.accept(interrupted)  # accepted, then the process died
    await engine.close()
    restarted = Engine(settings)
    outcomes = await restarted.resume()
    assert [o.request_id for o in outcomes] == [interrupted.id]
    assert restarted.store.requests.unfinished() == []
    await restarted.close()


async def test_switching_from_the_mock_to_another_endpoint_needs_no_restart(settings):
    from agentcore.llm import build_client
    from tests.agentcore.scripted_llm import ScriptedLLM, final

    script = ScriptedLLM([{"content": '{"intent": "technical", "confidence": 0.9}'},
                          final("From the other endpoint.", intent="technical")])

    def clients(s):  # the mock while base_url is unset, the "real" endpoint after
        return script.client() if s.llm.base_url else build_client(s)

    engine = Engine(settings, client_factory=clients)
    text = "my app keeps crashing and nothing helps"
    first = await engine.submit(Request(text, customer_id=1))
    assert first.route is Route.LLM and script.requests == []
    changed = settings.model_copy(deep=True)
    changed.llm.base_url = "http://scripted.llm/v1"
    await engine.apply_settings(changed)
    second = await engine.submit(Request(text + " again", customer_id=1))
    assert second.answer == "From the other endpoint."
    assert len(script.requests) == 2
    await engine.close()


async def test_retention_from_the_settings_dialog_applies_without_a_restart(settings):
    """The operator shortens the retention while running: the next pruning round keeps
    only what the new setting keeps, and the domain can't be swapped under a run."""
    clock = FakeClock()
    engine = Engine(settings, clock=clock)
    try:
        old = await engine.submit(Request("what is your refund policy?", customer_id=3))
        clock.advance(3 * 86_400)
        recent = await engine.submit(Request("what is your refund policy?", customer_id=4))
        assert engine.store.prune().requests == 0  # 30 days: both are kept
        shorter = settings.model_copy(deep=True)
        shorter.storage.retention_days = 1
        await engine.apply_settings(shorter)
        assert engine.store.prune().requests == 1
        assert engine.store.requests.status(old.request_id) is None
        assert engine.store.requests.status(recent.request_id) == "answered"
        moved = shorter.model_copy(deep=True)
        moved.domain = "library_loans:create"
        with pytest.raises(SettingsError, match="domain can only change with a restart"):
            await engine.apply_settings(moved)
    finally:
        await engine.close()
