"""The learned tier on the request path: between the rules and the LLM, it answers with
its intent's template when it is sure and the intent has one answer; below its
threshold its intent still spares the classify call; it never acts."""

from __future__ import annotations

import pytest

from agentcore import Request, Route
from agentcore.learned import Example, train
from tests.agentcore.scripted_llm import final

# Wordings no rule's pattern takes (checked below), each intent's own vocabulary.
PHRASES = {
    "payment_methods": ["u guys take amex or nah", "amex ok or nah", "can i use amex or nah",
                        "amex accepted or nah", "is amex a thing or nah"],
    "order_status": ["yo wya stuff", "wya my stuff yo", "stuff wya yo", "me stuff yo wya",
                     "yo stuff wya"],
    "refund_request": ["gimme my cash back yo", "cash back for my stuff yo",
                       "yo i want cash back", "cash back now yo", "yo cash back pls"],
    "billing": ["u charged me 2x yo", "charged 2x yo wtf", "yo 2x charge", "2x charged yo",
                "yo u charged 2x"],
}


def examples() -> list[Example]:
    return [Example(text, intent, "label") for intent, texts in PHRASES.items()
            for text in texts for _ in range(2)]


@pytest.fixture
def model():
    return train(examples())


@pytest.fixture
def on(desk, model):
    desk.settings.llm.classify = None  # each scripted step is the decide call
    desk.engine.learned.save(model, 0.6, True, "alice", None)
    return desk


async def test_a_sure_intent_with_one_answer_is_answered_from_its_template(on):
    text = "u guys take amex or nah"
    assert on.engine.router.route(text) is None  # no pattern takes it
    outcome = await on.engine.submit(Request(text, customer_id=1))
    assert outcome.route is Route.LEARNED and outcome.intent == "payment_methods"
    assert on.script.requests == []  # no LLM call
    template = next(r.template for r in on.engine.router.rules if r.id == outcome.rule_id)
    assert outcome.answer == template
    span = next(s for s in outcome.spans if s.name == "learned")
    assert span.attributes["intent"] == "payment_methods"
    assert span.attributes["confidence"] >= 0.6


async def test_an_order_status_reads_the_customers_latest_order(on):
    customer = 1
    text = "wya my stuff yo"
    assert on.engine.router.route(text) is None
    outcome = await on.engine.submit(Request(text, customer_id=customer))
    assert outcome.route is Route.LEARNED and outcome.intent == "order_status"
    assert outcome.answer.startswith("Your most recent order:")


async def test_the_tier_never_acts_its_refund_intent_goes_to_the_llm(on):
    on.script.steps.append(final("Which order is it?", intent="refund_request"))
    outcome = await on.engine.submit(Request("gimme my cash back yo", customer_id=1))
    assert outcome.route is Route.LLM
    # It named the intent for the decide prompt: no classify call was needed.
    [request] = on.script.requests
    assert "Intent: refund_request" in request["messages"][0]["content"]


async def test_below_its_threshold_the_tier_names_the_intent_but_does_not_answer(on):
    # Labelled two ways by the operators: the tier is fairly, not very, sure of it.
    text = "do u guys take amex"
    unsure = train([*examples(), *[Example(text, "payment_methods", "label")] * 3,
                    *[Example(text, "order_status", "label")] * 2])
    guess = unsure.predict(text)
    assert 0.5 <= guess.confidence < 0.9
    on.engine.learned.save(unsure, 0.9, True, "alice", None)
    on.script.steps.append(final("We take Amex.", intent="payment_methods"))
    outcome = await on.engine.submit(Request(text, customer_id=1))
    assert outcome.route is Route.LLM and outcome.answer == "We take Amex."
    loop = next(s for s in outcome.spans if s.name == "llm_loop")
    assert (loop.attributes["intent_from"], loop.attributes["intent"]) == ("learned",
                                                                           guess.intent)


async def test_switched_off_the_tier_answers_nothing(on):
    on.engine.learned.set_enabled(False, "alice")
    on.script.steps.append(final("We take Amex.", intent="payment_methods"))
    outcome = await on.engine.submit(Request("u guys take amex or nah", customer_id=1))
    assert outcome.route is Route.LLM


async def test_an_intent_with_several_answers_is_left_to_the_llm(on, model):
    # "billing" has no rule at all here: nothing to answer it with.
    on.script.steps.append(final("Let me look.", intent="billing"))
    outcome = await on.engine.submit(Request("u charged me 2x yo", customer_id=1))
    assert outcome.route is Route.LLM
    span = next(s for s in outcome.spans if s.name == "learned")
    assert span.attributes["rule"] is None
