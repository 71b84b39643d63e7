"""Suggestions mined from the slow path: each answers a recurring shape with an existing
template; accepted, that traffic takes the fast path; rejected, it is never offered again."""

from __future__ import annotations

import dataclasses

import pytest

from agentcore import Engine, Request, Route, Router
from agentcore.backtest import Backtester, load_recorded
from agentcore.guard import normalise
from agentcore.rulebook import RuleBook
from agentcore.suggest import RejectedSuggestions, suggest_rules


@pytest.fixture
async def engine(recorded):
    engine = Engine(recorded)
    yield engine
    await engine.close()


def mine(engine: Engine) -> list:
    backtester = Backtester(load_recorded(engine.store.traffic))
    rejected = RejectedSuggestions(engine.store.rules).keys()
    return suggest_rules(backtester, engine.router, rejected=rejected)


async def test_an_accepted_suggestion_moves_its_traffic_to_the_fast_path(engine):
    found = mine(engine)
    assert found
    top = found[0]
    # Recurring, one intent, answered by an existing rule's template, a backtest attached.
    assert top.support >= 3 and top.gained >= top.support
    assert top.precision == 1.0
    assert top.rule.template in {r.template for r in engine.router.rules
                                 if r.intent == top.rule.intent}
    example = top.examples[0]
    assert (await engine.submit(Request(example))).route is Route.LLM

    RuleBook(engine).apply([*engine.router.rules, top.rule], author="ana",
                           summary=f"accepted suggestion {top.rule.id}")
    outcome = await engine.submit(Request(example))
    assert (outcome.route, outcome.rule_id) == (Route.RULE, top.rule.id)
    assert outcome.intent == top.rule.intent
    assert top.key not in {s.key for s in mine(engine)}  # answered now: nothing left to mine


async def test_a_rejected_suggestion_does_not_come_back(recorded):
    engine = Engine(recorded)
    try:
        top = mine(engine)[0]
        RejectedSuggestions(engine.store.rules).reject(top, author="ana", at=1.0)
        assert top.key not in {s.key for s in mine(engine)}
    finally:
        await engine.close()
    engine = Engine(recorded)  # persisted: a restart does not bring it back
    try:
        assert top.key not in {s.key for s in mine(engine)}
    finally:
        await engine.close()


async def test_a_suggested_rule_leaves_two_questions_in_one_message_to_the_llm(engine):
    top = mine(engine)[0]
    router = Router([*engine.router.rules, top.rule], engine.router.handlers,
                    fragments=engine.router.fragments)
    example = normalise(top.examples[0])
    assert router.hits(example)[0] == top.rule
    two_questions = normalise(f"{top.examples[0].rstrip('.!?')}. Also, do you ship to Peru?")
    assert router.hits(two_questions)[0] is None


async def test_a_suggestion_whose_id_is_taken_is_numbered_on(engine):
    top = mine(engine)[0]
    taken = [dataclasses.replace(top.rule, id=rule_id, enabled=False)  # off: still unanswered
             for rule_id in (top.rule.id, f"{top.rule.id}-2")]
    RuleBook(engine).apply([*engine.router.rules, *taken], author="ana", summary="drafts")
    again = next(s for s in mine(engine) if s.key == top.key)
    assert again.rule.id == f"{top.rule.id}-3"
