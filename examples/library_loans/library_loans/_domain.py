"""The library's loans as an agentcore `Domain`: members are the customers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentcore.domain import (
    CacheTags,
    ChangeListener,
    ContextRecord,
    CustomerContext,
    FactRecipe,
    HandlerReads,
    Stake,
    WriteLimits,
)
from agentcore.handlers import HandlerSpec
from agentcore.models import PendingAction
from agentcore.router import CachePolicy
from agentcore.tools import ToolRegistry
from library_loans import _policy
from library_loans._handlers import library_handlers
from library_loans._store import LoanStore
from library_loans._tools import cents, loan_tools

if TYPE_CHECKING:
    from agentcore.escalation_model import Escalation

RESOURCES = Path(__file__).resolve().parent / "resources"

# The last is the catch-all.
INTENTS = ("loan_status", "renewal", "fine_waiver", "opening_hours", "human_request",
           "greeting", "other")

KEYWORDS: dict[str, dict[str, float]] = {
    "renewal": {"renew*": 4, "extend*": 3, "more time": 3, "keep it longer": 3},
    "fine_waiver": {"fine*": 3, "waive*": 4, "late fee*": 4, "forgive": 3},
    "loan_status": {"loan": 2, "due": 2, "when is": 1, "overdue": 2, "borrowed": 2},
    "opening_hours": {"opening hours": 5, "hours": 3, "open*": 3, "closed": 2, "close": 2},
    "human_request": {"human": 4, "librarian": 3, "a person": 4, "someone": 2},
    "greeting": {"hello": 2, "hi": 2, "good morning": 2},
    "other": {},
}

POLICIES: dict[str, CachePolicy] = {
    "loan_status": "per-customer", "opening_hours": "shared", "greeting": "shared",
    "renewal": "never", "fine_waiver": "never", "human_request": "never", "other": "never"}

# The console's demo traffic: each path once or twice (rules, lookups, writes, refusals).
SAMPLE_REQUESTS: tuple[dict[str, Any], ...] = (
    {"text": "When is loan 1001 due?", "customer_id": 1},
    {"text": "What are your opening hours?", "customer_id": None},
    {"text": "Can you renew loan 1002 for me?", "customer_id": 2},
    {"text": "Please waive the $1.50 fine on loan 1021", "customer_id": 1},
    {"text": "Please waive the $6.00 fine on loan 1031", "customer_id": 1},
    {"text": "Renew loan 1031 please", "customer_id": 1},
    {"text": "I'm away this week: what do I owe on loan 1013?", "customer_id": 3},
    {"text": "when do you open on saturday?", "customer_id": 4},
    {"text": "status of loan 1005", "customer_id": 5},
    {"text": "How do I renew a book?", "customer_id": None},
)

_LOAN_COLUMNS = (("id", "Loan"), ("title", "Book"), ("due_on", "Due"),
                 ("renewals_left", "Renewals left"), ("fine_cents", "Fine"))


def _loans_named(item: Escalation) -> set[int]:
    """The loans an escalation names: its pending write's and the agent's lookups."""
    found = set()
    calls = [item.pending_action.arguments] if item.pending_action is not None else []
    calls += [call.arguments or {} for call in item.tool_results]
    for arguments in calls:
        try:
            found.add(int(arguments["loan_id"]))
        except (KeyError, TypeError, ValueError):
            continue
    return found


def _loan_record(loan: Mapping[str, Any], about: bool) -> ContextRecord:
    state = f"returned {loan['returned_on']}" if loan["returned_on"] else f"due {loan['due_on']}"
    return ContextRecord(f"Loan #{loan['id']}", f"{loan['title']} · {state}",
                         (("Fine", int(loan["fine_cents"])),), about)


class LibraryDomain:
    """A library's loans: look a loan up, renew it, waive its fine up to a limit."""

    def __init__(self, path: Path) -> None:
        self.store = LoanStore(path)
        self._tools = loan_tools(self.store)
        self._handlers = library_handlers(self.store)
        self._facts = (FactRecipe(
            kind="fine_quote", key="loan_id", inputs=("get_loan",), derive=self._fine_quote,
            prompt_prefix="Fine quote (what may be waived without a librarian): ",
            intents=frozenset({"fine_waiver"}), propose=self._proposed_waiver),)

    @property
    def name(self) -> str:
        return "library_loans"

    @property
    def resources(self) -> Path:
        return RESOURCES

    @property
    def tools(self) -> ToolRegistry:
        return self._tools

    @property
    def handlers(self) -> Mapping[str, HandlerSpec]:
        return self._handlers

    @property
    def intents(self) -> Sequence[str]:
        return INTENTS

    @property
    def intent_policies(self) -> Mapping[str, CachePolicy]:
        return POLICIES

    @property
    def keywords(self) -> Mapping[str, Mapping[str, float]]:
        return KEYWORDS

    @property
    def cache_tags(self) -> CacheTags:
        return CacheTags(handlers={"static": HandlerReads(customer=False),
                                   "loan_status": HandlerReads(customer=True)},
                         read_tools={"get_loan": ()}, entities={"loan_id": "loan"},
                         customer_prefix="member")

    @property
    def facts(self) -> Sequence[FactRecipe]:
        return self._facts

    def today(self) -> date:
        return self.store.today

    # -- facts ---------------------------------------------------------------

    def _fine_quote(self, loan_id: int) -> dict[str, Any] | None:
        limits = self.store.waiver_limits(loan_id)
        if limits is None:
            return None
        return limits.as_dict() | {"allowed_dollars": limits.allowed_cents / 100}

    @staticmethod
    def _proposed_waiver(quote: dict[str, Any], why: str) -> PendingAction | None:
        if int(quote.get("allowed_cents", 0)) <= 0:
            return None
        return PendingAction("waive_fine", {"loan_id": int(quote["loan_id"]),
                                            "amount": quote["allowed_cents"] / 100},
                             dict(quote))

    # -- writes, for re-runs and the escalation queue -------------------------

    def effects_of(self, request_id: str) -> list[dict[str, Any]]:
        return self.store.actions_for(request_id)

    def recorded_write(self, tool: str, arguments: Mapping[str, Any],
                       request_id: str) -> dict[str, Any] | None:
        try:
            loan_id = int(arguments["loan_id"])
        except (KeyError, TypeError, ValueError):
            return None  # arguments no write could have run with
        return self.store.action(request_id, tool, loan_id)

    def write_limits(self, tool: str, arguments: Mapping[str, Any]) -> WriteLimits | None:
        try:
            loan_id = int(arguments["loan_id"])
        except (KeyError, TypeError, ValueError):
            return None
        loan = self.store.loan(loan_id)
        if loan is None or tool != "waive_fine":  # a renewal is not about money
            return None
        limits = _policy.WaiverLimits(loan_id, int(loan["fine_cents"]),
                                      int(loan["waived_cents"]))
        try:  # as the operator typed it: may be anything
            approving: int | None = cents(float(arguments["amount"]))
        except (KeyError, TypeError, ValueError, OverflowError):
            approving = None
        return WriteLimits(
            limits.allowed_cents, limits.fine_cents, approving,
            (("Fine charged", limits.fine_cents + limits.waived_cents),
             ("Waived already", limits.waived_cents), ("Owed", limits.fine_cents)),
            f"at most {_policy.dollars(_policy.WAIVE_LIMIT_CENTS)} waived per loan",
            verb="waive", ceiling="the fine still owed")

    # -- for the operator ----------------------------------------------------

    def customer_context(self, customer_id: int,
                         about: Escalation | None = None) -> CustomerContext | None:
        member = self.store.member(customer_id)
        if member is None:
            return None
        loans = self.store.loans_of(customer_id)
        out = [loan for loan in loans if not loan["returned_on"]]
        named = _loans_named(about) if about is not None else set()
        # The loans the request is about first: the one whose fine is at issue.
        items = sorted((_loan_record(loan, loan["id"] in named) for loan in loans),
                       key=lambda record: not record.about)
        return CustomerContext(
            title=f"Member {customer_id}: {member['name']}",
            facts={"email": member["email"], "card": member["card"],
                   "loans out": len(out),
                   "fines owed": _policy.dollars(sum(int(x["fine_cents"]) for x in loans))},
            records=loans, columns=_LOAN_COLUMNS, money_columns=frozenset({"fine_cents"}),
            name=member["name"], credit_cents=sum(int(x["fine_cents"]) for x in loans),
            credit_label="Fines owed", items=tuple(items))

    def at_stake(self, item: Escalation) -> Stake:
        pending = item.pending_action
        if pending is not None:
            loan = pending.arguments.get("loan_id")
            if pending.tool == "waive_fine":
                try:
                    amount = float(pending.arguments["amount"])
                except (KeyError, TypeError, ValueError):
                    return Stake(f"fine waiver on loan {loan}")
                asked = (pending.requested or {}).get("amount")
                if isinstance(asked, int | float) and not isinstance(asked, bool):
                    # Refused at the write: what was asked is what the item is about.
                    return Stake(f"${float(asked):,.2f} waiver asked", float(asked))
                return Stake(f"${amount:,.2f} fine waiver", amount)
            return Stake(f"renewal of loan {loan}")
        for call in item.tool_results:  # a loan it looked up: its fine
            result = call.result
            if result is not None and "fine_cents" in result:
                fine = int(result["fine_cents"]) / 100
                return Stake(f"loan {result['loan_id']}, ${fine:,.2f} fine", fine)
        return Stake("")

    def sample_requests(self) -> list[dict[str, Any]]:
        return [dict(row) for row in SAMPLE_REQUESTS]

    # -- changes -------------------------------------------------------------

    def watch(self, listener: ChangeListener) -> Callable[[], None]:
        return self.store.watch(listener)

    def change_log(self) -> LoanStore:
        return self.store

    def close(self) -> None:
        self.store.close()
