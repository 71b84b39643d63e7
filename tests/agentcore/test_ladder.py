"""The degradation ladder: a dead LLM still leaves customers answered where it can."""

from __future__ import annotations

import pytest

from agentcore import Engine, EscalationReason, Request, Route, Status
from agentcore.metrics import Metrics
from tests.agentcore.scripted_llm import ScriptedLLM


@pytest.fixture
def settings(settings):
    settings.llm.classify = None
    settings.resilience.retry.max_attempts = 1  # one 503 is the whole outage here
    return settings


async def submit_with_dead_llm(settings, text: str, customer_id: int | None = 1):
    script = ScriptedLLM([503])  # the endpoint is down
    engine = Engine(settings, openai_client=script.client())
    metrics = Metrics()
    engine.subscribe(metrics)
    outcome = await engine.submit(Request(text, customer_id=customer_id))
    await engine.close()
    return outcome, metrics


async def test_a_template_of_the_same_intent_answers_when_the_llm_is_down(settings):
    # German shipping question: no rule matches it, so it went to the LLM.
    outcome, metrics = await submit_with_dead_llm(
        settings, "wie lange dauert der versand nach österreich? und was kostet shipping")
    assert outcome.status is Status.ANSWERED and outcome.rung == "template"
    # Reported as the rung it is, not as a rule's answer: no order was looked up.
    assert outcome.route is Route.TEMPLATE and outcome.degraded
    assert outcome.intent == "shipping_info"
    assert any("degraded (llm unavailable)" in e for e in outcome.errors)
    assert metrics.rungs == {"template": 1}
    assert [s.name for s in outcome.spans][-1] == "ladder"


async def test_the_static_answer_comes_next(settings):
    # Nobody signed in: the order template can't say whose order, the static answer can.
    outcome, _ = await submit_with_dead_llm(settings, "my parcel is late, it has been weeks",
                                            customer_id=None)
    assert (outcome.route, outcome.rung, outcome.intent) == (Route.STATIC, "static",
                                                             "order_status")
    assert "My orders" in outcome.answer


async def test_what_needs_someone_to_act_goes_to_a_human(settings):
    outcome, metrics = await submit_with_dead_llm(
        settings, "please cancel my order 12345, I ordered the wrong size")
    assert outcome.status is Status.ESCALATED and outcome.rung == "human"
    assert outcome.escalation_reason is EscalationReason.LLM_UNAVAILABLE
    assert metrics.rungs == {"human": 1}


async def test_request_level_failures_are_not_degraded(settings):
    script = ScriptedLLM([{"tool_calls": [{"id": "x", "type": "function", "function": {
        "name": "delete_all_orders", "arguments": "{}"}}]}])
    engine = Engine(settings, openai_client=script.client())
    outcome = await engine.submit(Request("my app keeps crashing and nothing helps", customer_id=1))
    assert outcome.escalation_reason is EscalationReason.UNKNOWN_TOOL
    assert outcome.rung is None
    await engine.close()
