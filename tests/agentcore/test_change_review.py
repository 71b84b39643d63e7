"""Apply asks first when the backtest shows a rule set answering much of the traffic
differently, or answering it worse: the warnings, decided headless."""

from __future__ import annotations

import dataclasses

import pytest

from agentcore.backtest import Backtester, Recorded, load_recorded
from agentcore.change_review import (
    MAX_MOVED_SHARE,
    MAX_PRECISION_DROP,
    MIN_KNOWN,
    MIN_MOVED,
    apply_warnings,
)
from agentcore.demo_shop.domain import RESOURCES
from agentcore.guard import normalise
from agentcore.router import Router, Rule
from agentcore.stored_rules import default_rules
from tests.routing import SHOP_HANDLERS


def rule(rid: str, pattern: str, intent: str, *, enabled: bool = True) -> Rule:
    return Rule(id=rid, name=rid, pattern=pattern, intent=intent, handler="static",
                template="An answer.", enabled=enabled)


def requests(*groups: tuple[int, str, str | None]) -> list[Recorded]:
    """`count` requests of `text` (numbered, so each is its own) of a known intent."""
    out = []
    for count, text, known in groups:
        for n in range(count):
            body = f"{text} {n}"
            out.append(Recorded(f"{text}-{n}", body, normalise(body), "llm", None, known,
                                0.01, 900.0, float(len(out))))
    return out


def warnings_for(live: list[Rule], edited: list[Rule], traffic: list[Recorded]) -> list[str]:
    result = Backtester(traffic).run(Router(live, SHOP_HANDLERS),
                                     Router(edited, SHOP_HANDLERS))
    return apply_warnings(edited, result)


REFUND = rule("refund", r"\brefund\b", "refund_status")


def test_moving_more_than_the_share_asks_and_says_how_many_went_where():
    total = 400
    moved = int(total * MAX_MOVED_SHARE)  # exactly the share: still a tweak
    traffic = requests((moved + 1, "cancel my order", None), (total - moved - 1, "zzz", None))
    cancel = rule("cancel", r"\bcancel\b", "cancel_order")
    just_under = rule("cancel", r"\bcancel my order [0-9]\b|\bcancel my order 1[0-9]\b",
                      "cancel_order")
    assert moved == 20
    assert warnings_for([REFUND], [REFUND, just_under], traffic) == []
    [warning] = warnings_for([REFUND], [REFUND, cancel], traffic)
    assert warning.startswith("5% of the 400 replayed requests would be answered differently")
    assert "(21 join the fast path, 0 leave it, 0 switch rule)" in warning
    assert "the fast path goes from 0% to 5%" in warning


def test_a_large_share_of_a_tiny_sample_is_not_bulk():
    traffic = requests((MIN_MOVED - 1, "cancel my order", None), (1, "zzz", None))
    cancel = rule("cancel", r"\bcancel\b", "cancel_order")
    assert warnings_for([REFUND], [REFUND, cancel], traffic) == []


def test_leaving_the_fast_path_and_switching_rule_count_as_moving():
    traffic = requests((30, "refund please", "refund_status"), (170, "zzz", None))
    off = dataclasses.replace(REFUND, enabled=False)
    [lost] = warnings_for([REFUND], [off], traffic)[1:]  # [0]: no rule is enabled
    assert "(0 join the fast path, 30 leave it, 0 switch rule)" in lost
    better = rule("refund-2", r"\brefund please\b", "refund_status")
    [switched] = warnings_for([REFUND], [REFUND, dataclasses.replace(better, priority=5)],
                              traffic)
    assert "(0 join the fast path, 0 leave it, 30 switch rule)" in switched


def test_a_rule_whose_precision_falls_asks_with_before_and_after():
    # 40 refund questions the live rule gets right, then a broadened pattern also
    # takes 40 questions the LLM read as delivery ones: 100% -> 50%.
    traffic = requests((40, "refund please", "refund_status"),
                       (40, "where is my parcel", "order_status"), (2000, "zzz", None))
    broad = dataclasses.replace(REFUND, pattern=r"\brefund\b|\bparcel\b")
    result = Backtester(traffic).run(Router([REFUND], SHOP_HANDLERS),
                                     Router([broad], SHOP_HANDLERS))
    assert result.precision_before == {"refund": (40, 40)}
    assert result.precision == {"refund": (40, 80)}
    assert apply_warnings([broad], result) == [
        "Rule refund's precision would fall from 100% to 50% (40 of the 80 requests of a "
        "known intent it would answer agree with it)."]


def test_a_new_rule_must_be_nearly_always_right_on_the_requests_it_takes():
    wrong = round(MIN_KNOWN * MAX_PRECISION_DROP)  # 2 of 20: exactly the drop allowed
    traffic = requests((MIN_KNOWN - wrong, "cancel my order", "cancel_order"),
                       (wrong, "cancel my subscription", "billing"), (2000, "zzz", None))
    cancel = rule("cancel", r"\bcancel\b", "cancel_order")
    assert warnings_for([REFUND], [REFUND, cancel], traffic) == []
    traffic += requests((1, "cancel the newsletter", "other"))
    [warning] = warnings_for([REFUND], [REFUND, cancel], traffic)
    assert warning.startswith("Rule cancel would be right on only 86% of the 21 requests of "
                              "a known intent")


def test_too_few_known_requests_say_nothing_about_precision():
    traffic = requests((MIN_KNOWN - 1, "where is my parcel", "order_status"),
                       (2000, "zzz", None))
    broad = dataclasses.replace(REFUND, pattern=r"\brefund\b|\bparcel\b")
    assert warnings_for([REFUND], [broad], traffic) == []


def test_no_enabled_rule_asks_even_without_recorded_traffic():
    off = dataclasses.replace(REFUND, enabled=False)
    assert apply_warnings([off], None) == [
        "No rule is enabled: every request would leave the fast path and go to the LLM."]
    none_recorded = Backtester([]).run(Router([REFUND], SHOP_HANDLERS),
                                       Router([], SHOP_HANDLERS))
    assert [w[:20] for w in apply_warnings([], none_recorded)] == ["No rule is enabled: "]
    assert apply_warnings([REFUND], None) == []


@pytest.fixture
def shipped(recorded) -> tuple[Router, Backtester]:
    rules, fragments = default_rules(RESOURCES)
    live = Router(rules, SHOP_HANDLERS, fragments=fragments)
    return live, Backtester(load_recorded(recorded.engine_db))


def test_on_recorded_traffic_a_tweak_goes_through_and_a_takeover_asks(shipped):
    live, backtester = shipped
    assert apply_warnings(live.rules, backtester.run(live, live)) == []
    small = [dataclasses.replace(r, enabled=False) if r.id == "hello" else r
             for r in live.rules]
    assert apply_warnings(small, backtester.run(
        live, Router(small, SHOP_HANDLERS, fragments=live.fragments))) == []
    vowels = [dataclasses.replace(r, pattern="[aeiou]") if r.id == "contact-hours" else r
              for r in live.rules]
    result = backtester.run(live, Router(vowels, SHOP_HANDLERS, fragments=live.fragments))
    found = apply_warnings(vowels, result)
    assert any(w.startswith("Rule contact-hours would be right on only") for w in found)
    assert any("replayed requests would be answered differently" in w for w in found)
