"""Requests and outcomes as the engine makes them, for the repositories to keep."""

from __future__ import annotations

from agentcore.models import (
    EscalationReason,
    Outcome,
    PendingAction,
    Request,
    Route,
    Span,
    Status,
)


def request(n: int, at: float = 1_000.0, customer_id: int | None = 7) -> Request:
    return Request(f"where is my order {n}", customer_id=customer_id, id=f"req-{n}",
                   received_at=at)


def answered(req: Request, spans: int = 5) -> Outcome:
    start = req.received_at
    return Outcome(req, Route.RULE, Status.ANSWERED, answer=f"order of {req.id} is on its way",
                   intent="order_status", rule_id="order-status",
                   spans=[Span(f"stage{i}", start + i / 1000, start + (i + 1) / 1000,
                               {"i": i, "pad": "x" * 200}) for i in range(spans)],
                   latency_ms=1.5)


def escalated(req: Request, reason: EscalationReason = EscalationReason.POLICY_VIOLATION,
              pending: bool = True) -> Outcome:
    outcome = Outcome(req, Route.LLM, Status.ESCALATED,
                      spans=[Span("guard", req.received_at, req.received_at + 0.001)],
                      errors=[f"{reason}: for a human"], escalation_reason=reason,
                      intent="refund_request")
    if pending:
        outcome.pending_action = PendingAction("issue_refund", {"order_id": 1, "amount": 5.0})
    return outcome


def turned_away(req: Request, reason: str = "prompt injection") -> Outcome:
    """What the guard's rejection records (engine._reject): turned away before any work."""
    return Outcome(req, Route.GUARD, Status.REJECTED, answer="I can't help with that.",
                   spans=[Span("guard", req.received_at, req.received_at + 0.001,
                               {"rejected": reason})],
                   errors=[f"rejected: {reason}"], latency_ms=0.4)
