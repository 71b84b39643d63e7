"""The fast path's handlers: a matched rule's named groups in, template variables out.

A domain supplies its handlers (`Domain.handlers`); each does at most a couple of
keyed reads of its own backend (it closes over it) and some string formatting,
so a rule answer costs microseconds. When one cannot answer deterministically
(an unknown or foreign record) it raises `NoDeterministicAnswer` and the engine
hands the request to the LLM rather than guessing; with no customer at all
(`NeedsCustomer`) the engine asks who is writing, as the LLM path would, without
spending a call on it. Each spec lists the variables it returns, so the router
can refuse a template that uses one it does not.

A handler that acts (a refund, a cancellation) is async and marked `acts`: it reads
what its decision needs through the domain's tools (`HandlerContext.call`, in
parallel where it can), decides by the domain's policy, writes through the same
idempotent, policy-checked tool the LLM would call, and returns what the template
says. Its answer is never cached, and the degradation ladder never uses it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from agentcore.errors import NeedsCustomer, NoDeterministicAnswer


class ToolCaller(Protocol):
    """The domain's tools as the request would call them: its customer, its id as the
    idempotency key, the loop's timeout, each call a span. Raises ToolError."""

    async def __call__(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class HandlerContext:
    customer_id: int | None
    groups: dict[str, str]  # named groups of the rule's match that matched
    request_id: str = ""
    call: ToolCaller | None = None  # for handlers that act; None where nothing may act


Values = dict[str, Any]


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    name: str
    # Returns the template's variables; a coroutine for a handler that `acts`.
    fn: Callable[[HandlerContext], Values] | Callable[[HandlerContext], Awaitable[Values]]
    fields: frozenset[str]  # every variable fn returns (templates may only use these)
    needs: frozenset[str]  # named groups the pattern must define (e.g. {"order_id"})
    description: str
    acts: bool = False  # writes through the domain's tools (async; never cached)
    hands_off: bool = False  # the answer is an operator's: escalated, the template a draft
    # Named groups it answers one by one when a message names several (orders A, B, C):
    # the fast path runs it for each and joins the answers. Never for one that acts.
    each: frozenset[str] = frozenset()


# Spelled out rather than strftime("%b"): Qt sets the C locale from the
# environment, and an answer must not change language with the operator's desktop.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def money(cents: int) -> str:
    """`$1,234.56`: integer arithmetic, so no float ever rounds a cent away."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(int(cents)), 100)
    return f"{sign}${whole:,}.{rest:02d}"


def day(iso: str | None) -> str:
    """`Oct 20, 2026` from an ISO date or date-time; '' when there is none."""
    if not iso:
        return ""
    d = date.fromisoformat(iso[:10])
    return f"{_MONTHS[d.month - 1]} {d.day}, {d.year}"


def require_customer(ctx: HandlerContext) -> int:
    """The requesting customer's id; NeedsCustomer when the request has none."""
    if ctx.customer_id is None:
        raise NeedsCustomer("the answer is per customer and the request has no customer")
    return ctx.customer_id


def tools_of(ctx: HandlerContext) -> ToolCaller:
    """The tools an acting handler writes through; NoDeterministicAnswer where the
    engine offers none (a backtest, the ladder)."""
    if ctx.call is None:
        raise NoDeterministicAnswer("this handler acts, and nothing may act here")
    return ctx.call


def static(ctx: HandlerContext) -> dict[str, Any]:
    return {}


# No data: any domain may offer it for rules whose template is the whole answer.
STATIC = HandlerSpec("static", static, frozenset(), frozenset(),
                     "No data: the template is the whole answer.")
# A person: the request goes to the operators' queue, the template its draft reply.
HUMAN = HandlerSpec("human", static, frozenset(), frozenset(),
                    "A person answers: the request goes to the escalation queue without an "
                    "LLM call; the template is the draft the operator starts from.",
                    hands_off=True)
