"""Review of issue 13's ClaimSession under the context panel: the confirmation of an
approval is a modal dialog; the queue's selection can move while it is open (an item
resolved at another station drops out of the list, a shortcut, the Ctrl+J jump)."""

from __future__ import annotations

import sqlite3

from agentcore import PendingStatus
from tests.console.desk import (
    claimed_refund,
    key,
    shown_rows,
    submit,
)
from tests.console.dialogs import answer, asked, press


def test_the_approval_confirmed_goes_to_the_item_it_asked_about(desk, tight, run_async,
                                                               qtbot):
    """Before: the confirmed approval of #1's refund (order A, $49.99) ran on #2, the
    item shown when Approve was pressed, with #1's arguments: refused here only
    because order A is not #2's customer's; for one customer's two requests it
    refunds order A on #2's request, and #1's own approval refunds it again."""
    window, panel = desk.window, desk.window.escalation
    claimed_refund(desk, tight, run_async, qtbot)
    first = panel.item.id
    shop = desk.engine.domain.shop
    with sqlite3.connect(tight.shop_path) as conn:
        rows = conn.execute("SELECT id, customer_id FROM orders WHERE status = 'delivered'"
                            " ORDER BY id").fetchall()
    first_order = panel.item.pending_action.arguments["order_id"]
    other, customer = next(
        (oid, cid) for oid, cid in rows if oid != first_order
        and (lim := shop.refund_limits(oid)) is not None
        and 0 < lim.quote.allowed_cents == lim.left_cents < 10_000)
    submit(run_async, desk, f"I want a refund for order {other}, it arrived damaged", customer)
    qtbot.waitUntil(lambda: shown_rows(window) == 2)
    second = run_async(desk.engine.escalations.newest_id())
    assert second != first
    panel.show_item(second)  # claim the second too: the operator holds both
    qtbot.waitUntil(lambda: panel.item is not None and panel.item.id == second)
    key(qtbot, window, "Ctrl+Shift+C")
    panel.show_item(first)
    qtbot.waitUntil(lambda: panel.item is not None and panel.item.id == first)

    before = panel.running
    press(qtbot, window, "Ctrl+Shift+A")  # asks about the first item's refund
    asked(qtbot)
    panel.show_item(second)  # the selection moves while the box is open
    qtbot.waitUntil(lambda: panel.item is not None and panel.item.id == second)
    answer(qtbot, "Approve")
    qtbot.waitUntil(lambda: panel.running is not before and panel.running.done(),
                    timeout=15_000)
    queue = desk.engine.escalations
    a, b = run_async(queue.get(first)), run_async(queue.get(second))
    assert b.pending_status is PendingStatus.WAITING, (b.pending_status, b.pending_result)
    # Nothing approved at all: the operator is told, and asks again on the item shown.
    assert a.pending_status is PendingStatus.WAITING, (a.pending_status, a.pending_result)
    assert "Nothing was done" in panel.message.text()
