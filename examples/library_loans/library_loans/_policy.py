"""The library's loan policy, as pure functions: what a renewal or a fine waiver may do.

Both writes call these inside their own transaction (`_store.LoanStore`), on the
loan as it is then, so neither the model, nor a second request, nor an operator's
approval from another console can get past them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

MAX_RENEWALS = 2  # a loan starts with this many renewals
MAX_OVERDUE_DAYS = 7  # a loan more overdue than this is returned, not renewed
LOAN_DAYS = 14  # a renewal adds this much from today or the due date, whichever is later
WAIVE_LIMIT_CENTS = 500  # at most $5.00 of a loan's fine is waived without an operator


def dollars(cents: int) -> str:
    return f"${cents / 100:,.2f}"


@dataclass(frozen=True, slots=True)
class WaiverLimits:
    """What bounds a waiver on one loan, as of one read."""

    loan_id: int
    fine_cents: int  # still owed
    waived_cents: int  # waived on this loan already

    @property
    def allowed_cents(self) -> int:
        """What the policy lets the agent waive now: the rest of the per-loan limit,
        never more than is owed."""
        return max(0, min(self.fine_cents, WAIVE_LIMIT_CENTS - self.waived_cents))

    def as_dict(self) -> dict[str, Any]:
        return {"loan_id": self.loan_id, "fine_cents": self.fine_cents,
                "waived_cents": self.waived_cents, "limit_cents": WAIVE_LIMIT_CENTS,
                "allowed_cents": self.allowed_cents}


def waiver_refusal(limits: WaiverLimits, amount_cents: int, *, override: bool) -> str | None:
    """Why waiving `amount_cents` is refused, or None when it may be done. An
    operator's override lifts the per-loan limit, never what is owed."""
    if amount_cents < 1:
        return "a waiver must be at least $0.01"
    if amount_cents > limits.fine_cents:
        return (f"loan {limits.loan_id} owes {dollars(limits.fine_cents)}; "
                f"{dollars(amount_cents)} can't be waived")
    if not override and amount_cents > limits.allowed_cents:
        return (f"waiving {dollars(amount_cents)} on loan {limits.loan_id} is above the "
                f"policy: at most {dollars(WAIVE_LIMIT_CENTS)} per loan, "
                f"{dollars(limits.waived_cents)} waived already")
    return None


def overdue_days(due_on: str, today: date) -> int:
    return max(0, (today - date.fromisoformat(due_on)).days)


def renewal_refusal(loan: dict[str, Any], today: date, *, override: bool) -> str | None:
    """Why renewing `loan` is refused, or None. An override lifts the renewal count
    and the overdue limit, never a loan already returned."""
    if loan["returned_on"]:
        return f"loan {loan['id']} was returned on {loan['returned_on']}"
    if override:
        return None
    if int(loan["renewals_left"]) <= 0:
        return f"loan {loan['id']} was renewed {MAX_RENEWALS} times already, the most allowed"
    late = overdue_days(loan["due_on"], today)
    if late > MAX_OVERDUE_DAYS:
        return (f"loan {loan['id']} is {late} days overdue; loans more than "
                f"{MAX_OVERDUE_DAYS} days overdue can't be renewed")
    return None


def renewed_due(due_on: str, today: date) -> str:
    return (max(date.fromisoformat(due_on), today) + timedelta(days=LOAN_DAYS)).isoformat()
