"""A refund request cut short by the dollar ceiling reaches the operators with the
refund its quote allows, ready to approve; an operator's resolution is the outcome."""

from __future__ import annotations

import sqlite3

import pytest

from agentcore import Engine, EscalationReason, FakeClock, Request
from agentcore.escalations import EscalationState, PendingStatus
from agentcore.storage import Store

# The engine looks up the order the message names, with its payments and policy, and
# computes the quote; the ceiling does not pay for the first decide call, which
# would refund.
CEILING_AFTER_QUOTE = 0.003
NOT_A_REFUND = "order {order} arrived with a dent in the box, what should I do"


@pytest.fixture
async def engine(settings):
    settings.loop.dollar_ceiling = CEILING_AFTER_QUOTE
    engine = Engine(settings, clock=FakeClock())  # the in-process mock LLM
    yield engine
    await engine.close()


def delivered_order(engine: Engine) -> tuple[int, int]:
    return engine.domain.shop.conn.execute(
        "SELECT id, customer_id FROM orders WHERE status = 'delivered' ORDER BY id LIMIT 1"
    ).fetchone()


async def test_the_ceiling_after_the_quote_leaves_the_quoted_refund_pending(engine):
    order, customer = delivered_order(engine)
    outcome = await engine.submit(Request(f"I want a refund for order {order}, it arrived damaged",
                                          customer_id=customer))
    assert outcome.escalation_reason is EscalationReason.DOLLAR_CEILING
    quote = engine.domain.shop.refund_limits(order).quote
    assert quote is not None and quote.allowed_cents > 0
    pending = outcome.pending_action
    assert pending is not None and pending.tool == "issue_refund"
    assert pending.arguments["order_id"] == order
    assert pending.arguments["amount"] == quote.allowed_dollars
    assert pending.allowed["allowed_cents"] == quote.allowed_cents

    [item] = await engine.escalations.list(state="open")
    assert item.pending_status is PendingStatus.WAITING
    await engine.escalations.claim(item.id, "alice", lease_s=60)
    await engine.escalations.approve(item.id, "alice")
    await engine.escalations.approve(item.id, "alice")
    refunds = engine.domain.shop.conn.execute(
        "SELECT amount_cents FROM refunds WHERE request_id = ?", (item.request_id,)).fetchall()
    assert refunds == [(quote.allowed_cents,)]


async def test_a_ceiling_stop_on_another_intent_proposes_no_write(engine):
    order, customer = delivered_order(engine)
    engine.settings.loop.dollar_ceiling = 0.0001  # not even the first decide call
    # About the order, and its quote is looked up, but nobody asked for money back.
    outcome = await engine.submit(Request(NOT_A_REFUND.format(order=order),
                                          customer_id=customer))
    assert outcome.escalation_reason is EscalationReason.DOLLAR_CEILING
    assert outcome.intent == "order_status"
    assert outcome.pending_action is None  # not a refund request: nothing to propose


async def test_a_ceiling_stop_before_any_call_still_proposes_the_quoted_refund(engine):
    # The rule knew the intent and the engine the quote: what the first decide call
    # would have done is ready for an operator, though no LLM call was made.
    order, customer = delivered_order(engine)
    engine.settings.loop.dollar_ceiling = 0.0001
    outcome = await engine.submit(Request(f"I want a refund for order {order}, it arrived damaged",
                                          customer_id=customer))
    assert outcome.escalation_reason is EscalationReason.DOLLAR_CEILING
    assert outcome.usage.dollars == 0
    assert outcome.pending_action is not None
    assert outcome.pending_action.arguments["order_id"] == order


async def test_resolving_without_a_reply_records_a_human_outcome(engine, settings):
    order, customer = delivered_order(engine)
    engine.settings.loop.dollar_ceiling = 0.0001
    outcome = await engine.submit(Request(NOT_A_REFUND.format(order=order),
                                          customer_id=customer))
    assert outcome.escalation_reason is EscalationReason.DOLLAR_CEILING
    [item] = await engine.escalations.list()
    await engine.escalations.claim(item.id, "alice", lease_s=60)
    engine.clock.advance(45)
    resolved = await engine.escalations.resolve(item.id, "alice")
    assert (resolved.state, resolved.resolved_by, resolved.time_to_resolve_s) == (
        EscalationState.RESOLVED, "alice", 45)
    with sqlite3.connect(settings.engine_db) as conn:
        row = conn.execute("SELECT route, status, answer, operator, latency_ms FROM outcomes"
                           " WHERE request_id = ?", (item.request_id,)).fetchone()
    assert row[:2] == ("human", "answered") and "alice" in row[2]
    assert row[3:] == ("alice", 45_000)  # who resolved it, and how long the customer waited


async def test_an_outcomes_table_from_before_operators_gains_the_column(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript("""
            CREATE TABLE outcomes (request_id TEXT PRIMARY KEY, route TEXT NOT NULL,
                status TEXT NOT NULL, intent TEXT, rule_id TEXT, answer TEXT NOT NULL,
                prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
                dollars REAL NOT NULL, latency_ms REAL NOT NULL, errors TEXT NOT NULL,
                escalation_reason TEXT, finished_at REAL NOT NULL);
            INSERT INTO outcomes VALUES ('r1', 'rule', 'answered', NULL, NULL, 'hi', 0, 0,
                0, 1.0, '[]', NULL, 2.0);
        """)
    conn.close()
    store = Store(path)
    try:
        [outcome] = store.requests.outcomes()
        assert (outcome.answer, outcome.operator) == ("hi", None)
    finally:
        store.close()


async def test_the_iteration_limit_after_the_quote_also_leaves_the_refund_pending(engine):
    engine.settings.loop.dollar_ceiling = 0.05  # money is no bound here: the count is
    engine.settings.loop.max_iterations = 1  # the engine's lookups, then one turn, tools closed
    order, customer = delivered_order(engine)
    outcome = await engine.submit(Request(f"I want a refund for order {order}, it arrived damaged",
                                          customer_id=customer))
    assert outcome.escalation_reason is EscalationReason.ITERATION_LIMIT
    assert outcome.pending_action is not None
    assert outcome.pending_action.arguments["order_id"] == order


async def test_a_refund_issued_before_the_ceiling_is_not_offered_again(engine, settings):
    # Enough for the lookups and the refund, not for the reply after it.
    engine.settings.loop.dollar_ceiling = 0.009
    order, customer = delivered_order(engine)
    outcome = await engine.submit(Request(f"I want a refund for order {order}, it arrived damaged",
                                          customer_id=customer))
    with sqlite3.connect(settings.shop_path) as shop:
        refunds = shop.execute("SELECT COUNT(*) FROM refunds WHERE request_id = ?",
                               (outcome.request_id,)).fetchone()[0]
    assert outcome.escalation_reason is EscalationReason.DOLLAR_CEILING
    assert refunds == 1  # the agent did refund
    assert outcome.pending_action is None  # so the operator is not asked to approve it
