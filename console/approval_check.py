"""What approving a pending write would do, against what bounds it now: the figures
an operator sees side by side (the domain's: paid and already refunded for the
demo shop; then what the policy allows and what this approval does), and whether
it is within the policy, needs an explicit override, or can't be done at all.
Qt-free, tested headless.

The core's write checks the same limits again in its own transaction; this is
what the operator is told before pressing, not the guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agentcore import PendingAction, WriteLimits
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
    verb: str = "refund"  # what the write does with the money (the domain's word)
    ceiling: str = "what was paid"  # the hard limit no override passes, in words


def _money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def check_approval(tool: str, arguments: dict[str, Any],
                   limits: WriteLimits | None) -> ApprovalCheck:
    """`limits` is the queue's `limits_for(tool, arguments)`: None for a write not about
    money (a cancellation), which is approved as it stands."""
    action = action_text(PendingAction(tool, arguments))
    if limits is None:
        return ApprovalCheck(Verdict.WITHIN, action)
    approving, verb = limits.approving_cents, limits.verb
    allowed, ceiling = limits.allowed_cents, limits.ceiling_cents
    figures = (*((label, _money(cents)) for label, cents in limits.figures),
               ("Policy allows", _money(allowed)),
               ("Approving", "—" if approving is None else _money(approving)))
    why = limits.reason or "the policy"
    if approving is not None and approving < 1 and allowed == 0 and ceiling > 0:
        return ApprovalCheck(Verdict.IMPOSSIBLE, action, figures,
                             f"the policy allows nothing here ({why}): deny it, or type an "
                             f"amount to {verb} anyway, with a reason")
    if approving is None or approving < 1:
        return ApprovalCheck(Verdict.IMPOSSIBLE, action, figures,
                             "the amount must be at least $0.01, in dollars and cents")
    if approving > ceiling:
        return ApprovalCheck(Verdict.IMPOSSIBLE, action, figures,
                             f"{_money(approving)} is more than {limits.ceiling} "
                             f"({_money(ceiling)}): no override can {verb} that")
    if approving > allowed:
        return ApprovalCheck(Verdict.OVERRIDE, action, figures,
                             f"{_money(approving - allowed)} above what the policy allows "
                             f"({_money(allowed)}: {why})", approving - allowed, verb,
                             limits.ceiling)
    return ApprovalCheck(Verdict.WITHIN, action, figures)
