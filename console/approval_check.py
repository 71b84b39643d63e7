"""What approving a pending write would do, against what bounds it now: the figures
an operator sees side by side (paid, already refunded, what the policy allows,
what this approval refunds), and whether it is within the policy, needs an
explicit override, or can't be done at all. Qt-free, tested headless.

The core's write checks the same limits again in its own transaction; this is
what the operator is told before pressing, not the guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agentcore import PendingAction
from console.escalation_format import action_text


class Verdict(StrEnum):
    WITHIN = "within"  # within the policy: a confirmation
    OVERRIDE = "override"  # above the policy, within what was paid: a reason, and again
    IMPOSSIBLE = "impossible"  # no write can do this: nothing to confirm


@dataclass(frozen=True, slots=True)
class ApprovalCheck:
    verdict: Verdict
    action: str  # "issue refund $49.99 on order 12345"
    figures: tuple[tuple[str, str], ...] = ()  # (label, amount), in reading order
    problem: str = ""  # why an override is needed, or why it can't be done
    over_cents: int = 0  # by how much an override exceeds the policy


def _money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def check_approval(tool: str, arguments: dict[str, Any],
                   limits: dict[str, Any] | None) -> ApprovalCheck:
    """`limits` is the queue's `limits_for(tool, arguments)`: None for a write without
    figures (a cancellation), which is approved as it stands."""
    action = action_text(PendingAction(tool, arguments))
    if not limits:
        return ApprovalCheck(Verdict.WITHIN, action)
    approving = limits.get("approving_cents")
    allowed, left = int(limits["allowed_cents"]), int(limits["left_cents"])
    figures = (("Paid", _money(int(limits["paid_cents"]))),
               ("Already refunded", _money(int(limits["refunded_cents"]))),
               ("Policy allows", _money(allowed)),
               ("Approving", "—" if approving is None else _money(approving)))
    if approving is not None and approving < 1 and allowed == 0 and left > 0:
        why = limits.get("reason") or "the refund policy"
        return ApprovalCheck(Verdict.IMPOSSIBLE, action, figures,
                             f"the policy allows nothing on this order ({why}): deny it, or "
                             "type an amount to refund anyway, with a reason")
    if approving is None or approving < 1:
        return ApprovalCheck(Verdict.IMPOSSIBLE, action, figures,
                             "the amount must be at least $0.01, in dollars and cents")
    if approving > left:
        return ApprovalCheck(Verdict.IMPOSSIBLE, action, figures,
                             f"{_money(approving)} is more than is left of what was paid "
                             f"({_money(left)}): no override can refund that")
    if approving > allowed:
        why = limits.get("reason") or "the refund policy"
        return ApprovalCheck(Verdict.OVERRIDE, action, figures,
                             f"{_money(approving - allowed)} above what the policy allows "
                             f"({_money(allowed)}: {why})", approving - allowed)
    return ApprovalCheck(Verdict.WITHIN, action, figures)
