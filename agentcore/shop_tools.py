"""The demo shop's tools: reads the LLM may call freely, idempotent writes.

Reads refuse another customer's data: a prompt can ask for any order number,
but it only ever sees the orders of the customer who wrote it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from agentcore.errors import ToolError
from agentcore.tools import ToolContext, ToolRegistry

OrderId = Annotated[int, Field(ge=10000, le=99999, description="the 5-digit order number")]
CustomerId = Annotated[int, Field(ge=1, description="the customer's id")]


def _own_order(ctx: ToolContext, order_id: int) -> dict[str, Any]:
    order = ctx.shop.get_order(order_id)
    if order is None:
        raise ToolError(f"order {order_id} does not exist")
    if ctx.customer_id is not None and order["customer_id"] != ctx.customer_id:
        raise ToolError(f"order {order_id} is not one of this customer's orders")
    return order


def _own_customer(ctx: ToolContext, customer_id: int) -> None:
    if ctx.customer_id is not None and customer_id != ctx.customer_id:
        raise ToolError("only the customer who wrote may be looked up")


async def get_order(ctx: ToolContext, order_id: OrderId) -> dict[str, Any]:
    """Status, product, amounts, dates, carrier and tracking of one order."""
    await ctx.round_trip()
    return _own_order(ctx, order_id)


async def get_payments(ctx: ToolContext, order_id: OrderId) -> dict[str, Any]:
    """Every payment attempt on an order, with its status (captured, failed, refunded)."""
    await ctx.round_trip()
    _own_order(ctx, order_id)
    return {"order_id": order_id, "payments": ctx.shop.get_payments(order_id),
            "refunds": ctx.shop.get_refunds(order_id)}


async def get_refund_policy(ctx: ToolContext, order_id: OrderId) -> dict[str, Any]:
    """The refund window and restocking fee that apply to an order's product category."""
    await ctx.round_trip()
    _own_order(ctx, order_id)
    policy = ctx.shop.get_refund_policy(order_id)
    if policy is None:
        raise ToolError(f"no policy found for order {order_id}")
    return policy | {"today": ctx.shop.today.isoformat()}


async def get_customer(ctx: ToolContext, customer_id: CustomerId) -> dict[str, Any]:
    """The customer's account: status, store credit and recent orders."""
    await ctx.round_trip()
    _own_customer(ctx, customer_id)
    customer = ctx.shop.get_customer(customer_id)
    if customer is None:
        raise ToolError(f"customer {customer_id} does not exist")
    return customer | {"recent_orders": ctx.shop.recent_orders(customer_id)}


async def search_faq(ctx: ToolContext,
                     query: Annotated[str, Field(min_length=1, max_length=500)]) -> dict[str, Any]:
    """Help-centre articles that match a question, best first."""
    await ctx.round_trip()
    return {"results": ctx.shop.search_faq(query)}


async def issue_refund(ctx: ToolContext, order_id: OrderId,
                       amount: Annotated[float, Field(gt=0, description="dollars")],
                       reason: Annotated[str, Field(max_length=500)]) -> dict[str, Any]:
    """Refunds an amount in dollars on an order (at most what the refund policy allows)."""
    await ctx.round_trip()
    _own_order(ctx, order_id)
    return ctx.shop.issue_refund(ctx.request_id, order_id, round(amount * 100), reason)


async def cancel_order(ctx: ToolContext, order_id: OrderId,
                       reason: Annotated[str, Field(max_length=500)]) -> dict[str, Any]:
    """Cancels an order that has not shipped yet."""
    await ctx.round_trip()
    _own_order(ctx, order_id)
    return ctx.shop.cancel_order(ctx.request_id, order_id, reason)


async def send_password_reset(ctx: ToolContext, customer_id: CustomerId) -> dict[str, Any]:
    """Emails a password-reset link to the address on the customer's account."""
    await ctx.round_trip()
    _own_customer(ctx, customer_id)
    return ctx.shop.send_password_reset(ctx.request_id, customer_id)


READ_TOOLS = (get_order, get_payments, get_refund_policy, get_customer, search_faq)
WRITE_TOOLS = (issue_refund, cancel_order, send_password_reset)


def shop_registry() -> ToolRegistry:
    return ToolRegistry.from_functions(READ_TOOLS, WRITE_TOOLS)
