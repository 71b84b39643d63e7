"""The refund policy, as pure functions: the one place a refund amount is decided.

The LLM never decides an amount: the agent loop computes the quote from the
order, payment and policy results for the model to see, and the shop's refund
write computes it again inside its own transaction and refuses anything above
it (or, for an operator's explicit override, above what is left of what was
paid), whatever the model or the console said.
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


def paid_cents(payments: list[dict[str, Any]]) -> int:
    """What the shop holds of the customer's money: captured payments only. A payment
    marked refunded went back already (a released hold, a settled return), a failed
    one never arrived, and a disputed one is the bank's to settle: refunding it too
    would pay the customer twice."""
    return sum(int(p["amount_cents"]) for p in payments if p["status"] == "captured")


@dataclass(frozen=True, slots=True)
class RefundLimits:
    """Everything that bounds a refund on one order, as of one read: what was paid,
    what was refunded already, and what the policy allows now. An operator sees
    these side by side before approving; the refund write checks them again."""

    paid_cents: int
    refunded_cents: int
    quote: RefundQuote

    @property
    def left_cents(self) -> int:
        """The most any refund may be, an operator's override included."""
        return max(0, self.paid_cents - self.refunded_cents)

    def as_dict(self) -> dict[str, Any]:
        return {"order_id": self.quote.order_id, "paid_cents": self.paid_cents,
                "refunded_cents": self.refunded_cents, "left_cents": self.left_cents,
                "allowed_cents": self.quote.allowed_cents, "reason": self.quote.reason}


def refund_limits(order: dict[str, Any], payments: list[dict[str, Any]],
                  policy: dict[str, Any], today: date) -> RefundLimits:
    return RefundLimits(paid_cents(payments), int(order.get("refunded_cents", 0)),
                        refund_quote(order, payments, policy, today))


def refund_quote(order: dict[str, Any], payments: list[dict[str, Any]],
                 policy: dict[str, Any], today: date) -> RefundQuote:
    """How much of `order` may still be refunded today, and why.

    `order` is get_order's result (with `refunded_cents`), `payments` is
    get_payments' list, `policy` is get_refund_policy's result.
    """
    oid = int(order["id"])
    remaining = max(0, paid_cents(payments) - int(order.get("refunded_cents", 0)))
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
    # The fee is on the order, once: charged on what is left instead, a refund asked for
    # again and again would hand back the fee a slice at a time; charged on every capture,
    # a customer charged twice would pay it twice.
    priced = min(paid_cents(payments), int(order.get("total_cents") or paid_cents(payments)))
    fee = round(priced * float(policy.get("restocking_fee_pct", 0)) / 100)
    why = f"within the {window}-day window"
    if fee:
        why += f", less a {policy['restocking_fee_pct']:g}% restocking fee"
    allowed = max(0, remaining - fee)
    if fee and not allowed:
        why += "; only the fee is left of what was paid"
    return RefundQuote(oid, allowed, why)
