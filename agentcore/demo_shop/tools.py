"""The demo shop's tools: reads the LLM may call freely, idempotent writes.

Reads refuse another customer's data: a prompt can ask for any order number,
but it only ever sees the orders of the customer who wrote it, and a request
with no customer sees none at all. Writes are held to policy by the shop at the
write itself (`Shop.issue_refund`); a refusal comes back as `WriteRefused` with
the arguments the policy would allow, for an operator to approve instead.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from agentcore.demo_shop.repository import Shop
from agentcore.domain import WriteLimits
from agentcore.errors import RecordNotFound, ToolError, WriteRefused
from agentcore.tools import ToolContext, ToolFn, ToolRegistry

OrderId = Annotated[int, Field(ge=10000, le=99999, description="the 5-digit order number")]
CustomerId = Annotated[int, Field(ge=1, description="the customer's id")]
MAX_REFUND_DOLLARS = 100_000  # far above any order; the write's own limits are the real bound


def _whole_cents(dollars: float) -> float:
    if not math.isclose(dollars * 100, round(dollars * 100), rel_tol=0, abs_tol=1e-6):
        raise ValueError("an amount has at most two decimal places (whole cents)")
    return dollars


# Dollars, as a model writes them, but only whole cents in a bounded range: no 1e308
# (an overflow), no 1e-9 (a 0-cent refund), no `true` (the tools refuse booleans).
Dollars = Annotated[float, Field(ge=0.01, le=MAX_REFUND_DOLLARS, allow_inf_nan=False,
                                 description="dollars, in whole cents"),
                    AfterValidator(_whole_cents)]


def cents(dollars: float) -> int:
    return round(dollars * 100)


def _known_customer(ctx: ToolContext) -> int:
    if ctx.customer_id is None:
        raise ToolError("the request has no customer: ask who is writing (sign in, or the "
                        "email address of the account) before looking anything up")
    return ctx.customer_id



class ShopTools:
    """The shop's tools, bound to one shop. `latency_s` stands for the network hop to
    a real shop backend; even at 0 a call yields to the loop, as real I/O would, so
    one turn's calls overlap."""

    def __init__(self, shop: Shop, latency_s: float = 0.0) -> None:
        self.shop = shop
        self.latency_s = latency_s

    async def _round_trip(self) -> None:
        await asyncio.sleep(self.latency_s)

    def _own_order(self, ctx: ToolContext, order_id: int) -> dict[str, Any]:
        customer_id = _known_customer(ctx)
        order = self.shop.get_order(order_id)
        if order is None:
            raise RecordNotFound(f"order {order_id} does not exist")
        if order["customer_id"] != customer_id:
            raise RecordNotFound(f"order {order_id} is not one of this customer's orders")
        return order

    def _own_customer(self, ctx: ToolContext, customer_id: int) -> None:
        if customer_id != _known_customer(ctx):
            raise ToolError("only the customer who wrote may be looked up")

    async def get_order(self, ctx: ToolContext, order_id: OrderId) -> dict[str, Any]:
        """Status, product, amounts, dates, carrier and tracking of one order."""
        await self._round_trip()
        return self._own_order(ctx, order_id)

    async def get_payments(self, ctx: ToolContext, order_id: OrderId) -> dict[str, Any]:
        """Every payment attempt on an order, with its status (captured, failed, refunded)."""
        await self._round_trip()
        self._own_order(ctx, order_id)
        return {"order_id": order_id, "payments": self.shop.get_payments(order_id),
                "refunds": self.shop.get_refunds(order_id)}

    async def get_refund_policy(self, ctx: ToolContext, order_id: OrderId) -> dict[str, Any]:
        """The refund window and restocking fee that apply to an order's product category."""
        await self._round_trip()
        self._own_order(ctx, order_id)
        policy = self.shop.get_refund_policy(order_id)
        if policy is None:
            raise ToolError(f"no policy found for order {order_id}")
        return policy | {"today": self.shop.today.isoformat()}

    async def get_customer(self, ctx: ToolContext, customer_id: CustomerId) -> dict[str, Any]:
        """The customer's account: status, store credit and recent orders."""
        await self._round_trip()
        self._own_customer(ctx, customer_id)
        customer = self.shop.get_customer(customer_id)
        if customer is None:
            raise ToolError(f"customer {customer_id} does not exist")
        return customer | {"recent_orders": self.shop.recent_orders(customer_id)}

    async def search_faq(self, ctx: ToolContext, query: Annotated[
            str, Field(min_length=1, max_length=500)]) -> dict[str, Any]:
        """Help-centre articles that match a question, best first."""
        await self._round_trip()
        return {"results": self.shop.search_faq(query)}

    async def issue_refund(self, ctx: ToolContext, order_id: OrderId, amount: Dollars,
                           reason: Annotated[str, Field(max_length=500)]) -> dict[str, Any]:
        """Refunds an amount in dollars on an order (at most what the refund policy allows)."""
        await self._round_trip()
        self._own_order(ctx, order_id)
        try:
            return self.shop.issue_refund(ctx.request_id, order_id, cents(amount), reason,
                                         override=ctx.override)
        except WriteRefused as exc:
            # What an operator could approve instead: the policy's amount, while any of
            # what was paid is left to refund and this request has not refunded the order
            # already (an approval under it could then only replay that refund).
            offer = None
            acted = self.shop.has_acted(ctx.request_id, "issue_refund", f"order:{order_id}")
            if exc.limits.get("left_cents", 0) > 0 and not acted:
                offer = {"order_id": order_id, "amount": exc.limits["allowed_cents"] / 100,
                         "reason": reason}
            raise WriteRefused(str(exc), exc.limits, offer) from None

    async def cancel_order(self, ctx: ToolContext, order_id: OrderId,
                           reason: Annotated[str, Field(max_length=500)]) -> dict[str, Any]:
        """Cancels an order that has not shipped yet."""
        await self._round_trip()
        self._own_order(ctx, order_id)
        return self.shop.cancel_order(ctx.request_id, order_id, reason)

    async def send_password_reset(self, ctx: ToolContext,
                                  customer_id: CustomerId) -> dict[str, Any]:
        """Emails a password-reset link to the address on the customer's account."""
        await self._round_trip()
        self._own_customer(ctx, customer_id)
        return self.shop.send_password_reset(ctx.request_id, customer_id)


READ_TOOLS = ("get_order", "get_payments", "get_refund_policy", "get_customer", "search_faq")
WRITE_TOOLS = ("issue_refund", "cancel_order", "send_password_reset")
PUBLIC_TOOLS = ("search_faq",)  # reads nobody's records: offered to anonymous requests too
# What each write holds itself to inside its own transaction (Shop's writes).
WRITE_POLICIES = {
    "issue_refund": "at most the refund quote (window, restocking fee) and never more than "
                    "is left of what was paid; an operator may override up to that",
    "cancel_order": "only an order of the customer's that has not shipped",
    "send_password_reset": "only to the address on the writing customer's own account, "
                           "and at most once in 5 minutes (asked again: 'sent recently')",
}


def shop_registry(shop: Shop, latency_s: float = 0.0, *,
                  replaced: Mapping[str, ToolFn] | None = None,
                  extra_reads: Sequence[ToolFn] = ()) -> ToolRegistry:
    """The shop's tools over `shop`; `replaced` swaps some for others of the same name
    and signature (a backend that fails, in tests); `extra_reads` adds reads."""
    tools = ShopTools(shop, latency_s)
    replaced = replaced or {}
    if any(fn.__name__ != name for name, fn in replaced.items()):
        raise ValueError("a replacement tool must carry the name of the tool it replaces")

    def pick(names: tuple[str, ...]) -> list[ToolFn]:
        return [replaced.get(name) or getattr(tools, name) for name in names]

    return ToolRegistry.from_functions([*pick(READ_TOOLS), *extra_reads], pick(WRITE_TOOLS),
                                       public=pick(PUBLIC_TOOLS), policies=WRITE_POLICIES)


def _recorded_arguments(tool: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
    """A write's arguments as the shop records them with it (`Shop.issue_refund` and
    the others), to tell that write from another one of the same request and entity;
    None for a tool the shop does not record."""
    if tool == "issue_refund":
        return {"order_id": int(arguments["order_id"]),
                "amount_cents": cents(float(arguments["amount"]))}
    if tool == "cancel_order":
        return {"order_id": int(arguments["order_id"]), "reason": arguments["reason"]}
    if tool == "send_password_reset":
        return {"customer_id": int(arguments["customer_id"])}
    return None


def write_target(tool: str, arguments: dict[str, Any]) -> str:
    """The entity a write acts on: with the request id, the key of its idempotency
    record in the shop (`Shop._idempotent`)."""
    if "order_id" in arguments:
        return f"order:{int(arguments['order_id'])}"
    return f"customer:{int(arguments['customer_id'])}"


def recorded_write(shop: Shop) -> Callable[[str, dict[str, Any], str], dict[str, Any] | None]:
    """For the escalation queue: what a request's write did, from the shop's own record,
    or None if it never happened (how an approval cut short by a crash is settled)."""
    def recorded(tool: str, arguments: dict[str, Any], request_id: str) -> dict[str, Any] | None:
        try:
            target = write_target(tool, arguments)
            recorded_as = _recorded_arguments(tool, arguments)
        except (KeyError, TypeError, ValueError, OverflowError):
            return None  # arguments no write could have run with
        return shop.action_result(request_id, tool, target, recorded_as)

    return recorded


def write_limits(shop: Shop) -> Callable[[str, dict[str, Any]], WriteLimits | None]:
    """For the escalation queue: what bounds a pending write now (paid, refunded, what
    the policy allows) beside what approving it with `arguments` would refund, for
    the operator to see before approving. None: no figures for this write."""
    def limits(tool: str, arguments: dict[str, Any]) -> WriteLimits | None:
        if tool != "issue_refund":
            return None
        try:
            found = shop.refund_limits(int(arguments["order_id"]))
        except (KeyError, TypeError, ValueError):
            return None
        if found is None:
            return None
        try:  # as the operator typed it: may be anything
            approving: int | None = cents(float(arguments["amount"]))
        except (KeyError, TypeError, ValueError, OverflowError):
            approving = None
        return WriteLimits(found.quote.allowed_cents, found.left_cents, approving,
                           (("Paid", found.paid_cents), ("Already refunded", found.refunded_cents)),
                           found.quote.reason)

    return limits
