"""The refund policy, as a pure function: the one place a refund amount is decided.

The LLM never decides an amount: the agent loop computes the quote from the
order, payment and policy results, and the validator rejects any refund above
it, whatever the model said.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True, slots=True)
class RefundQuote:
    order_id: int
    allowed_cents: int
    reason: str

    @property
    def allowed_dollars(self) -> float:
        return self.allowed_cents / 100

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"allowed_dollars": self.allowed_dollars}


def refund_quote(order: dict[str, Any], payments: list[dict[str, Any]],
                 policy: dict[str, Any], today: date) -> RefundQuote:
    """How much of `order` may still be refunded today, and why.

    `order` is get_order's result (with `refunded_cents`), `payments` is
    get_payments' list, `policy` is get_refund_policy's result.
    """
    oid = int(order["id"])
    paid = sum(p["amount_cents"] for p in payments if p["status"] in ("captured", "refunded"))
    remaining = max(0, paid - int(order.get("refunded_cents", 0)))
    status = order["status"]
    if remaining == 0:
        return RefundQuote(oid, 0, "nothing left to refund on this order")
    if status == "cancelled":
        return RefundQuote(oid, 0, "order was cancelled; its payment was released")
    if status == "returned":
        return RefundQuote(oid, 0, "order was returned and its refund already settled")
    if status in ("processing", "shipped"):
        return RefundQuote(oid, remaining, f"order is {status}: full refund of what was paid")
    window = int(policy["refund_window_days"])
    if window <= 0:
        return RefundQuote(oid, 0, f"{policy['category']} items are not refundable")
    delivered = order.get("delivered_at")
    if not delivered:
        return RefundQuote(oid, remaining, "not delivered yet: full refund")
    days = (today - date.fromisoformat(delivered[:10])).days
    if days > window:
        return RefundQuote(oid, 0, f"delivered {days} days ago; the {policy['category']} "
                                   f"refund window is {window} days")
    fee = round(remaining * float(policy.get("restocking_fee_pct", 0)) / 100)
    why = f"within the {window}-day window"
    if fee:
        why += f", less a {policy['restocking_fee_pct']:g}% restocking fee"
    return RefundQuote(oid, remaining - fee, why)
