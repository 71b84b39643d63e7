"""The rule router: one linear-time pass, priorities, groups, clear errors."""

from __future__ import annotations

import threading

import pytest

from agentcore.demo_shop.domain import RESOURCES
from agentcore.errors import NoDeterministicAnswer, RuleError
from agentcore.handlers import HandlerContext, HandlerSpec
from agentcore.router import Router, Rule
from tests.routing import SHOP_HANDLERS


def _echo_order(ctx: HandlerContext) -> dict[str, str]:
    if ctx.groups["order_id"] == "00000":
        raise NoDeterministicAnswer("no such order")
    return {"order_id": ctx.groups["order_id"]}


HANDLERS = {
    "static": HandlerSpec("static", lambda ctx: {}, frozenset(), frozenset(), "no data"),
    "order": HandlerSpec("order", _echo_order, frozenset({"order_id"}),
                         frozenset({"order_id"}), "echoes the order number"),
}


def rule(rid: str, pattern: str, *, priority: int = 0, handler: str = "static",
         template: str = "answer from $rid", enabled: bool = True) -> Rule:
    return Rule(id=rid, name=rid, pattern=pattern, intent=f"intent-{rid}", handler=handler,
                template=template.replace("$rid", rid), priority=priority, enabled=enabled)


def ctx(groups: dict[str, str]) -> HandlerContext:
    return HandlerContext(customer_id=1, groups=groups)


def test_highest_priority_of_all_matching_rules_wins_and_conflicts_are_listed():
    router = Router([rule("low", "order", priority=1), rule("high", r"order\s+status",
                                                             priority=5)], HANDLERS)
    match = router.route("what is my order status")
    assert match is not None and match.rule.id == "high"
    assert set(match.matched) == {"low", "high"}
    assert router.route("nothing to see") is None


def test_equal_priority_goes_to_the_earlier_rule():
    router = Router([rule("first", "refund"), rule("second", "refund")], HANDLERS)
    assert router.route("refund please").rule.id == "first"


def test_disabled_rules_never_match():
    router = Router([rule("off", "hello", enabled=False)], HANDLERS)
    assert router.route("hello") is None
    assert len(router) == 0


def test_capture_groups_feed_the_handler_and_template():
    router = Router([rule("status", r"order #?(?P<order_id>\d{5})", handler="order",
                          template="Order $order_id is on its way.")], HANDLERS)
    match = router.route("where is order #12345?")
    assert match.groups == {"order_id": "12345"}
    assert router.answer(match, ctx(match.groups)) == "Order 12345 is on its way."


def test_a_handler_that_cannot_answer_says_so():
    router = Router([rule("status", r"order (?P<order_id>\d{5})", handler="order",
                          template="Order $order_id")], HANDLERS)
    match = router.route("order 00000")
    with pytest.raises(NoDeterministicAnswer):
        router.answer(match, ctx(match.groups))


def test_catastrophic_backtracking_pattern_returns_at_once():
    # (a+)+$ takes exponential time in a backtracking engine on "aaaa...b".
    router = Router([rule("evil", "(a+)+$")], HANDLERS)
    text = "a" * 50_000 + "b"
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(router.route(text)), daemon=True)
    worker.start()
    worker.join(timeout=5)  # a hang guard, not a timing assertion
    assert not worker.is_alive(), "the router hung on a pathological pattern"
    assert result == [None]
    assert router.route("a" * 50_000).rule.id == "evil"


@pytest.mark.parametrize(("pattern", "reason"), [
    ("(unclosed", "missing )"),
    (r"(?<=lookbehind)x", "invalid perl operator"),
    (r"(a)\1", "invalid escape"),
    ("", "empty"),
])
def test_a_pattern_re2_rejects_names_the_rule_and_the_reason(pattern, reason):
    with pytest.raises(RuleError) as err:
        Router([rule("fine", "ok"), rule("broken-rule", pattern)], HANDLERS)
    assert err.value.rule_id == "broken-rule"
    assert reason in str(err.value)
    assert "broken-rule" in str(err.value)


def test_template_may_only_use_what_the_handler_provides():
    with pytest.raises(RuleError, match="customer_name"):
        Router([rule("t", "hi", template="Hello $customer_name")], HANDLERS)
    with pytest.raises(RuleError, match="stray"):
        Router([rule("t", "hi", template="costs 5$")], HANDLERS)


def test_handler_groups_must_exist_in_the_pattern_and_handler_must_exist():
    with pytest.raises(RuleError, match="order_id"):
        Router([rule("t", r"order \d+", handler="order", template="x")], HANDLERS)
    with pytest.raises(RuleError, match="unknown handler"):
        Router([rule("t", "x", handler="nope")], HANDLERS)


def test_duplicate_rule_ids_are_refused():
    with pytest.raises(RuleError, match="share this id"):
        Router([rule("same", "a"), rule("same", "b")], HANDLERS)


def test_a_thousand_rules_still_match_in_one_pass():
    rules = [rule(f"r{i}", f"token{i}x") for i in range(1000)]
    router = Router(rules, HANDLERS)
    assert router.route("please token777x now").rule.id == "r777"


def test_named_fragments_keep_patterns_readable():
    fragments = {"greeting": r"(?:hi|hello)[ ,!]*", "order": r"(?P<order_id>\d{5})"}
    router = Router([rule("status", r"^{greeting}?where is order {order}$", handler="order",
                          template="Order $order_id")], HANDLERS, fragments)
    match = router.route("hello, where is order 12345")
    assert match.groups == {"order_id": "12345"}
    assert router.route("where is order 12345 and also x") is None
    # RE2's own braces (counts) are left alone.
    assert Router([rule("n", r"^a{2,3}$")], HANDLERS, fragments).route("aaa") is not None


def test_an_unknown_fragment_names_the_rule_and_the_fragment():
    with pytest.raises(RuleError) as err:
        Router([rule("r1", "{salutation} there")], HANDLERS, {"greeting": "hi"})
    assert err.value.rule_id == "r1" and "{salutation}" in str(err.value)
    with pytest.raises(RuleError, match="nest"):
        Router([rule("r2", "{a}")], HANDLERS, {"a": "{a}"})


def test_hundreds_of_rules_the_size_of_the_shipped_ones_fit_in_one_matcher(settings):
    import dataclasses

    from agentcore.stored_rules import default_rules

    shipped, fragments = default_rules(RESOURCES)
    grown = [dataclasses.replace(shipped[i % len(shipped)], id=f"r{i}") for i in range(400)]
    # RE2's default memory failed at ~170 rules
    router = Router(grown, SHOP_HANDLERS, fragments=fragments)
    match = router.route("where is my order 12345")
    assert match is not None and match.rule.intent == "order_status"


def test_a_rule_set_too_large_for_one_matcher_is_a_rule_error_not_a_crash():
    huge = rule("huge", r"(?:\pL|\pN){1000}q")  # compiles alone; not in the shared Set
    with pytest.raises(RuleError, match="too large for one matcher"):
        Router([huge], HANDLERS)


# -- by intent alone (the learned tier) and every value of an entity -----------------

def shipped_router() -> Router:
    from agentcore.stored_rules import default_rules

    rules, fragments = default_rules(RESOURCES)
    return Router(rules, SHOP_HANDLERS, fragments=fragments)


def test_every_order_number_a_message_names_is_found_once_in_order():
    router = shipped_router()
    assert router.entity_values("12345, 23456 and 12345 again", "order_id") == [
        "12345", "23456"]
    assert router.entity_values("no number here", "order_id") == []
    assert router.entity_values("12345", "nothing_defines_it") is None


@pytest.mark.parametrize(("text", "rule_handler", "groups"), [
    ("whatever 12345", "order_status", {"order_id": "12345"}),  # reads the order named
    ("whatever", "latest_order_status", {}),  # none named: the latest
    ("whatever 12345 and 23456", "order_status", {"order_id": "12345"}),  # it takes each
])
def test_an_intent_alone_picks_the_rule_that_reads_what_the_message_names(
        text, rule_handler, groups):
    match = shipped_router().intent_match("order_status", text)
    if rule_handler is None:
        assert match is None
    else:
        assert match is not None and match.rule.handler == rule_handler
        assert match.groups == groups


def test_an_intent_with_several_answers_or_rules_that_act_has_no_match_by_intent():
    router = shipped_router()
    assert router.intent_match("contact", "whatever") is None  # hours or details?
    assert router.intent_match("refund_request", "whatever 12345") is None  # acts
    assert router.intent_match("refund_policy", "whatever 12345") is None  # reads no order
    assert "contact" not in router.answerable_intents()
    assert "refund_request" not in router.answerable_intents()
    assert {"order_status", "refund_policy", "payment_methods"} <= router.answerable_intents()
