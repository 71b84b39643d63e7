"""The refund quote: the only place a refund amount is decided."""

from __future__ import annotations

from datetime import date

from agentcore.demo_shop.policy import refund_quote

TODAY = date(2026, 11, 1)
ELECTRONICS = {"category": "electronics", "refund_window_days": 30, "restocking_fee_pct": 10}
PAID = [{"amount_cents": 10_000, "status": "captured"}, {"amount_cents": 10_000,
                                                         "status": "failed"}]


def order(status: str, delivered: str | None = "2026-10-20", refunded: int = 0) -> dict:
    return {"id": 12345, "status": status, "delivered_at": delivered,
            "refunded_cents": refunded}


def test_inside_the_window_the_fee_is_kept_and_failed_payments_ignored():
    quote = refund_quote(order("delivered"), PAID, ELECTRONICS, TODAY)
    assert quote.allowed_cents == 9_000 and "restocking fee" in quote.reason


def test_outside_the_window_nothing_is_refundable():
    quote = refund_quote(order("delivered", "2026-09-01"), PAID, ELECTRONICS, TODAY)
    assert quote.allowed_cents == 0 and "61 days ago" in quote.reason


def test_earlier_refunds_are_subtracted_and_the_fee_is_kept_once():
    quote = refund_quote(order("delivered", refunded=4_000), PAID, ELECTRONICS, TODAY)
    assert quote.allowed_cents == 5_000  # $100 paid, less the $10 fee, less $40 refunded


def test_asking_again_and_again_never_refunds_the_fee():
    """The fee was once taken of what was left: each new request refunded 90 % of the
    rest, and in the end nearly all of what was paid."""
    refunded = 0
    for _ in range(10):
        allowed = refund_quote(order("delivered", refunded=refunded), PAID, ELECTRONICS,
                               TODAY).allowed_cents
        refunded += allowed
    assert refunded == 9_000
    last = refund_quote(order("delivered", refunded=refunded), PAID, ELECTRONICS, TODAY)
    assert last.allowed_cents == 0 and "only the fee is left" in last.reason


def test_unshipped_orders_refund_in_full_and_settled_ones_not_at_all():
    assert refund_quote(order("processing", None), PAID, ELECTRONICS, TODAY).allowed_cents == (
        10_000)
    assert refund_quote(order("cancelled", None), PAID, ELECTRONICS, TODAY).allowed_cents == 0
    assert refund_quote(order("returned"), PAID, ELECTRONICS, TODAY).allowed_cents == 0


def test_non_refundable_categories():
    groceries = {"category": "groceries", "refund_window_days": 0, "restocking_fee_pct": 0}
    assert refund_quote(order("delivered"), PAID, groceries, TODAY).allowed_cents == 0
