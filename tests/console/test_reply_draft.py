"""The reply an escalation opens with, for each shape of item: a refund offered,
done, refused or impossible, a write not about money, a cut-short quote, the
agent's own answer, and never the agent's "handing you over" deflection."""

from __future__ import annotations

from agentcore import (
    ContextRecord,
    CustomerContext,
    Escalation,
    EscalationReason,
    EscalationState,
    PendingAction,
    PendingStatus,
    Request,
)
from agentcore.tool_results import DerivedFact, ToolResults
from console.reply_draft import draft_reply, placeholders

ADA = CustomerContext("Customer 42", {}, name="Ada Lovelace",
                      items=(ContextRecord("Order #1042", about=True),))


def item(**fields) -> Escalation:
    base = dict(id=7, request=Request("refund order 1042 please", customer_id=42),
                reason=EscalationReason.DOLLAR_CEILING, state=EscalationState.CLAIMED,
                created_at=0.0, customer=ADA)
    return Escalation(**(base | fields))


REFUND = PendingAction("issue_refund", {"order_id": 1042, "amount": 24.0, "reason": "x"},
                       {"reason": "within 30 days"})


def test_a_refund_offered_then_done_then_refused():
    waiting = item(pending_action=REFUND, pending_status=PendingStatus.WAITING)
    draft = draft_reply(waiting, "alice")
    assert draft.startswith("Hi Ada,\n\nI've checked order #1042, and I can refund $24.00.")
    assert draft.endswith("Best regards,\nalice")
    done = item(pending_action=REFUND, pending_status=PendingStatus.APPROVED,
                pending_result={"by": "alice", "result": {"amount_cents": 2000}})
    assert "I've refunded $20.00 for order #1042. It will show" in draft_reply(done, "alice")
    denied = item(pending_action=REFUND, pending_status=PendingStatus.DENIED,
                  pending_result={"reason": "bought 90 days ago"})
    assert "I can't refund it this time (bought 90 days ago)" in draft_reply(denied, "alice")
    nothing = item(pending_action=PendingAction("issue_refund", {"order_id": 1042,
                                                                 "amount": 0.0},
                                                {"reason": "the window closed"}),
                   pending_status=PendingStatus.WAITING)
    said = draft_reply(nothing, "alice")
    assert "$0.00" not in said and "I can't refund it (the window closed)." in said


def test_the_agents_handoff_is_never_the_draft():
    handoff = item(draft_answer="Of course. I'm handing you over to a colleague now.",
                   reason=EscalationReason.CUSTOMER_ASKED_FOR_HUMAN, customer=None)
    draft = draft_reply(handoff, "bob")
    assert "colleague" not in draft and draft.startswith("Hi there, this is bob from")
    useful = item(draft_answer="Restart the app in safe mode to fix the crash.")
    assert "Restart the app in safe mode" in draft_reply(useful, "bob")


def test_a_cut_short_quote_and_a_write_not_about_money():
    facts = ToolResults()
    facts.derive(DerivedFact("refund_quote", 1042, {"order_id": 1042, "allowed_cents": 2400}))
    quoted = item(tool_results=facts)
    assert "I can offer a refund of $24.00" in draft_reply(quoted, "alice")
    cancel = item(pending_action=PendingAction("cancel_order", {"order_id": 1042}),
                  pending_status=PendingStatus.APPROVED)
    assert "I've taken care of it: cancel order on order #1042." in draft_reply(
        cancel, "alice", verb=None)


def test_placeholders_come_from_the_item():
    values = placeholders(item(pending_action=REFUND), "alice")
    assert values | {} == {"customer_name": "Ada Lovelace", "first_name": "Ada",
                           "order_id": "1042", "amount": "$24.00", "operator": "alice",
                           "escalation_id": "7"}
