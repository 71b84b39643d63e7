"""The fast path's handlers: a loan's status from its number, and static answers."""

from __future__ import annotations

from typing import Any

from agentcore.errors import NeedsCustomer, NoDeterministicAnswer
from agentcore.handlers import HandlerContext, HandlerSpec
from library_loans import _policy
from library_loans._store import LoanStore

LOAN_FIELDS = frozenset({"loan_id", "title", "due_on", "renewals_left", "fine",
                         "status_line"})


def _status_line(loan: dict[str, Any], late: int) -> str:
    head = f"Loan {loan['id']} ({loan['title']})"
    if loan["returned_on"]:
        line = f"{head} was returned on {loan['returned_on']}."
    elif late:
        line = f"{head} was due on {loan['due_on']} and is {late} days overdue."
    else:
        line = f"{head} is due back on {loan['due_on']}."
    if loan["fine_cents"]:
        line += f" The fine on it is {_policy.dollars(int(loan['fine_cents']))}."
    if late > _policy.MAX_OVERDUE_DAYS:
        line += " It is too far overdue to renew: please bring it back."
    elif not loan["returned_on"]:
        left = int(loan["renewals_left"])
        line += f" It can be renewed {left} more time{'s' * (left != 1)}." if left else (
            " It can't be renewed again.")
    return line


def library_handlers(store: LoanStore) -> dict[str, HandlerSpec]:
    def loan_status(ctx: HandlerContext) -> dict[str, Any]:
        if ctx.customer_id is None:
            raise NeedsCustomer("a loan is a member's record and the request has no member")
        raw = ctx.groups.get("loan_id", "")
        loan = store.loan(int(raw)) if raw.isdigit() else None
        if loan is None or loan["member_id"] != ctx.customer_id:
            raise NoDeterministicAnswer(f"loan {raw!r} is not one of this member's loans")
        late = _policy.overdue_days(loan["due_on"], store.today)
        return {"loan_id": str(loan["id"]), "title": loan["title"], "due_on": loan["due_on"],
                "renewals_left": str(loan["renewals_left"]),
                "fine": _policy.dollars(int(loan["fine_cents"])),
                "status_line": _status_line(loan, 0 if loan["returned_on"] else late)}

    def static(ctx: HandlerContext) -> dict[str, Any]:
        return {}

    return {spec.name: spec for spec in (
        HandlerSpec("static", static, frozenset(), frozenset(),
                    "No data: the template is the whole answer."),
        HandlerSpec("loan_status", loan_status, LOAN_FIELDS, frozenset({"loan_id"}),
                    "One loan of the requesting member: book, due date, fine, renewals."),
    )}
