"""An escalation as the queue shows it, and its states (`agentcore.escalations` is
what acts on them; `agentcore.storage` keeps them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from agentcore.errors import QueueError
from agentcore.models import (
    EscalationReason,
    OutcomeSummary,
    PendingAction,
    Request,
    Span,
    storable,
)
from agentcore.tool_results import ToolResults

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
    reason: EscalationReason
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
    tool_results: ToolResults = field(default_factory=ToolResults)
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
    outcome: OutcomeSummary | None = None

    @property
    def request_id(self) -> str:
        return self.request.id

    @property
    def time_to_resolve_s(self) -> float | None:
        return None if self.resolved_at is None else self.resolved_at - self.created_at


def required_text(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise QueueError(f"{what} must not be empty")
    return storable(value.strip())
