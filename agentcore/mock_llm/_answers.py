"""Wording of the mock model's answers: specific, built from the tool results.

A demo shows whether the agent used its tools, so answers quote what the tools
returned (status, dates, amounts as $12.34, carrier and tracking number)
instead of saying something vague.
"""

from __future__ import annotations

from typing import Any


def money(cents: Any) -> str:
    try:
        return f"${int(cents) / 100:,.2f}"
    except (TypeError, ValueError):
        return "an amount I can't read"


def dollars(amount: float) -> str:
    return f"${amount:,.2f}"


def day(iso: Any) -> str:
    """The date part of an ISO timestamp ("2024-05-01T10:00:00" -> "2024-05-01")."""
    return str(iso)[:10] if iso else "an unknown date"


def mask_email(email: Any) -> str:
    """j***@example.com: enough for the customer to recognise, no more."""
    text = str(email or "")
    if "@" not in text:
        return "the email address on your account"
    local, domain = text.split("@", 1)
    return f"{local[:1]}***@{domain}"


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]  # str.capitalize() would lower "Trail Shoes"


def greeting(customer: dict[str, Any]) -> str:
    name = str(customer.get("name") or "").split()
    return f"Hi {name[0]}! " if name else ""


def order_label(order: dict[str, Any], order_id: int | None = None) -> str:
    oid = order.get("id", order_id)
    product = order.get("product")
    return f"order {oid} ({product})" if product else f"order {oid}"


def describe_order(order: dict[str, Any], order_id: int | None = None) -> str:
    """One or two sentences on where an order is, as a customer wants to hear it."""
    label = upper_first(order_label(order, order_id))
    status = order.get("status")
    carrier, tracking = order.get("carrier"), order.get("tracking_number")
    shipment = (f" with {carrier}, tracking number {tracking}" if carrier and tracking
                else f" with {carrier}" if carrier else "")
    if status == "processing":
        return (f"{label} was placed on {day(order.get('placed_at'))} and is being prepared; "
                "it hasn't shipped yet. You'll get an email with the tracking number as "
                "soon as it leaves our warehouse.")
    if status == "shipped":
        return (f"{label} shipped on {day(order.get('shipped_at'))}{shipment}. "
                "It's on its way to you.")
    if status == "delivered":
        return f"{label} was delivered on {day(order.get('delivered_at'))}{shipment}."
    if status == "cancelled":
        return f"{label} was cancelled; you haven't been charged for it."
    if status == "returned":
        refunded = int(order.get("refunded_cents") or 0)
        tail = f" and {money(refunded)} has been refunded" if refunded else ""
        return f"{label} was returned{tail}."
    return f"{label} is currently {status or 'in an unknown state'}."


def payment_line(payment: dict[str, Any]) -> str:
    method = str(payment.get("method") or "payment").replace("_", " ")
    return f"{money(payment.get('amount_cents'))} by {method} on {day(payment.get('created_at'))}"


def join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def with_note(answer: str, note: str | None) -> str:
    """An operator's note shapes the reply; the mock shows that by saying so, visibly."""
    if not note:
        return answer
    return f"{answer} (Taking into account our team's note: {note.strip().rstrip('.')}.)"
