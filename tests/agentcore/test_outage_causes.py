"""A dead LLM endpoint: every slow-path request says why it could not be served (no
"internal error"), and the ladder answers whatever a lower rung can."""

from __future__ import annotations

import keyring
import keyring.backends.fail
import pytest

from agentcore import (
    Engine,
    EscalationReason,
    KeyringCredentials,
    LLMCause,
    Request,
    Route,
    Status,
)
from agentcore.demo_shop.domain import CORPUS
from agentcore.replay import load_corpus
from tests.agentcore.scripted_llm import ScriptedLLM, tool_call
from tests.agentcore.standin_endpoint import StandinEndpoint

DEAD = "http://127.0.0.1:9/v1"  # the discard port: nothing listens, connections are refused
BILLING = "I was charged twice for the same order, please sort it out"  # no rung answers it
DEGRADABLE = (EscalationReason.LLM_UNAVAILABLE, EscalationReason.BREAKER_OPEN)


@pytest.fixture
def settings(settings):
    settings.resilience.retry.max_attempts = 1  # one failure is the whole call here
    settings.guard.rate_per_minute = 1_000_000  # the corpus is a few customers' traffic
    settings.guard.anonymous_rate_per_minute = 1_000_000
    return settings


@pytest.fixture
def no_keyring_service():
    """A desktop without a keyring service: keyring's `fail` backend raises on every
    read, as it does where no Secret Service or KWallet runs."""
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield
    keyring.set_keyring(previous)


def slow_path_rows() -> list[dict]:
    return [r for r in load_corpus(CORPUS) if r["expected_route"] == "llm"]


async def test_no_keyring_service_and_a_dead_endpoint_degrade_instead_of_internal_errors(
        settings, no_keyring_service):
    # Found on the first day: here every slow-path request escalated as "internal
    # error" (the keyring's failure escaped the engine as a bug) and the ladder was
    # never asked: 0 of the 144 slow-path rows answered degraded.
    settings.llm.base_url = DEAD
    engine = Engine(settings, credentials=KeyringCredentials())
    try:
        rows = slow_path_rows()
        everything = [await engine.submit(Request(r["text"], r["customer_id"], r["channel"]))
                      for r in rows]
        # What a rule settles needs no LLM, outage or not: plain refunds, cancellations,
        # reset links, a person asked for, an app's usual fixes, other languages.
        by_rule = [o for o in everything if o.route is Route.RULE]
        assert {"refund_request", "cancel_order", "human_request"} <= {
            o.intent for o in by_rule}
        # ...and a rule's answer asked again comes from the cache, as it would any day.
        cached = [o for o in everything if o.route in (Route.CACHE_L1, Route.CACHE_L2)
                  and not o.degraded]
        outcomes = [o for o in everything if o.route is not Route.RULE and o not in cached]
        escalated = [o for o in outcomes if o.status is Status.ESCALATED]
        degraded = [o for o in outcomes if o.degraded]
        # Every other one either answered by a lower rung or escalated for the LLM, with why.
        assert len(degraded) + len(escalated) == len(outcomes) == (
            144 - len(by_rule) - len(cached))
        assert all(o.escalation_reason in DEGRADABLE for o in escalated)
        assert {o.llm_cause for o in outcomes} == {"endpoint unreachable"}
        assert all("(endpoint unreachable)" in o.errors[-1] for o in outcomes)
        # Only what no rung can answer goes to a human: 31 of the rest answered degraded.
        assert len(degraded) == 31
        assert all(engine.ladder.descend(o.request.text, o.request.customer_id,
                                         o.intent) is None for o in escalated)
        assert {o.route for o in degraded} <= {Route.TEMPLATE, Route.STATIC,
                                                Route.CACHE_L1, Route.CACHE_L2}
        # The queue shows the same cause in "why it stopped".
        item = await engine.escalations.get(
            engine.escalations.of_request(escalated[0].request_id) or 0)
        assert any("endpoint unreachable" in e for e in item.errors)
    finally:
        await engine.close()


async def submit_to(settings, base_url: str, text: str = BILLING):
    settings.llm.base_url = base_url
    settings.llm.classify = None
    settings.llm.request_timeout_s = 0.5
    engine = Engine(settings, credentials=KeyringCredentials())
    try:
        return await engine.submit(Request(text, customer_id=1)), engine
    finally:
        await engine.close()


@pytest.mark.parametrize(("step", "key", "cause"), [
    (401, None, LLMCause.NO_KEY),
    (401, "sk-test-wrong", LLMCause.KEY_REJECTED),
    (403, "sk-test-wrong", LLMCause.KEY_REJECTED),
    (429, None, LLMCause.RATE_LIMITED),
    (503, None, LLMCause.SERVER_ERROR),
    ("hang", None, LLMCause.TIMED_OUT),
])
async def test_each_escalation_names_its_cause(settings, step, key, cause):
    if key is not None:
        KeyringCredentials().set(settings.llm.api_key_name, key)
    async with StandinEndpoint([step]) as endpoint:
        outcome, _ = await submit_to(settings, f"{endpoint.root}/v1")
    assert outcome.status is Status.ESCALATED
    assert outcome.escalation_reason is EscalationReason.LLM_UNAVAILABLE  # as stored before
    assert outcome.llm_cause == cause
    assert outcome.errors[-1].startswith(f"llm unavailable ({cause}): ")


# (A port past 65535, where anyio raised past httpx, is now refused by the settings.)
@pytest.mark.parametrize("url", [DEAD, "http://nonexistent.invalid/v1"])
async def test_an_unreachable_endpoint_is_named_so(settings, url):
    outcome, _ = await submit_to(settings, url)
    assert outcome.escalation_reason is EscalationReason.LLM_UNAVAILABLE
    assert outcome.llm_cause == LLMCause.UNREACHABLE


async def test_a_breaker_open_escalation_names_what_opened_it_or_the_operator(settings):
    settings.resilience.breaker.failure_threshold = 1
    settings.llm.base_url = DEAD
    settings.llm.classify = None
    engine = Engine(settings, credentials=KeyringCredentials())
    try:
        await engine.submit(Request(BILLING, customer_id=1))  # opens the breaker
        refused = await engine.submit(Request(BILLING, customer_id=2))
        engine.breaker.force_open()
        forced = await engine.submit(Request(BILLING, customer_id=3))
    finally:
        await engine.close()
    assert refused.escalation_reason is EscalationReason.BREAKER_OPEN
    assert refused.llm_cause == LLMCause.UNREACHABLE
    assert forced.llm_cause == LLMCause.SWITCHED_OFF


async def test_the_ladder_answers_with_the_matched_rules_intent(settings):
    # "where is order 99999999": the order rule matches and can't answer (no such order),
    # the LLM is down; the rule's intent is truer than a keyword guess for the ladder.
    script = ScriptedLLM([503, 503])
    settings.llm.classify = None
    engine = Engine(settings, openai_client=script.client())
    try:
        outcome = await engine.submit(Request("where is my order #99999999", customer_id=1))
    finally:
        await engine.close()
    assert outcome.degraded and outcome.intent == "order_status"
    assert outcome.llm_cause == LLMCause.SERVER_ERROR


async def test_a_write_done_before_the_llm_was_lost_goes_to_a_human(settings, desk):
    # Answering it with a canned text would hide from everyone that a refund went out.
    settings.llm.classify = None  # the engine reads it per request
    order = desk.refundable_order()
    desk.script.steps.extend([
        {"tool_calls": [tool_call("issue_refund", {
            "order_id": order["id"], "amount": 1.0, "reason": "damaged"})]},
        503])
    # Its keyword intent is "technical", which has a static answer to degrade to.
    outcome = await desk.engine.submit(Request(
        f"the app crashed while I paid order {order['id']}, refund $1 please",
        customer_id=order["customer_id"]))
    assert desk.refunds_of(outcome.request_id)  # the write happened
    assert outcome.status is Status.ESCALATED and not outcome.degraded
    assert outcome.llm_cause == LLMCause.SERVER_ERROR
