"""Refunds and cancellations the policy settles, on the fast path: no LLM call, the
write through the same idempotent, policy-checked tool, once; anything the policy
doesn't settle goes on to the LLM; a message asking more than one thing, or about
several orders, is never half-answered by a rule."""

from __future__ import annotations

import asyncio

import pytest

from agentcore import Engine, Request, Route, Rule, RuleError, Status
from tests.agentcore.scripted_llm import final


@pytest.fixture(autouse=True)
def one_call_per_llm_request(desk):
    desk.settings.llm.classify = None  # each scripted step is the decide call


def refunds_of(desk, order_id: int) -> list[tuple[str, int]]:
    return desk.engine.domain.shop.conn.execute(
        "SELECT request_id, amount_cents FROM refunds WHERE order_id = ? AND request_id"
        " IS NOT NULL", (order_id,)).fetchall()


def order_where(desk, sql: str) -> dict:
    oid, cid, status = desk.engine.domain.shop.conn.execute(
        f"SELECT id, customer_id, status FROM orders WHERE {sql} ORDER BY id LIMIT 1"
    ).fetchone()
    return {"id": oid, "customer_id": cid, "status": status}


async def test_a_plain_refund_request_is_refunded_by_the_rule_without_an_llm_call(desk):
    order = desk.refundable_order()
    outcome = await desk.engine.submit(Request(f"I want a refund for order {order['id']}",
                                               customer_id=order["customer_id"]))
    assert outcome.route is Route.RULE and outcome.status is Status.ANSWERED
    assert outcome.intent == "refund_request"
    assert desk.script.requests == []  # not one LLM call
    dollars = f"${order['allowed_cents'] // 100:,}.{order['allowed_cents'] % 100:02d}"
    assert outcome.answer.startswith(f"I've refunded {dollars} on order {order['id']}")
    assert refunds_of(desk, order["id"]) == [(outcome.request_id, order["allowed_cents"])]
    # The decision's reads ran (together), then the write; each is in the trace.
    tools = [c.tool for c in outcome.tool_results]
    assert sorted(tools[:3]) == ["get_order", "get_payments", "get_refund_policy"]
    assert tools[3:] == ["issue_refund"]
    spans = {s.name for s in outcome.spans}
    assert {"tool:get_order", "tool:issue_refund", "template"} <= spans


async def test_a_refund_is_never_answered_from_the_cache_and_never_paid_twice(desk):
    order = desk.refundable_order()
    text = f"please refund order {order['id']}"
    first = await desk.engine.submit(Request(text, customer_id=order["customer_id"]))
    assert first.route is Route.RULE
    # The same words again: nothing is left to refund, which the policy can't settle
    # alone (the customer may think it failed): the LLM explains.
    desk.script.steps.append(final("It was refunded already.", intent="refund_request"))
    again = await desk.engine.submit(Request(text, customer_id=order["customer_id"]))
    assert again.route is Route.LLM
    assert any("policy allows no refund" in e for e in again.errors)
    assert len(refunds_of(desk, order["id"])) == 1


async def test_concurrent_refund_requests_for_one_order_refund_it_once(desk):
    order = desk.refundable_order()
    desk.script.steps.extend(final("Nothing is left to refund.", intent="refund_request")
                             for _ in range(9))
    outcomes = await asyncio.gather(*(
        desk.engine.submit(Request(f"I want a refund for order {order['id']}",
                                   customer_id=order["customer_id"])) for _ in range(10)))
    assert [a for _, a in refunds_of(desk, order["id"])] == [order["allowed_cents"]]
    told = [o for o in outcomes if o.answer.startswith("I've refunded")]
    assert len(told) == 1 and told[0].route is Route.RULE


@pytest.mark.parametrize("where", [
    "status = 'delivered' AND id IN (SELECT o.id FROM orders o JOIN products p ON"
    " p.id = o.product_id WHERE p.category IN ('groceries', 'software'))",
    "status = 'returned'",
], ids=["not refundable", "settled already"])
async def test_a_refund_the_policy_does_not_allow_goes_to_the_llm(desk, where):
    order = order_where(desk, where)
    desk.script.steps.append(final("Sorry, that one can't be refunded.",
                                   intent="refund_request"))
    outcome = await desk.engine.submit(Request(f"I want a refund for order {order['id']}",
                                               customer_id=order["customer_id"]))
    assert outcome.route is Route.LLM
    assert refunds_of(desk, order["id"]) == [] or order["status"] == "returned"
    assert not any(c.tool == "issue_refund" and c.ok for c in outcome.tool_results)


async def test_another_customers_order_is_not_refunded_by_the_rule(desk):
    order = desk.refundable_order()
    desk.script.steps.append(final("I can't find that order on your account.",
                                   intent="refund_request"))
    outcome = await desk.engine.submit(Request(f"refund order {order['id']}",
                                               customer_id=order["customer_id"] + 1))
    assert outcome.route is Route.LLM
    assert any("not one of this customer's orders" in e for e in outcome.errors)
    assert refunds_of(desk, order["id"]) == []


async def test_an_anonymous_refund_request_is_asked_to_sign_in_and_nothing_is_written(desk):
    order = desk.refundable_order()
    outcome = await desk.engine.submit(Request(f"refund order {order['id']}"))
    assert outcome.route is Route.RULE and "sign in" in outcome.answer
    assert refunds_of(desk, order["id"]) == []


async def test_a_processing_order_is_cancelled_by_the_rule_and_its_payment_released(desk):
    order = order_where(desk, "status = 'processing'")
    outcome = await desk.engine.submit(Request(
        f"Please cancel order {order['id']}, I changed my mind",
        customer_id=order["customer_id"]))
    assert outcome.route is Route.RULE and desk.script.requests == []
    assert outcome.answer.startswith(f"Order {order['id']} (")
    assert "is cancelled" in outcome.answer
    shop = desk.engine.domain.shop
    assert shop.get_order(order["id"])["status"] == "cancelled"
    assert all(p["status"] != "captured" for p in shop.get_payments(order["id"]))


async def test_a_shipped_order_is_not_cancelled_by_the_rule(desk):
    order = order_where(desk, "status = 'shipped'")
    desk.script.steps.append(final("It has shipped already; you can return it.",
                                   intent="cancel_order"))
    outcome = await desk.engine.submit(Request(f"cancel order {order['id']}",
                                               customer_id=order["customer_id"]))
    assert outcome.route is Route.LLM
    assert any("too late to cancel" in e for e in outcome.errors)
    assert desk.engine.domain.shop.get_order(order["id"])["status"] == "shipped"


async def test_a_reason_the_policy_does_not_cover_goes_to_the_llm(desk):
    order = desk.refundable_order()
    desk.script.steps.append(final("I'm sorry it broke; a colleague will look.",
                                   intent="refund_request"))
    outcome = await desk.engine.submit(Request(
        f"I want a refund for order {order['id']}, it arrived broken",
        customer_id=order["customer_id"]))
    assert outcome.route is Route.LLM and refunds_of(desk, order["id"]) == []


# -- never half an answer -----------------------------------------------------------


def two_orders(desk) -> tuple[int, int, int]:
    rows = desk.engine.domain.shop.conn.execute(
        "SELECT customer_id, MIN(id), MAX(id) FROM orders GROUP BY customer_id"
        " HAVING COUNT(*) >= 2 ORDER BY customer_id LIMIT 1").fetchone()
    return rows


@pytest.mark.parametrize("text", [
    "where is order {a} and can you cancel it",
    "where is order {a} and please cancel order {b}",
    "where is order {a}, also I forgot my password",
    "track order {a} and tell me your return policy",
    "where is order {a} and when can i expect the invoice for it",  # only the question shows
])
async def test_a_message_that_asks_more_than_the_rule_answers_goes_to_the_llm(desk, text):
    # Each of these is one sentence a rule's pattern takes whole: the rule matched.
    customer, a, b = two_orders(desk)
    desk.script.steps.append(final("Here is all of it.", intent="order_status"))
    outcome = await desk.engine.submit(Request(text.format(a=a, b=b), customer_id=customer))
    assert outcome.route is Route.LLM
    assert any("would half-answer" in e for e in outcome.errors)


async def test_the_status_of_several_orders_is_answered_order_by_order(desk):
    customer, a, b = two_orders(desk)
    outcome = await desk.engine.submit(Request(f"what's the status of orders {b} and {a}?",
                                               customer_id=customer))
    assert outcome.route is Route.RULE and desk.script.requests == []
    first, second = outcome.answer.split("\n")
    assert first.startswith(f"Order {b} (") and second.startswith(f"Order {a} (")


async def test_several_orders_one_of_them_anothers_go_to_the_llm(desk):
    customer, a, _ = two_orders(desk)
    foreign = desk.engine.domain.shop.conn.execute(
        "SELECT id FROM orders WHERE customer_id != ? LIMIT 1", (customer,)).fetchone()[0]
    desk.script.steps.append(final("I can only see one of those.", intent="order_status"))
    outcome = await desk.engine.submit(Request(f"status of orders {a} and {foreign}?",
                                               customer_id=customer))
    assert outcome.route is Route.LLM
    assert str(foreign) not in outcome.answer


async def test_the_same_message_with_one_ask_is_the_rules(desk):
    customer, a, _ = two_orders(desk)
    outcome = await desk.engine.submit(Request(f"where is order {a}?", customer_id=customer))
    assert outcome.route is Route.RULE and outcome.intent == "order_status"


# -- a reset link and a person, without an LLM ---------------------------------------


async def test_a_reset_link_asked_for_is_sent_by_the_rule_once(desk):
    request = Request("can you email me a link to reset my password", customer_id=7)
    outcome = await desk.engine.submit(request)
    assert outcome.route is Route.RULE and desk.script.requests == []
    assert outcome.answer.startswith("I've emailed a link to reset your password")
    [call] = outcome.tool_results.calls
    assert (call.tool, call.arguments, call.ok) == ("send_password_reset", {"customer_id": 7},
                                                    True)
    sent = desk.engine.domain.shop.conn.execute(
        "SELECT COUNT(*) FROM tool_actions WHERE request_id = ?", (request.id,)).fetchone()
    assert sent == (1,)


async def test_a_request_for_a_person_goes_to_the_queue_without_an_llm_call(desk):
    outcome = await desk.engine.submit(Request("Can I speak to a manager?", customer_id=3))
    assert outcome.status is Status.ESCALATED and desk.script.requests == []
    assert str(outcome.escalation_reason) == "customer asked for a human"
    assert outcome.draft_answer and "colleague" in outcome.draft_answer
    [item] = await desk.queue.list(state="open")
    assert item.request_id == outcome.request_id


# -- what the acting rules must not take (the review of issue 14) ----------------------


@pytest.mark.parametrize("text", [
    "can you send me the link",  # a tracking page's, an invoice's: no password named
    "please resend the email",
    "send it to me",
    "could you send it again",
])
async def test_a_link_or_email_asked_for_without_naming_the_password_sends_no_reset(desk,
                                                                                    text):
    desk.script.steps.append(final("Which link do you mean?", intent="other"))
    request = Request(text, customer_id=7)
    outcome = await desk.engine.submit(request)
    assert outcome.route is Route.LLM and "reset your password" not in outcome.answer
    sent = desk.engine.domain.shop.conn.execute(
        "SELECT COUNT(*) FROM tool_actions WHERE request_id = ?", (request.id,)).fetchone()
    assert sent == (0,)


async def test_send_it_again_after_naming_the_reset_email_still_sends_one(desk):
    outcome = await desk.engine.submit(Request(
        "I didn't get the reset email, can you send it again?", customer_id=7))
    assert outcome.route is Route.RULE and desk.script.requests == []
    assert outcome.answer.startswith("I've emailed a link to reset your password")


@pytest.mark.parametrize("pattern, why", [
    ("{order_id}", "does not read the whole message"),
    ("^.*{order_id}.*$", "skips words it does not name"),
    ("^(?:refund )?{order_id}[ ?]*$", "matches '12345'"),
    ("^(?:please |pls )?(?:refund )?(?:order )?{order_id}{signoff}$", "matches '12345'"),
])
async def test_an_operators_acting_rule_that_would_take_other_asks_is_refused(desk, pattern,
                                                                              why):
    # A careless operator's refund rule: within policy each time, but refunding every
    # order anyone asks about.
    order = desk.refundable_order()
    broad = Rule(id="refund-anything", name="refunds", intent="refund_request",
                 handler="refund_request", priority=99, pattern=pattern,
                 template="$refund_line", cache="never")
    with pytest.raises(RuleError, match=why) as refused:
        desk.engine.apply_rules([*desk.engine.router.rules, broad])
    assert "refund_request" in str(refused.value) and "acts" in str(refused.value)
    desk.script.steps.append(final("It is on its way.", intent="order_status"))
    outcome = await desk.engine.submit(Request(f"where is order {order['id']}?",
                                               customer_id=order["customer_id"]))
    assert outcome.intent == "order_status" and refunds_of(desk, order["id"]) == []


async def test_an_operators_acting_rule_that_names_its_words_is_applied(desk):
    order = desk.refundable_order()
    narrow = Rule(id="refund-short", name="refunds", intent="refund_request",
                  handler="refund_request", priority=99,
                  pattern="^refund(?: order)? {order_id} now$", template="$refund_line",
                  cache="never")
    desk.engine.apply_rules([*desk.engine.router.rules, narrow])
    outcome = await desk.engine.submit(Request(f"refund order {order['id']} now",
                                               customer_id=order["customer_id"]))
    assert outcome.rule_id == "refund-short" and len(refunds_of(desk, order["id"])) == 1


async def test_a_request_for_a_person_handed_back_with_a_note_is_answered_by_the_agent(desk):
    # The operator can't take it now and hands it back with what to say; before, the
    # rule sent it straight back to the queue and nobody ever read the note.
    outcome = await desk.engine.submit(Request("Can I speak to a manager?", customer_id=3))
    item = desk.escalation_of(outcome.request_id)
    await desk.queue.claim(item, "alice", lease_s=300)
    note = "No manager is in today; offer a call back tomorrow morning."
    desk.script.steps.append(final("A manager will call you tomorrow morning.",
                                   intent="human_request"))
    again = await desk.queue.hand_back(item, "alice", note)
    assert (again.route, again.status) == (Route.LLM, Status.ANSWERED)
    assert {"role": "system", "content": f"Operator note: {note}"} in (
        desk.script.requests[0]["messages"])
    assert (await desk.queue.get(item)).state == "resolved"


async def test_a_refund_request_handed_back_with_a_note_is_not_refunded_by_the_rule(desk):
    # The rule could not write the first time (its tool timed out); the operator hands
    # the request back saying not to refund: the agent reads the note, the rule can't.
    order = desk.refundable_order()
    desk.settings.loop.tool_timeout_s = 1e-9
    desk.script.steps.append(final("A colleague will look at it.", handoff="needs a human"))
    outcome = await desk.engine.submit(Request(f"I want a refund for order {order['id']}",
                                               customer_id=order["customer_id"]))
    assert outcome.status is Status.ESCALATED and refunds_of(desk, order["id"]) == []
    desk.settings.loop.tool_timeout_s = 5.0
    item = desk.escalation_of(outcome.request_id)
    await desk.queue.claim(item, "alice", lease_s=300)
    desk.script.steps.append(final("We are sending a replacement instead.",
                                   intent="refund_request"))
    again = await desk.queue.hand_back(item, "alice", "Do not refund: send a replacement.")
    assert again.route is Route.LLM and refunds_of(desk, order["id"]) == []


async def test_asking_for_a_person_again_and_again_queues_one_item(desk):
    # Each ask costs no LLM call: without a bound, one customer's script filled the
    # queue at the guard's 120 a minute.
    outcomes = [await desk.engine.submit(Request("I want a human", customer_id=3))
                for _ in range(5)]
    [item] = await desk.queue.list(state="open")
    assert item.request_id == outcomes[0].request_id
    assert all(o.status is Status.ANSWERED and "already has your earlier message" in o.answer
               for o in outcomes[1:])
    assert desk.script.requests == []
    # Answered, the next ask queues again; another customer's never waited on this one.
    await desk.queue.claim(item.id, "alice", lease_s=300)
    await desk.queue.reply(item.id, "alice", "Hello, Alice here. How can I help?")
    again = await desk.engine.submit(Request("I want a human", customer_id=3))
    other = await desk.engine.submit(Request("I want a human", customer_id=4))
    assert again.status is Status.ESCALATED and other.status is Status.ESCALATED


async def test_an_anonymous_request_for_a_person_goes_to_the_agent_not_straight_to_the_queue(
        desk):
    desk.script.steps.append(final("Please sign in, or tell me what it is about.",
                                   intent="human_request"))
    outcome = await desk.engine.submit(Request("I want a human"))
    assert outcome.route is Route.LLM and len(desk.script.requests) == 1
    assert await desk.queue.list(state="open") == []


async def test_a_reset_link_asked_for_again_and_again_is_emailed_once(desk):
    # Free to ask on the fast path: without a bound, one script mailed an inbox 120
    # reset links a minute.
    outcomes = [await desk.engine.submit(Request("send me a password reset link",
                                                 customer_id=7)) for _ in range(4)]
    statuses = [c.result["status"] for o in outcomes for c in o.tool_results.calls]
    assert statuses == ["sent", "sent recently", "sent recently", "sent recently"]
    assert outcomes[0].answer.startswith("I've emailed a link")
    assert all("a few minutes ago" in o.answer for o in outcomes[1:])
    assert desk.script.requests == []


@pytest.mark.parametrize("text", [
    "please cancel order {id} thanks, nevermind",  # the sign-off's one-word name slot
    "cancel order {id}. thanks, jk",
    "hi, cancel order {id} thanks a lot, wait",
])
async def test_a_cancellation_the_message_takes_back_is_not_made_by_the_rule(desk, text):
    order = order_where(desk, "status = 'processing'")
    desk.script.steps.append(final("Shall I cancel it or not?", intent="cancel_order"))
    outcome = await desk.engine.submit(Request(text.format(id=order["id"]),
                                               customer_id=order["customer_id"]))
    assert outcome.route is Route.LLM
    assert any("take its ask back" in e for e in outcome.errors)
    assert desk.engine.domain.shop.get_order(order["id"])["status"] == "processing"


async def test_a_broad_acting_rule_stored_before_the_check_is_switched_off_at_start(
        desk, settings):
    # A database an earlier version wrote: the engine starts, the rule off, nothing paid.
    order = desk.refundable_order()
    live = desk.engine.router
    broad = Rule(id="refund-anything", name="refunds", intent="refund_request",
                 handler="refund_request", priority=99, pattern="{order_id}",
                 template="$refund_line", cache="never")
    desk.engine.store.rules.save_rules([r.as_dict() for r in (*live.rules, broad)],
                                       dict(live.fragments))
    await desk.engine.close()
    desk.engine = Engine(settings, openai_client=desk.script.client(), clock=desk.clock)
    assert {r.id: r for r in desk.engine.router.rules}["refund-anything"].enabled is False
    outcome = await desk.engine.submit(Request(f"where is order {order['id']}?",
                                               customer_id=order["customer_id"]))
    assert outcome.route is Route.RULE and outcome.intent == "order_status"
    assert refunds_of(desk, order["id"]) == []


async def test_a_full_refund_asked_where_the_policy_keeps_a_fee_goes_to_the_llm(desk):
    # The rule would pay less than asked (a restocking fee) and call it done.
    order = desk.order_with_a_fee()
    desk.script.steps.append(final("A restocking fee applies; shall I refund the rest?",
                                   intent="refund_request"))
    outcome = await desk.engine.submit(Request(
        f"I want a full refund for order {order['id']}", customer_id=order["customer_id"]))
    assert outcome.route is Route.LLM and refunds_of(desk, order["id"]) == []
    assert any("full refund was asked" in e for e in outcome.errors)
    # Asked without 'full', the rule refunds what the policy allows and says why.
    plain = await desk.engine.submit(Request(f"I want a refund for order {order['id']}",
                                             customer_id=order["customer_id"]))
    assert plain.route is Route.RULE and "restocking fee" in plain.answer
    assert [a for _, a in refunds_of(desk, order["id"])] == [order["allowed_cents"]]


async def test_a_full_refund_the_policy_allows_in_full_is_the_rules(desk):
    shop = desk.engine.domain.shop
    oid, customer = next(
        (oid, cid) for oid, cid in shop.conn.execute(
            "SELECT id, customer_id FROM orders WHERE status = 'delivered' ORDER BY id")
        if (limits := shop.refund_limits(oid))
        and 0 < limits.quote.allowed_cents == limits.left_cents)
    left = shop.refund_limits(oid).left_cents
    outcome = await desk.engine.submit(Request(f"can i get a full refund on order {oid}",
                                               customer_id=customer))
    assert outcome.route is Route.RULE and desk.script.requests == []
    assert [a for _, a in refunds_of(desk, oid)] == [left]


@pytest.mark.parametrize("ask, where", [
    ("I want a refund for order {id}", "o.status = 'delivered'"),
    ("please cancel order {id}", "o.status = 'processing'"),
])
async def test_a_suspended_accounts_refund_or_cancellation_is_not_the_rules(desk, ask, where):
    # An account under review: paying it, or changing its orders, is a person's call.
    shop = desk.engine.domain.shop
    oid, customer = shop.conn.execute(
        "SELECT o.id, o.customer_id FROM orders o JOIN accounts a ON a.customer_id ="
        f" o.customer_id WHERE {where} ORDER BY o.id LIMIT 1").fetchone()
    shop.conn.execute("UPDATE accounts SET status = 'suspended' WHERE customer_id = ?",
                      (customer,))
    shop.conn.commit()
    desk.script.steps.append(final("A colleague will look at your account first.",
                                   intent="refund_request"))
    outcome = await desk.engine.submit(Request(ask.format(id=oid), customer_id=customer))
    assert outcome.route is Route.LLM
    assert any("account is suspended" in e for e in outcome.errors)
    assert refunds_of(desk, oid) == [] and shop.get_order(oid)["status"] in (
        "delivered", "processing")
