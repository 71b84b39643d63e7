"""Backtests over recorded traffic: what an edit would change, checked against a
direct computation over the same rows of the engine's database."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest

from agentcore.backtest import Backtester, backtest_rules, load_recorded
from agentcore.demo_shop.domain import RESOURCES
from agentcore.errors import BacktestCancelled
from agentcore.guard import normalise
from agentcore.router import Router, Rule
from agentcore.stored_rules import default_rules
from tests.routing import SHOP_HANDLERS


@pytest.fixture
def live(recorded) -> Router:
    rules, fragments = default_rules(RESOURCES)
    return Router(rules, SHOP_HANDLERS, fragments=fragments)


def recorded_rows(settings) -> list[tuple]:
    with sqlite3.connect(settings.engine_db) as conn:
        return conn.execute(
            "SELECT r.id, r.text, o.route, o.intent, o.dollars FROM requests r "
            "JOIN outcomes o ON o.request_id = r.id WHERE o.route != 'guard'").fetchall()


def winner(router: Router, text: str) -> str | None:
    match = router.route(normalise(text))
    return match.rule.id if match else None


def test_disabling_a_rule_loses_exactly_the_requests_it_alone_answered(recorded, live):
    rules = [dataclasses.replace(r, enabled=False) if r.id == "contact-hours" else r
             for r in live.rules]
    edited = Router(rules, SHOP_HANDLERS, fragments=live.fragments)
    result = Backtester(load_recorded(recorded.engine_db)).run(live, edited)

    rows = recorded_rows(recorded)
    expected_lost = {rid for rid, text, *_ in rows
                     if winner(live, text) == "contact-hours" and winner(edited, text) is None}
    assert expected_lost  # the corpus asks for opening hours
    assert {c.request.id for c in result.lost} == expected_lost
    assert all(c.before == "contact-hours" and c.after is None for c in result.lost)
    assert result.gained == []
    assert result.fast_before - result.fast_after == len(expected_lost)
    assert result.total == len(rows)
    # Losing fast-path requests (recorded at $0: rule or cache) costs the LLM's mean each.
    assert result.dollars_delta == pytest.approx(len(expected_lost) * result.costs.llm_dollars)
    assert result.dollars_per_day > 0


def test_a_new_rule_gains_slow_path_requests_and_saves_what_they_cost(recorded, live):
    cancel = Rule(id="cancel", name="cancel", pattern=r"\bcancel\b", intent="cancel_order",
                  handler="static", template="To cancel, reply with the order number.")
    backtester = Backtester(load_recorded(recorded.engine_db))
    result = backtest_rules(backtester, live, [*live.rules, cancel], live.fragments,
                            focus="cancel")

    rows = recorded_rows(recorded)
    edited = Router([*live.rules, cancel], SHOP_HANDLERS, fragments=live.fragments)
    gained = {rid: (route, dollars) for rid, text, route, _, dollars in rows
              if winner(live, text) is None and winner(edited, text) == "cancel"}
    assert gained
    assert {c.request.id for c in result.gained} == set(gained)
    # Each saves what it cost on the path it took (rules cost no dollars).
    assert any(route == "llm" for route, _ in gained.values())
    assert -result.dollars_delta == pytest.approx(sum(d for _, d in gained.values()))
    assert result.dollars_per_day < 0
    # Precision against what the LLM decided for those requests: mostly cancellations.
    agree, known = result.precision["cancel"]
    assert known > 0 and 0 < agree <= known
    # Samples of the focused rule, disagreements first.
    flags = [s.agrees for s in result.samples]
    assert all(s.rule_id == "cancel" for s in result.samples)
    assert flags == sorted(flags, key=lambda f: {False: 0, True: 1, None: 2}[f])


def test_conflicts_list_requests_two_rules_match(recorded, live):
    shadow = Rule(id="any-order", name="any order", pattern=r"\border\b", intent="order_status",
                  handler="static", template="Orders ship in 3-5 days.", priority=0)
    edited = Router([*live.rules, shadow], SHOP_HANDLERS, fragments=live.fragments)
    result = Backtester(load_recorded(recorded.engine_db)).run(live, edited)
    expected = {}
    for rid, text, *_ in recorded_rows(recorded):
        match = edited.route(normalise(text))
        if match and len(match.matched) > 1:
            expected[rid] = set(match.matched)
    assert {r.id: set(m) for r, m in result.conflicts} == expected
    assert any("any-order" in m for m in expected.values())
    # Priority 0 never beats the shipped rules: the conflicts change no route.
    assert not [c for c in result.changes if c.kind == "switched"]


def test_an_operators_label_is_the_known_intent(recorded, live):
    with sqlite3.connect(recorded.engine_db) as conn:
        rid, text = conn.execute(
            "SELECT r.id, r.text FROM requests r JOIN outcomes o ON o.request_id = r.id "
            "WHERE o.route = 'llm' AND o.intent = 'cancel_order' LIMIT 1").fetchone()
        conn.execute("INSERT INTO labelled_examples (request_id, text, intent, answer, source,"
                     " created_at) VALUES (?, ?, 'billing', 'done', 'human', 0)", (rid, text))
    by_id = {r.id: r for r in load_recorded(recorded.engine_db)}
    assert by_id[rid].known_intent == "billing"


def test_a_superseded_backtest_stops(recorded, live):
    backtester = Backtester(load_recorded(recorded.engine_db))
    with pytest.raises(BacktestCancelled):
        backtester.run(live, live, cancelled=lambda: True)


def test_recorded_traffic_loads_from_a_folder_with_uri_characters(recorded, tmp_path):
    odd = tmp_path / "ops ?#% data"
    odd.mkdir()
    with sqlite3.connect(recorded.engine_db) as source, \
            sqlite3.connect(odd / "agent.sqlite") as target:
        source.backup(target)
    assert len(load_recorded(odd / "agent.sqlite")) == len(load_recorded(recorded.engine_db)) > 0


def test_an_llm_answer_served_from_the_cache_keeps_the_llms_intent(recorded):
    with sqlite3.connect(recorded.engine_db) as conn:
        rows = conn.execute("SELECT request_id, route, intent, rule_id FROM outcomes "
                            "WHERE route LIKE 'cache%'").fetchall()
    by_id = {r.id: r for r in load_recorded(recorded.engine_db)}
    from_llm = [(rid, intent) for rid, _, intent, rule_id in rows if rule_id is None]
    from_rules = [rid for rid, _, _, rule_id in rows if rule_id is not None]
    assert from_llm and from_rules
    assert all(by_id[rid].known_intent == intent for rid, intent in from_llm)
    assert all(by_id[rid].known_intent is None for rid in from_rules)  # circular: not known
