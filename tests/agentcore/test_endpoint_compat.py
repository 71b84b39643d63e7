"""What real servers need from the slow path, each found against llama.cpp's server
(issue 11) and pinned here with a scripted endpoint through the real openai client."""

from __future__ import annotations

import json

import pytest

from agentcore import Engine, EscalationReason, Request, Route, Status
from agentcore.settings import StageModel
from tests.agentcore.scripted_llm import ScriptedLLM, final, tool_call
from tests.agentcore.test_agent_loop import SLOW_TEXT, refundable_order

CLASSIFY = StageModel(model="small", input_per_mtok=0, output_per_mtok=0)


@pytest.fixture
def settings(settings):
    settings.llm.classify = None  # one decide stage keeps the scripts exact
    return settings


def engine_for(settings, script: ScriptedLLM) -> Engine:
    return Engine(settings, openai_client=script.client())


async def test_tools_go_with_tool_choice_and_no_turn_goes_back_with_null_content(settings):
    script = ScriptedLLM([{"tool_calls": [tool_call("search_faq", {"query": "crash"})]},
                          final("Reinstall it.", intent="technical")])
    engine = engine_for(settings, script)
    outcome = await engine.submit(Request(SLOW_TEXT, customer_id=1))
    await engine.close()
    assert outcome.status is Status.ANSWERED
    first, second = script.requests
    # Without tool_choice llama.cpp's handler renders no tools: the model never sees them.
    assert first["tool_choice"] == "auto" and first["tools"]
    assistant = [m for m in second["messages"] if m["role"] == "assistant"]
    # A null content beside tool calls is a 500 on llama.cpp's server, every time.
    assert assistant and all(isinstance(m["content"], str) for m in assistant)


async def test_the_model_reads_what_the_customer_wrote_not_the_routers_text(settings):
    text = "Hallo,\nmeine Bestellung ist KAPUTT angekommen!"
    script = ScriptedLLM([final("Das tut mir leid.", intent="technical")])
    engine = engine_for(settings, script)
    await engine.submit(Request(text, customer_id=1))
    await engine.close()
    user = [m for m in script.requests[0]["messages"] if m["role"] == "user"]
    assert user[0]["content"] == text


async def test_the_last_allowed_turn_closes_the_tools_and_restates_the_facts(settings):
    settings.loop.max_iterations = 2
    script = ScriptedLLM([{"tool_calls": [tool_call("search_faq", {"query": "crash"})]},
                          final("Reinstall it.", intent="technical")])
    engine = engine_for(settings, script)
    outcome = await engine.submit(Request(SLOW_TEXT, customer_id=1))
    await engine.close()
    assert outcome.status is Status.ANSWERED
    last = script.requests[-1]
    assert "tools" not in last and "tool_choice" not in last
    closing = last["messages"][-1]
    # Servers that render no tool messages without tools still get the results.
    assert closing["role"] == "system" and "Tools are closed" in closing["content"]
    assert '"search_faq"' in closing["content"]
    # ...and the answer is asked for in a JSON schema.
    assert last["response_format"]["type"] == "json_schema"


async def test_an_empty_reply_with_tools_on_offer_is_asked_again_without_them(settings):
    script = ScriptedLLM([{"content": ""}, final("Reinstall it.", intent="technical")])
    engine = engine_for(settings, script)
    outcome = await engine.submit(Request(SLOW_TEXT, customer_id=1))
    await engine.close()
    assert outcome.status is Status.ANSWERED and outcome.answer == "Reinstall it."
    assert "tools" in script.requests[0] and "tools" not in script.requests[1]


async def test_a_model_calling_tools_after_they_closed_is_stopped_by_the_bound(settings):
    settings.loop.max_iterations = 2
    again = {"tool_calls": [tool_call("search_faq", {"query": "crash"})]}
    script = ScriptedLLM([again, again])
    engine = engine_for(settings, script)
    outcome = await engine.submit(Request(SLOW_TEXT, customer_id=1))
    await engine.close()
    assert outcome.escalation_reason is EscalationReason.ITERATION_LIMIT
    assert len(script.requests) == 2  # the tool did not run a second time either


async def test_a_repeated_identical_call_is_answered_from_its_first_result(settings):
    settings.loop.max_iterations = 4
    order = refundable_order(settings)
    look = {"tool_calls": [tool_call("get_order", {"order_id": order["id"]}, "x")]}
    script = ScriptedLLM([look, look, final("It is on its way.", intent="order_status")])
    engine = engine_for(settings, script)
    outcome = await engine.submit(Request(SLOW_TEXT, customer_id=order["customer_id"]))
    await engine.close()
    model_calls = [s for s in outcome.spans if s.name == "tool:get_order"
                   and s.attributes.get("by") != "engine"]
    assert [bool(s.attributes.get("repeated")) for s in model_calls] == [False, True]
    first, second = (json.loads(m["content"]) for m in script.requests[2]["messages"]
                     if m["role"] == "tool")
    assert first == second and first["id"] == order["id"]


async def test_one_lookup_by_the_model_is_enough_for_the_refund_quote(settings):
    order = refundable_order(settings)
    script = ScriptedLLM([
        {"tool_calls": [tool_call("get_order", {"order_id": order["id"]})]},
        final("A colleague will confirm.", intent="refund_request", confidence=0.9)])
    engine = engine_for(settings, script)
    # The message names no order: the model's lookup is what makes it known.
    outcome = await engine.submit(Request("I want my money back for the broken one",
                                          customer_id=order["customer_id"]))
    await engine.close()
    fetched = sorted(s.name for s in outcome.spans if s.attributes.get("by") == "engine")
    assert fetched == ["tool:get_payments", "tool:get_refund_policy"]
    [quote] = outcome.tool_results.facts_of("refund_quote")
    assert quote.entity == order["id"]
    assert quote.data["allowed_cents"] == order["allowed_cents"]  # from the shop, not the model
    sent = [m["content"] for m in script.requests[1]["messages"] if m["role"] == "system"]
    assert any(c.startswith("Refund quote: ") for c in sent)


async def test_an_order_the_message_names_is_looked_up_and_quoted_before_the_first_turn(
        settings):
    order = refundable_order(settings)
    script = ScriptedLLM([final("A colleague will confirm.", intent="refund_request")])
    engine = engine_for(settings, script)
    # $49.99 is an amount, not an order: only the order number is looked up.
    await engine.submit(Request(f"Refund my $49.99 for order #{order['id']}, it broke",
                                customer_id=order["customer_id"]))
    await engine.close()
    system = script.requests[0]["messages"][0]["content"]
    assert f'"order_id": {order["id"]}' in system and "Refund quote: " in system
    assert f'"allowed_cents": {order["allowed_cents"]}' in system
    assert '"order_id": 49' not in system


async def test_someone_elses_order_named_in_a_message_is_not_shown(settings):
    order = refundable_order(settings)
    script = ScriptedLLM([final("Which order do you mean?", intent="refund_request")])
    engine = engine_for(settings, script)
    await engine.submit(Request(f"refund order {order['id']}",
                                customer_id=order["customer_id"] + 1))
    await engine.close()
    system = script.requests[0]["messages"][0]["content"]
    assert "Looked up" not in system and "Refund quote" not in system


async def test_an_anonymous_request_fetches_nobodys_order(settings):
    order = refundable_order(settings)
    script = ScriptedLLM([final("Please sign in.", intent="refund_request")])
    engine = engine_for(settings, script)
    outcome = await engine.submit(Request(f"refund order {order['id']}", customer_id=None))
    await engine.close()
    assert not [s for s in outcome.spans if s.name.startswith("tool:")]


@pytest.mark.parametrize("reply", [
    '```json\n{"intent": "technical", "confidence": 0.8}\n```',
    'Sure! Here is the intent: {"intent": "technical", "confidence": 0.8} Hope it helps.',
])
async def test_a_classify_reply_wrapped_in_prose_or_a_fence_is_read(settings, reply):
    settings.llm.classify = CLASSIFY
    script = ScriptedLLM([{"content": reply}, final("Reinstall it.", intent="technical")])
    engine = engine_for(settings, script)
    await engine.submit(Request("my thing is weird", customer_id=1))
    await engine.close()
    assert "Intent: technical" in script.requests[1]["messages"][0]["content"]
    assert script.requests[0]["response_format"]["type"] == "json_schema"


async def test_an_unusable_classify_reply_falls_back_to_the_keyword_intent(settings):
    settings.llm.classify = CLASSIFY
    script = ScriptedLLM([{"content": "I think this is about something?"},
                          final("We'll look into it.", intent="other")])
    engine = engine_for(settings, script)
    # Nothing local names an intent here (no rule, no keyword): the cheap model is
    # asked, answers prose, and the keyword classifier's catch-all stands in.
    outcome = await engine.submit(Request(
        "something strange happened, can you look into it", customer_id=1))
    await engine.close()
    assert "Intent: other" in script.requests[1]["messages"][0]["content"]
    assert any("keyword intent" in e for e in outcome.errors)


async def test_a_final_answer_after_a_sentence_is_accepted(settings):
    body = json.dumps({"intent": "technical", "answer": "Reinstall it.", "confidence": 0.9,
                       "handoff": None})
    script = ScriptedLLM([{"content": f"Here is my answer:\n{body}\nThanks!"}])
    engine = engine_for(settings, script)
    outcome = await engine.submit(Request(SLOW_TEXT, customer_id=1))
    await engine.close()
    assert outcome.status is Status.ANSWERED and outcome.answer == "Reinstall it."


# -- structured output, negotiated once per endpoint --------------------------------

LLAMA_CPP_PYTHON_REFUSAL = (500, "1 validation error: {'loc': ('body', 'response_format', "
                                 "'type'), 'msg': \"Input should be 'text' or 'json_object'\"}")


async def test_an_endpoint_refusing_json_schema_gets_json_object_from_then_on(settings):
    settings.llm.classify = CLASSIFY
    classified = {"content": '{"intent": "technical", "confidence": 0.8}'}
    script = ScriptedLLM([LLAMA_CPP_PYTHON_REFUSAL, classified, final(intent="technical"),
                          classified, final(intent="technical")])
    engine = engine_for(settings, script)
    for text in ("my thing is weird", "my other thing is odd"):
        outcome = await engine.submit(Request(text, customer_id=1))
        assert outcome.status is Status.ANSWERED
    await engine.close()
    formats = [(r.get("response_format") or {}).get("type") for r in script.requests]
    # The refusal cost one call, once: every later call asks in the format it took.
    assert formats == ["json_schema", "json_object", None, "json_object", None]
    assert script.requests[1]["response_format"]["schema"]["properties"]["intent"]["enum"]


async def test_an_endpoint_taking_no_format_is_asked_without_one(settings):
    settings.llm.classify = CLASSIFY
    classified = {"content": '{"intent": "technical", "confidence": 0.8}'}
    script = ScriptedLLM([(400, "response_format is not supported"),
                          (400, "response_format is not supported"), classified,
                          final(intent="technical"), classified, final(intent="technical")])
    engine = engine_for(settings, script)
    for text in ("my thing is weird", "my other thing is odd"):
        assert (await engine.submit(Request(text, customer_id=1))).status is Status.ANSWERED
    await engine.close()
    formats = [(r.get("response_format") or {}).get("type") for r in script.requests]
    assert formats == ["json_schema", "json_object", None, None, None, None]


async def test_structured_output_off_sends_no_format(settings):
    settings.llm.classify = CLASSIFY
    settings.llm.structured_output = "off"
    script = ScriptedLLM([{"content": '{"intent": "technical", "confidence": 0.8}'},
                          final(intent="technical")])
    engine = engine_for(settings, script)
    await engine.submit(Request("weird", customer_id=1))
    await engine.close()
    assert all("response_format" not in r for r in script.requests)


# -- errors that say something about the request, not the endpoint -------------------

async def test_a_500_repeated_word_for_word_is_not_retried_and_counts_once(settings):
    settings.resilience.breaker.failure_threshold = 2
    same = (500, "1 validation error: messages.1.content: Input should be a valid string")
    script = ScriptedLLM([same] * 2 + [same] * 2)
    engine = engine_for(settings, script)
    first = await engine.submit(Request(SLOW_TEXT, customer_id=1))
    assert len(script.requests) == 2  # not four: the second try said the same
    assert any("the same error twice" in e for e in first.errors)
    assert engine.breaker.consecutive_failures == 1  # one failed call, two attempts
    await engine.submit(Request(SLOW_TEXT + " again", customer_id=1))
    await engine.close()
    assert str(engine.breaker.state) == "open"  # two failed calls: the threshold


async def test_a_4xx_is_not_retried(settings):
    script = ScriptedLLM([(400, "max_tokens is too large")])
    engine = engine_for(settings, script)
    outcome = await engine.submit(Request(SLOW_TEXT, customer_id=1))
    await engine.close()
    assert len(script.requests) == 1 and outcome.route is not Route.LLM
    assert any("HTTP 400" in e for e in outcome.errors)
    assert engine.breaker.consecutive_failures == 0  # nothing about the endpoint's health


@pytest.mark.parametrize("written", ["85", "0.85", "1"])
async def test_a_confidence_written_as_a_percentage_is_read_as_one(settings, written):
    settings.loop.min_confidence = 0.5  # 85 read as above 1 was refused; as 0.85 it passes
    reply = ('{"intent": "technical", "answer": "Reinstall it.", "confidence": '
             f'{written}, "handoff": null}}')
    script = ScriptedLLM([{"content": reply}])
    engine = engine_for(settings, script)
    outcome = await engine.submit(Request(SLOW_TEXT, customer_id=1))
    await engine.close()
    assert outcome.status is Status.ANSWERED and outcome.answer == "Reinstall it."


async def test_a_line_break_inside_a_json_string_is_read(settings):
    reply = ('{"intent": "technical", "answer": "Reinstall it.\nThen restart.", '
             '"confidence": 0.9, "handoff": null}')
    script = ScriptedLLM([{"content": reply}])
    engine = engine_for(settings, script)
    outcome = await engine.submit(Request(SLOW_TEXT, customer_id=1))
    await engine.close()
    assert outcome.status is Status.ANSWERED and outcome.answer == "Reinstall it.\nThen restart."
