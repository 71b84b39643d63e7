"""The library's three tools: look a loan up, renew it, waive (part of) its fine.

Each closes over the domain's `LoanStore`. Reads show a member only their own
loans; the writes hold themselves to the loan policy inside their own
transaction, and a waiver above it comes back as `WriteRefused` with what the
policy would allow instead, for an operator to approve (or override).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from agentcore.errors import RecordNotFound, ToolError, WriteRefused
from agentcore.tools import ToolContext, ToolRegistry
from library_loans import _policy
from library_loans._store import LoanStore

LoanId = Annotated[int, Field(ge=1000, le=9999, description="the 4-digit loan number")]


def _whole_cents(dollars: float) -> float:
    if not math.isclose(dollars * 100, round(dollars * 100), rel_tol=0, abs_tol=1e-6):
        raise ValueError("an amount has at most two decimal places (whole cents)")
    return dollars


# Bounded and in whole cents: no 1e308, no 0.001, no `true` (the registry refuses booleans).
Dollars = Annotated[float, Field(ge=0.01, le=10_000, allow_inf_nan=False,
                                 description="dollars, in whole cents"),
                    AfterValidator(_whole_cents)]

POLICIES = {
    "renew_loan": (f"at most {_policy.MAX_RENEWALS} renewals of a loan, none once it is more "
                   f"than {_policy.MAX_OVERDUE_DAYS} days overdue; checked in the renewal's "
                   "own transaction"),
    "waive_fine": (f"at most {_policy.dollars(_policy.WAIVE_LIMIT_CENTS)} waived per loan, "
                   "never more than the fine owed; checked in the waiver's own transaction"),
}


def cents(dollars: float) -> int:
    return round(dollars * 100)


def _loan_view(loan: dict[str, Any], store: LoanStore) -> dict[str, Any]:
    return {"loan_id": loan["id"], "title": loan["title"], "author": loan["author"],
            "borrowed_on": loan["borrowed_on"], "due_on": loan["due_on"],
            "returned_on": loan["returned_on"], "renewals_left": loan["renewals_left"],
            "overdue_days": _policy.overdue_days(loan["due_on"], store.today)
            if not loan["returned_on"] else 0,
            "fine_cents": loan["fine_cents"], "waived_cents": loan["waived_cents"],
            "today": store.today.isoformat()}


def loan_tools(store: LoanStore) -> ToolRegistry:
    def own_loan(ctx: ToolContext, loan_id: int) -> dict[str, Any]:
        if ctx.customer_id is None:
            raise ToolError("the request has no member: ask them to sign in with their "
                            "library card before looking anything up")
        loan = store.loan(loan_id)
        if loan is None or loan["member_id"] != ctx.customer_id:
            # The same words either way: no probing which loan numbers exist.
            raise RecordNotFound(f"loan {loan_id} is not one of this member's loans")
        return loan

    async def get_loan(ctx: ToolContext, loan_id: LoanId) -> dict[str, Any]:
        """One of the member's loans: book, due date, days overdue, renewals left, and the
        fine owed and waived so far (in cents)."""
        return _loan_view(own_loan(ctx, loan_id), store)

    async def renew_loan(ctx: ToolContext, loan_id: LoanId) -> dict[str, Any]:
        """Renews a loan for 14 more days (at most 2 renewals; not once it is more than 7
        days overdue)."""
        own_loan(ctx, loan_id)
        return store.renew(ctx.request_id, loan_id, override=ctx.override)

    async def waive_fine(ctx: ToolContext, loan_id: LoanId, amount: Dollars) -> dict[str, Any]:
        """Waives an amount in dollars of a loan's fine (at most $5.00 per loan)."""
        own_loan(ctx, loan_id)
        try:
            return store.waive(ctx.request_id, loan_id, cents(amount), override=ctx.override)
        except WriteRefused as exc:
            # What an operator could approve instead: the rest of the limit, unless this
            # request waived on the loan already (approving would only replay that).
            allowed = int(exc.limits.get("allowed_cents", 0))
            acted = store.action(ctx.request_id, "waive_fine", loan_id) is not None
            offer = ({"loan_id": loan_id, "amount": allowed / 100}
                     if allowed > 0 and not acted else None)
            raise WriteRefused(str(exc), exc.limits, offer) from None

    return ToolRegistry.from_functions((get_loan,), (renew_loan, waive_fine),
                                       policies=POLICIES)
