"""The demo shop's fast-path handlers, bound to one shop by `shop_handlers`.

Each reads the shop by primary key (microseconds) and formats; one that cannot
answer deterministically (a foreign or unknown order) falls through to the LLM.

Three act: a refund and a cancellation the policy decides alone, and a reset link. They read the
order, its payments and its category's policy in parallel through the shop's
tools, compute the outcome with the same pure policy the write checks again in
its own transaction (`policy.refund_quote`), and write through the tool the LLM
would call, idempotent on the request id. Whatever the policy doesn't settle (no
refund allowed, an order that already shipped, a suspended account, a full refund
asked where a fee applies) goes to the LLM, which can explain, offer another way,
or hand over to a person.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from agentcore.demo_shop.policy import paid_cents, refund_quote
from agentcore.demo_shop.repository import Shop
from agentcore.errors import NoDeterministicAnswer, ToolError
from agentcore.handlers import (
    HUMAN,
    STATIC,
    HandlerContext,
    HandlerSpec,
    day,
    money,
    require_customer,
    tools_of,
)

_REFUND_DELAY = "Refunds reach your original payment method within 5-10 business days."


def _own_order(shop: Shop, ctx: HandlerContext) -> dict[str, Any]:
    """The order named in the match, only if it is the requesting customer's."""
    customer_id = require_customer(ctx)
    raw = ctx.groups.get("order_id", "")
    if not raw.isdigit():
        raise NoDeterministicAnswer(f"no usable order number in the match ({raw!r})")
    order = shop.get_order(int(raw))
    if order is None:
        raise NoDeterministicAnswer(f"order {raw} does not exist")
    if order["customer_id"] != customer_id:
        # Not an answer the fast path may give: the LLM path asks who is asking.
        raise NoDeterministicAnswer(f"order {raw} belongs to another customer")
    return order


def _status_line(order: dict[str, Any]) -> str:
    oid, product, status = order["id"], order["product"], order["status"]
    head = f"Order {oid} ({product})"
    tracking = f"{order['carrier']}, tracking number {order['tracking_number']}"
    if status == "processing":
        return (f"{head} was placed on {day(order['placed_at'])} and is being prepared; "
                "it has not shipped yet.")
    if status == "shipped":
        return f"{head} shipped on {day(order['shipped_at'])} with {tracking}. It is on its way."
    if status == "delivered":
        return f"{head} was delivered on {day(order['delivered_at'])} ({tracking})."
    if status == "cancelled":
        return f"{head} was cancelled; any payment for it was released."
    if status == "returned":
        return (f"{head} was returned; {money(order['refunded_cents'])} has been refunded "
                "so far.")
    return f"{head} is {status}."


_ORDER_FIELDS = frozenset({"order_id", "status", "product", "quantity", "total", "placed_on",
                           "shipped_on", "delivered_on", "carrier", "tracking_number",
                           "status_line"})


def _order_fields(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": str(order["id"]), "status": order["status"], "product": order["product"],
        "quantity": str(order["quantity"]), "total": money(order["total_cents"]),
        "placed_on": day(order["placed_at"]), "shipped_on": day(order["shipped_at"]),
        "delivered_on": day(order["delivered_at"]), "carrier": order["carrier"] or "",
        "tracking_number": order["tracking_number"] or "", "status_line": _status_line(order),
    }


def order_status(shop: Shop, ctx: HandlerContext) -> dict[str, Any]:
    return _order_fields(_own_order(shop, ctx))


def latest_order_status(shop: Shop, ctx: HandlerContext) -> dict[str, Any]:
    customer_id = require_customer(ctx)
    recent = shop.recent_orders(customer_id, limit=1)
    if not recent:
        raise NoDeterministicAnswer(f"customer {customer_id} has no orders")
    order = shop.get_order(recent[0]["id"])
    if order is None:  # deleted between the two reads
        raise NoDeterministicAnswer(f"order {recent[0]['id']} disappeared")
    return _order_fields(order)


def refund_status(shop: Shop, ctx: HandlerContext) -> dict[str, Any]:
    order = _own_order(shop, ctx)
    oid, status = order["id"], order["status"]
    refunds = shop.get_refunds(oid)
    if refunds:
        last = refunds[-1]
        count = f" in {len(refunds)} refunds" if len(refunds) > 1 else ""
        line = (f"We refunded {money(order['refunded_cents'])} on order {oid}{count}, most "
                f"recently on {day(last['created_at'])} ({last['reason']}). {_REFUND_DELAY}")
    elif status == "cancelled":
        line = (f"Order {oid} was cancelled before it was charged for good, so there is no "
                "refund to wait for: the payment hold was released.")
    else:
        line = (f"There is no refund on order {oid} yet; the order is {status}. "
                "If you would like one, just say so and we will look at it.")
    return {"order_id": str(oid), "product": order["product"], "status": status,
            "refunded": money(order["refunded_cents"]), "refund_line": line}


def refund_policy(shop: Shop, ctx: HandlerContext) -> dict[str, Any]:
    lines = []
    for row in shop.refund_windows():
        name, days = row["name"].capitalize(), int(row["refund_window_days"])
        if days <= 0:
            lines.append(f"- {name}: not refundable")
            continue
        fee = float(row["restocking_fee_pct"])
        extra = f", less a {fee:g}% restocking fee" if fee else ""
        lines.append(f"- {name}: {days} days after delivery{extra}")
    return {"policy_list": "\n".join(lines), "refund_delay": _REFUND_DELAY}


def account_balance(shop: Shop, ctx: HandlerContext) -> dict[str, Any]:
    customer_id = require_customer(ctx)
    customer = shop.get_customer(customer_id)
    if customer is None:
        raise NoDeterministicAnswer(f"customer {customer_id} does not exist")
    credit = int(customer["store_credit_cents"] or 0)
    status = customer["account_status"] or "active"
    line = (f"You have {money(credit)} in store credit; it is applied automatically at "
            "checkout." if credit else "You have no store credit at the moment.")
    if status == "locked":
        line += " Your account is locked: resetting your password unlocks it."
    elif status == "suspended":
        line += " Your account is suspended; a colleague will contact you about it."
    return {"first_name": customer["name"].split()[0], "store_credit": money(credit),
            "account_status": status, "balance_line": line}


def _not_suspended(shop: Shop, customer_id: int) -> None:
    """A suspended account is under review: what it asks to be paid or changed is a
    person's call (the LLM path can hand it over), never a rule's."""
    customer = shop.get_customer(customer_id)
    if customer is not None and customer["account_status"] == "suspended":
        raise NoDeterministicAnswer(f"customer {customer_id}'s account is suspended")


def _order_number(ctx: HandlerContext) -> int:
    raw = ctx.groups.get("order_id", "")
    if not raw.isdigit():
        raise NoDeterministicAnswer(f"no usable order number in the match ({raw!r})")
    return int(raw)


async def _read_together(ctx: HandlerContext, order_id: int,
                         *tools: str) -> list[dict[str, Any]]:
    """The reads a decision needs, at once. A refusal (another customer's order, no
    such order) is no answer the fast path may give: the LLM path asks."""
    call = tools_of(ctx)
    try:
        return list(await asyncio.gather(*(call(tool, {"order_id": order_id})
                                           for tool in tools)))
    except ToolError as exc:
        raise NoDeterministicAnswer(str(exc)) from None


_REFUND_FIELDS = frozenset({"order_id", "product", "amount", "refund_line"})


async def refund_request(shop: Shop, ctx: HandlerContext) -> dict[str, Any]:
    """Refunds what the policy allows on one order of the customer's, once."""
    customer_id = require_customer(ctx)
    oid = _order_number(ctx)
    # A re-run of this request (a crash, a resume) reports the refund it made.
    done = shop.action_result(ctx.request_id, "issue_refund", f"order:{oid}")
    order, payments, policy = await _read_together(ctx, oid, "get_order", "get_payments",
                                                   "get_refund_policy")
    if done is None:
        _not_suspended(shop, customer_id)
        quote = refund_quote(order, payments["payments"], policy, shop.today)
        if quote.allowed_cents <= 0:
            raise NoDeterministicAnswer(f"the policy allows no refund on order {oid}: "
                                        f"{quote.reason}")
        left = paid_cents(payments["payments"]) - int(order.get("refunded_cents", 0))
        if ctx.groups.get("full") and quote.allowed_cents < left:
            # Refunding less than was asked is a dispute waiting to happen: the LLM can
            # explain the fee before anything is paid, or a person can waive it.
            raise NoDeterministicAnswer(f"a full refund was asked for on order {oid}, and "
                                        f"the policy allows less: {quote.reason}")
        done = await tools_of(ctx)("issue_refund", {
            "order_id": oid, "amount": quote.allowed_dollars,
            "reason": f"asked for by the customer; {quote.reason}"})
        fee = quote.allowed_cents < int(order["total_cents"])
        why = f" ({quote.reason})" if fee else ""
    else:
        why = ""
    amount = money(int(done["amount_cents"]))
    line = (f"I've refunded {amount} on order {oid} ({order['product']}){why}. "
            f"{_REFUND_DELAY}")
    return {"order_id": str(oid), "product": order["product"], "amount": amount,
            "refund_line": line}


_CANCEL_FIELDS = frozenset({"order_id", "product", "cancel_line"})


async def cancel_order(shop: Shop, ctx: HandlerContext) -> dict[str, Any]:
    """Cancels one order of the customer's that has not shipped, once."""
    customer_id = require_customer(ctx)
    oid = _order_number(ctx)
    done = shop.action_result(ctx.request_id, "cancel_order", f"order:{oid}")
    (order,) = await _read_together(ctx, oid, "get_order")
    if done is None:
        _not_suspended(shop, customer_id)
        if order["status"] != "processing":
            raise NoDeterministicAnswer(f"order {oid} is {order['status']}: too late to "
                                        "cancel, which the customer needs explained")
        done = await tools_of(ctx)("cancel_order", {"order_id": oid,
                                                    "reason": "asked for by the customer"})
    if not done.get("cancelled"):  # shipped between the read and the write
        raise NoDeterministicAnswer(f"order {oid} could not be cancelled: {done.get('why')}")
    released = (" and the payment hold was released" if done.get("payments_released")
                else "")
    line = (f"Order {oid} ({order['product']}) is cancelled{released}; it will not ship.")
    return {"order_id": str(oid), "product": order["product"], "cancel_line": line}


async def password_reset_link(shop: Shop, ctx: HandlerContext) -> dict[str, Any]:
    """Emails a reset link to the address on the writing customer's own account, once."""
    customer_id = require_customer(ctx)
    try:
        sent = await tools_of(ctx)("send_password_reset", {"customer_id": customer_id})
    except ToolError as exc:
        raise NoDeterministicAnswer(str(exc)) from None
    if sent.get("status") == "sent recently":  # the shop sends one per 5 minutes
        return {"reset_line": "We emailed a link to reset your password to the address on "
                              "your account a few minutes ago, and it still works: please "
                              "check your spam folder. If it hasn't arrived in 10 minutes, "
                              "ask again and we'll send a new one."}
    return {"reset_line": "I've emailed a link to reset your password to the address on "
                          "your account; it arrives within a few minutes and works for one "
                          "hour. Check your spam folder if you don't see it."}


def shop_handlers(shop: Shop) -> dict[str, HandlerSpec]:
    """Every handler the shop's rules may name, reading `shop`."""
    return {spec.name: spec for spec in (
        STATIC,
        HUMAN,
        HandlerSpec("order_status", partial(order_status, shop), _ORDER_FIELDS,
                    frozenset({"order_id"}),
                    "One order of the requesting customer: status, product, dates, tracking "
                    "(each of several named, one line each).", each=frozenset({"order_id"})),
        HandlerSpec("latest_order_status", partial(latest_order_status, shop), _ORDER_FIELDS,
                    frozenset(),
                    "The requesting customer's most recent order, as order_status."),
        HandlerSpec("refund_status", partial(refund_status, shop),
                    frozenset({"order_id", "product", "status", "refunded", "refund_line"}),
                    frozenset({"order_id"}),
                    "Refunds issued on one order of the requesting customer (each of several "
                    "named, one line each).", each=frozenset({"order_id"})),
        HandlerSpec("refund_policy", partial(refund_policy, shop),
                    frozenset({"policy_list", "refund_delay"}),
                    frozenset(), "The refund window and restocking fee of every category."),
        HandlerSpec("account_balance", partial(account_balance, shop),
                    frozenset({"first_name", "store_credit", "account_status", "balance_line"}),
                    frozenset(), "The requesting customer's store credit and account status."),
        HandlerSpec("refund_request", partial(refund_request, shop), _REFUND_FIELDS,
                    frozenset({"order_id"}),
                    "Refunds what the policy allows on one order of the requesting "
                    "customer (acts, once per request); no refund allowed: to the LLM.",
                    acts=True),
        HandlerSpec("cancel_order", partial(cancel_order, shop), _CANCEL_FIELDS,
                    frozenset({"order_id"}),
                    "Cancels one order of the requesting customer that has not shipped "
                    "(acts, once per request); already shipped: to the LLM.", acts=True),
        HandlerSpec("password_reset_link", partial(password_reset_link, shop),
                    frozenset({"reset_line"}), frozenset(),
                    "Emails a password-reset link to the requesting customer's own address "
                    "(acts, once per request).", acts=True),
    )}
