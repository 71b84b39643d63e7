"""A request typed by hand goes through the engine, shows in the feed, and its
detail shows the answer and the trace, parallel tool calls side by side."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt

from console.feed import Column


def delivered_order(engine) -> tuple[int, int]:
    return engine.domain.shop.conn.execute(
        "SELECT id, customer_id FROM orders WHERE status = 'delivered' ORDER BY id LIMIT 1"
    ).fetchone()


def cell(window, row: int, column: Column) -> str:
    proxy = window.feed.proxy
    return proxy.index(row, column).data()


def click_row(qtbot, window, row: int) -> None:
    view = window.feed.view
    rect = view.visualRect(window.feed.proxy.index(row, Column.TEXT))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_a_composed_request_appears_in_the_feed_with_its_route_and_trace(console, qtbot):
    window = console.window
    order, customer = delivered_order(console.engine)
    window.show()
    window.compose.customer.setValue(customer)
    qtbot.keyClicks(window.compose.text, f"Where is my order #{order}?")
    qtbot.keyClick(window.compose.text, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)

    qtbot.waitUntil(lambda: window.feed.proxy.rowCount() == 1)
    qtbot.wait(100)
    assert window.feed.proxy.rowCount() == 1  # sent once, not by the key and the menu both
    assert cell(window, 0, Column.ROUTE) == "rule"
    assert cell(window, 0, Column.STATUS) == "answered"
    assert cell(window, 0, Column.CUSTOMER) == str(customer)
    assert window.compose.text.toPlainText() == ""  # ready for the next one

    click_row(qtbot, window, 0)
    detail = window.detail
    outcome = detail.outcome
    assert outcome is not None and str(order) in outcome.answer
    assert "rule" in detail.values["route"].text()
    assert "delivered" in detail.answer.toPlainText().lower()
    bars = detail.waterfall.bars()
    assert [b.span.name for b in bars] == ["guard", "accept", "cache", "route", "template"]
    assert len(bars) == len(outcome.spans)


def test_parallel_tool_calls_are_side_by_side_in_the_waterfall(make_console, settings, qtbot):
    settings.shop_latency_ms = 30  # each tool call takes a visible while
    console = make_console(settings)
    window = console.window
    window.show()
    order, customer = delivered_order(console.engine)
    window.compose.customer.setValue(customer)
    qtbot.keyClicks(window.compose.text, f"I want a refund for order {order}")
    qtbot.mouseClick(window.compose.send_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: window.feed.proxy.rowCount() == 1)
    assert cell(window, 0, Column.ROUTE) == "llm"
    # A composed request is selected when its outcome arrives: the operator sent it to watch it.
    qtbot.waitUntil(lambda: window.detail.outcome is not None)
    detail = window.detail
    assert detail.values["tokens"].text().endswith("completion")
    assert detail.values["cost"].text().startswith("$0.0")

    drawn = detail.waterfall.bars()
    assert len(drawn) == len(detail.outcome.spans)
    bars: dict = {}
    for bar in drawn:  # the first of each name: the lookups are made again after the refund
        bars.setdefault(bar.span.name, bar.rect)
    names = ("tool:get_order", "tool:get_payments", "tool:get_refund_policy")
    lookups = [bars[n] for n in names]
    # Side by side: the three lookups overlap in time, each on its own row ...
    assert max(r.left() for r in lookups) < min(r.right() for r in lookups)
    assert len({r.top() for r in lookups}) == 3
    # ... and the refund, which needs their results, starts after they end; what it
    # changed is looked up again after it.
    refund = bars["tool:issue_refund"]
    assert refund.left() >= max(r.right() for r in lookups) - 1
    again = [b.rect for b in drawn if b.span.name in names and b.rect.left() >= refund.right() - 1]
    assert len(again) == 3

    tip = detail.waterfall.describe(detail.outcome.spans[0])
    assert "takes" in tip
    row = detail.waterfall.span_at(bars["tool:get_order"].center())
    assert row is not None and row.name == "tool:get_order"
    assert detail.waterfall.span_at(QPoint(5, 2).toPointF()) is None  # the axis


def test_an_empty_request_is_not_sent(console, qtbot):
    window = console.window
    assert not window.compose.send_button.isEnabled()
    assert window.compose.send() is None
    qtbot.wait(50)
    assert window.feed_model.rowCount() == 0
