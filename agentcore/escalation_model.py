"""An escalation as the queue stores and shows it: its states, and how a row of the
engine database becomes one (`agentcore.escalations` is what acts on them)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from agentcore.errors import QueueError
from agentcore.models import PendingAction, Request, Span
from agentcore.storage import storable

if TYPE_CHECKING:
    from agentcore.domain import CustomerContext, WriteLimits


class EscalationState(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"
    HANDED_BACK = "handed_back"  # the agent is re-running it with the operator's note


class PendingStatus(StrEnum):
    """waiting -> approving -> approved, or failed (and then approved or denied);
    waiting -> denied. `approving` is held in the database while the write runs, so
    no second approval (from this console or another) can start meanwhile."""

    WAITING = "waiting"
    APPROVING = "approving"
    APPROVED = "approved"
    FAILED = "failed"  # the write refused or was interrupted: nothing was done
    DENIED = "denied"

    @property
    def undecided(self) -> bool:
        """Still for an operator to approve or deny."""
        return self in (PendingStatus.WAITING, PendingStatus.FAILED)


@dataclass(slots=True)
class Escalation:
    """One item of the queue. `state` is as of the queue's clock: an expired claim
    reads as open, with no claimant. `customer` (the domain's context of who wrote),
    `spans` and `outcome` are filled by `get` only."""

    id: int
    request: Request
    reason: str
    state: EscalationState
    created_at: float
    claimed_by: str | None = None
    lease_expires_at: float | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    note: str | None = None
    intent: str | None = None
    draft_answer: str | None = None
    tool_results: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    pending_action: PendingAction | None = None
    pending_status: PendingStatus | None = None
    pending_result: dict[str, Any] | None = None
    reply_draft: str | None = None  # what an operator was writing, as last saved
    note_draft: str | None = None
    draft_by: str | None = None  # that operator
    approving_until: float | None = None  # while approving: when a crashed run is given up
    limits: WriteLimits | None = None  # what bounds the pending write now (`get` only)
    earlier_actions: list[dict[str, Any]] = field(default_factory=list)  # before a re-run
    customer: CustomerContext | None = None
    spans: list[Span] = field(default_factory=list)
    outcome: dict[str, Any] | None = None

    @property
    def request_id(self) -> str:
        return self.request.id

    @property
    def time_to_resolve_s(self) -> float | None:
        return None if self.resolved_at is None else self.resolved_at - self.created_at


_EFFECTIVE_STATE = ("CASE WHEN e.state = 'claimed' AND e.lease_expires_at <= :now"
                    " THEN 'open' ELSE e.state END")
# An expired claim reads as open: "open" is stored as open or claimed.
_STORED_AS = {EscalationState.OPEN: (EscalationState.OPEN, EscalationState.CLAIMED),
              EscalationState.CLAIMED: (EscalationState.CLAIMED,),
              EscalationState.RESOLVED: (EscalationState.RESOLVED,),
              EscalationState.HANDED_BACK: (EscalationState.HANDED_BACK,)}
_SELECT = f"""
SELECT e.id, e.request_id, e.reason, {_EFFECTIVE_STATE} AS state, e.created_at,
       e.claimed_by, e.lease_expires_at, e.resolved_at, e.resolved_by, e.resolution,
       e.note, e.context, e.pending_status, e.pending_result, e.reply_draft, e.note_draft,
       e.draft_by, e.approving_until, e.pending_history,
       r.text, r.customer_id, r.channel, r.received_at, r.note AS request_note
FROM escalations e JOIN requests r ON r.id = e.request_id
"""


def _escalation(row: dict[str, Any]) -> Escalation:
    context = json.loads(row["context"])
    pending = context.get("pending_action")
    live_claim = row["state"] == EscalationState.CLAIMED
    return Escalation(
        id=row["id"],
        request=Request(text=row["text"], customer_id=row["customer_id"],
                        channel=row["channel"], id=row["request_id"],
                        received_at=row["received_at"], note=row["request_note"]),
        reason=row["reason"], state=EscalationState(row["state"]),
        created_at=row["created_at"],
        claimed_by=row["claimed_by"] if live_claim else None,
        lease_expires_at=row["lease_expires_at"] if live_claim else None,
        resolved_at=row["resolved_at"], resolved_by=row["resolved_by"],
        resolution=row["resolution"], note=row["note"], intent=context.get("intent"),
        draft_answer=context.get("draft_answer"),
        tool_results=context.get("tool_results") or {}, errors=context.get("errors") or [],
        pending_action=PendingAction(**pending) if pending else None,
        pending_status=PendingStatus(row["pending_status"]) if row["pending_status"]
        else PendingStatus.WAITING if pending else None,  # a row from before the queue
        pending_result=json.loads(row["pending_result"]) if row["pending_result"] else None,
        reply_draft=row["reply_draft"], note_draft=row["note_draft"], draft_by=row["draft_by"],
        approving_until=row["approving_until"],
        earlier_actions=json.loads(row["pending_history"]) if row["pending_history"] else [])


def required_text(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise QueueError(f"{what} must not be empty")
    return storable(value.strip())
