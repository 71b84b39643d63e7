"""An edit's backtest re-routes only what the edit can touch: it must say exactly what
routing every request through the edited rules says, and scanning all the texts as
one buffer must find exactly the texts each pattern matches alone."""

from __future__ import annotations

import dataclasses

import pytest

from agentcore import backtest_routes
from agentcore.backtest import Backtester, BacktestResult, RecordedTraffic, load_recorded
from agentcore.demo_shop.domain import RESOURCES
from agentcore.errors import BacktestCancelled
from agentcore.guard import normalise
from agentcore.router import Router, Rule
from agentcore.rule_scan import TextBlock, scannable
from agentcore.stored_rules import default_rules
from tests.routing import SHOP_HANDLERS


@pytest.fixture
def live() -> Router:
    rules, fragments = default_rules(RESOURCES)
    return Router(rules, SHOP_HANDLERS, fragments=fragments)


def _said(result: BacktestResult) -> tuple[object, ...]:
    """Everything an operator reads from a result, by request id."""
    ids = result.traffic.ids
    return (result.total, result.fast_before, result.fast_after,
            [(ids[i], *rest) for i, *rest in result.change_rows],
            [(ids[i], c) for i, c in zip(result.conflict_rows, result.conflict_ids,
                                         strict=True)],
            result.precision, result.precision_before,
            [(s.request.id, s.rule_id, s.agrees) for s in result.samples],
            round(result.dollars_delta, 9), round(result.latency_delta_ms, 6))


def _replace(rules: tuple[Rule, ...], rule_id: str, **changes: object) -> list[Rule]:
    return [dataclasses.replace(r, **changes) if r.id == rule_id else r for r in rules]


def _edits(live: Router) -> dict[str, list[Rule]]:
    rules = live.rules
    hours = next(r for r in rules if r.id == "contact-hours")
    return {
        "a wider pattern": _replace(rules, "contact-hours", pattern=r"\b(?:hours|open)\b"),
        "a narrower one": _replace(rules, "contact-hours", pattern=r"\bopening hours\b"),
        "disabled": _replace(rules, "contact-hours", enabled=False),
        "deleted": [r for r in rules if r.id != "contact-hours"],
        "a higher priority": _replace(rules, "order-status-by-number", priority=99),
        "another intent": _replace(rules, "human-please", intent="refund_status"),
        "a new rule": [*rules, Rule(id="cancel", name="cancel", pattern=r"\bcancel\b",
                                    intent="cancel_order", handler="static",
                                    template="Reply with the order number.")],
        "a new rule first": [dataclasses.replace(hours, id="hours-2", pattern=r"\bopen\b",
                                                 priority=hours.priority), *rules],
        "two rules at once": _replace(_replace(rules, "hello", pattern=r"\bhi\b"),
                                      "thanks-and-goodbye", pattern=r"\bthanks?\b"),
        "a rule named in the buffer's edges": _replace(rules, "hello", pattern=r"\Ahi\b"),
        # Two rules of one priority that match the same requests: the first listed wins.
        "the order changed": [rules[2], rules[1], rules[0], *rules[3:]],
    }


EDITS = ["a wider pattern", "a narrower one", "disabled", "deleted", "a higher priority",
         "another intent", "a new rule", "a new rule first", "two rules at once",
         "a rule named in the buffer's edges", "the order changed"]


@pytest.mark.parametrize("edit", EDITS)
@pytest.mark.parametrize("focus", [None, "contact-hours", "hello"])
def test_an_edit_rerouted_by_difference_says_what_routing_everything_says(
        recorded, live, monkeypatch, edit, focus):
    traffic = load_recorded(recorded.engine_db)
    edited = Router(_edits(live)[edit], SHOP_HANDLERS, fragments=live.fragments)
    quick = Backtester(traffic).run(live, edited, focus=focus)
    monkeypatch.setattr(backtest_routes, "MAX_SCANNED", -1)  # every edit routed whole
    whole = Backtester(traffic).run(live, edited, focus=focus)
    assert _said(quick) == _said(whole)
    # Each edit moves something: the comparison is not between two empty results.
    assert quick.change_rows or quick.precision != quick.precision_before


def test_most_edits_reroute_only_the_requests_they_touch(recorded, live):
    traffic = load_recorded(recorded.engine_db)
    routes = backtest_routes.route_all(live, traffic.normalised, lambda: False)
    block = TextBlock(traffic.normalised)
    edited = Router(_edits(live)["a wider pattern"], SHOP_HANDLERS, fragments=live.fragments)
    moved = backtest_routes.reroute(routes, live, edited, block, lambda: False)
    assert moved is not None
    touched = {i for i, text in enumerate(traffic.normalised)
               if "contact-hours" in live.hits(text)[1] or "contact-hours" in edited.hits(text)[1]}
    assert set(moved.rows) == touched
    assert 0 < len(touched) < len(traffic) // 4
    moved_order = Router(_edits(live)["the order changed"], SHOP_HANDLERS,
                         fragments=live.fragments)
    assert backtest_routes.reroute(routes, live, moved_order, block, lambda: False) is None


def test_one_scan_finds_exactly_the_texts_a_pattern_matches_alone(live):
    texts = [normalise(t) for t in (
        "Hours?", "what are your opening hours", "", "open on sunday?", "héllo  wörld",
        "ＦＵＬＬＷＩＤＴＨ hours", "hours", "x", "hours at the end: hours", "", "¿horas?")]
    block = TextBlock(texts)
    for rule, _pattern in live.enabled():
        alone = [i for i, text in enumerate(texts) if rule.id in live.hits(text)[1]]
        assert live.rows_matching(rule.id, block) == alone, rule.id
    # Edges of texts are edges of lines: ^, $ and \b hold at each text as they do alone.
    edges = Router([Rule(id="edges", name="e", pattern=r"^hours$|^x$|\bend\b",
                         intent="i", handler="static", template="t")], SHOP_HANDLERS)
    assert edges.rows_matching("edges", block) == [6, 7, 8]


def test_a_text_with_a_line_break_of_its_own_is_not_scanned_as_a_buffer(live):
    block = TextBlock(["one", "two\nthree"])  # not normalised: no backtest makes these
    assert not block.usable
    with pytest.raises(ValueError):
        live.rows_matching("hello", block)


def test_a_superseded_scan_stops(recorded, live):
    traffic = RecordedTraffic.of(load_recorded(recorded.engine_db))
    block = TextBlock(traffic.normalised * 1000)
    with pytest.raises(BacktestCancelled):
        live.rows_matching("hello", block, cancelled=lambda: True)


def test_routing_all_texts_at_once_says_what_each_texts_hits_say(recorded, live):
    texts = load_recorded(recorded.engine_db).normalised
    set_of, sets, winners = live.route_all(texts)
    for text, k in zip(texts, set_of, strict=True):
        winner, matched = live.hits(text)
        assert (winners[k], sets[k]) == (winner, matched)
    assert len(set(sets)) == len(sets)  # one entry per set, whatever order the Set said
    assert any(len(ids) > 1 for ids in sets)


@pytest.mark.parametrize("pattern", [r"\Ahi", r"bye\z", r"(?-m)^hi$", r"(?i-m:^hi)", r"h\Ci"])
def test_a_pattern_that_would_see_the_buffer_is_not_scanned(pattern):
    assert not scannable(pattern)
    assert scannable(r"^hi$|\bhello\b|(?i:hey)")
