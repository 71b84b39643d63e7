"""A request typed by hand goes through the engine, opens in the detail at once and
is followed live, shows in the feed (selected, or a one-click way past a filter
that hides it); the detail shows the answer and the trace, parallel tool calls side
by side, each as tall as its content."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt

from agentcore import Outcome, Request, Route, Span, Status
from console.detail import DetailPanel
from console.detail_model import RequestDetail
from console.feed import Column
from console.waterfall import AXIS_H, PAD, ROW_H
from console.workspaces import Workspace


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
    qtbot.keyClicks(window.compose.text, f"I want a refund for order {order}, it arrived damaged")
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


def send(qtbot, window, customer: int, text: str) -> None:
    window.compose.customer.setValue(customer)
    qtbot.keyClicks(window.compose.text, text)
    qtbot.mouseClick(window.compose.send_button, Qt.MouseButton.LeftButton)


def selected_outcome(window):
    current = window.feed.view.currentIndex()
    return current.data(Qt.ItemDataRole.UserRole) if current.isValid() else None


def test_a_sent_request_opens_at_once_and_is_followed_live(make_console, settings, qtbot):
    settings.shop_latency_ms = 30  # the tool calls take a while: there is a "meanwhile"
    console = make_console(settings)
    window, detail = console.window, console.window.detail
    window.show()
    window.show_workspace(Workspace.ESCALATIONS)  # the detail is behind another workspace
    seen: list[tuple[int, bool, str]] = []
    detail.model.subscribe(lambda: seen.append(
        (len(detail.model.spans), detail.outcome is None, detail.trace_caption.text())))
    order, customer = delivered_order(console.engine)
    send(qtbot, window, customer, f"I want a refund for order {order}, it arrived damaged")

    # Open at once, before any answer: the operator sees it is on its way.
    assert detail.isVisible() and detail.model.request is not None
    assert detail.model.request.text == f"I want a refund for order {order}, it arrived damaged"
    assert detail.progress.isVisible() and "sent" in detail.progress.text()
    assert "working" in detail.values["status"].text()
    qtbot.waitUntil(lambda: detail.outcome is not None, timeout=15_000)
    # Its stages showed as they finished, before the outcome.
    assert any(spans > 0 and running and caption.endswith("so far")
               for spans, running, caption in seen)
    assert any(spans > 3 and running for spans, running, _caption in seen)
    assert not detail.progress.isVisible()
    assert detail.values["route"].text().count("llm") == 1
    assert len(detail.waterfall.bars()) == len(detail.outcome.spans)
    qtbot.waitUntil(lambda: selected_outcome(window) is detail.outcome)  # and in the feed


def test_a_sent_request_a_filter_hides_is_shown_and_one_click_shows_it(console, qtbot):
    window, feed, detail = console.window, console.window.feed, console.window.detail
    window.show()
    feed.route.setCurrentIndex(feed.route.findData("llm"))
    order, customer = delivered_order(console.engine)
    send(qtbot, window, customer, f"Where is my order #{order}?")  # a rule answers it

    qtbot.waitUntil(lambda: detail.outcome is not None and detail.hidden_note.isVisible())
    assert str(order) in detail.answer.toPlainText()
    assert feed.proxy.rowCount() == 0 and selected_outcome(window) is None
    qtbot.mouseClick(detail.clear_filters_button, Qt.MouseButton.LeftButton)
    assert selected_outcome(window) is detail.outcome
    assert not detail.hidden_note.isVisible()


def test_a_sent_request_is_selected_though_new_rows_were_waiting(console, qtbot, run_async):
    window, feed = console.window, console.window.feed
    window.show()

    async def some(n: int) -> None:
        for i in range(n):
            await console.engine.submit(Request(f"hello {i}", i + 1))

    run_async(some(3))
    window.feed_model.flush()
    feed.select_row(1)  # the operator reads one: new rows wait
    run_async(some(4))
    window.feed_model.flush()
    assert feed.new_pill.isVisible()
    order, customer = delivered_order(console.engine)
    send(qtbot, window, customer, f"Where is my order #{order}?")

    qtbot.waitUntil(lambda: selected_outcome(window) is not None
                    and selected_outcome(window) is window.detail.outcome)
    assert str(order) in window.detail.answer.toPlainText()
    assert feed.proxy.rowCount() == 8 and not feed.new_pill.isVisible()
    assert feed.view.currentIndex().row() == 0  # the newest, at the top, in view


def test_picking_another_row_while_a_sent_request_runs_is_not_undone(make_console, settings,
                                                                      qtbot, run_async):
    settings.shop_latency_ms = 30
    console = make_console(settings)
    window, feed = console.window, console.window.feed
    window.show()
    run_async(console.engine.submit(Request("hello there", 5)))
    window.feed_model.flush()
    order, customer = delivered_order(console.engine)
    send(qtbot, window, customer, f"I want a refund for order {order}, it arrived damaged")
    feed.select_row(0)  # the operator looks at something else meanwhile
    picked = window.detail.outcome
    assert picked is not None and picked.request.text == "hello there"
    qtbot.waitUntil(lambda: window.compose.in_flight == 0, timeout=15_000)
    qtbot.wait(50)
    assert window.detail.outcome is picked and selected_outcome(window) is picked


def test_the_detail_gives_the_answer_and_the_trace_the_room_they_need(qtbot):
    model = RequestDetail()
    panel = DetailPanel(model)
    qtbot.addWidget(panel)
    panel.resize(450, 650)  # the watch workspace's narrow side
    panel.show()
    qtbot.waitExposed(panel)
    spans = [Span(name, 1.0 + i / 1000, 1.0 + (i + 1) / 1000)
             for i, name in enumerate(["guard", "accept", "cache", "route", "template"])]
    short = "Your order shipped on Monday.\nTracking: 1Z999.\nIt arrives Thursday."
    model.show(Outcome(Request("where is my order?", 4), Route.RULE, Status.ANSWERED,
                       answer=short, spans=spans))
    qtbot.waitUntil(lambda: panel.answer.verticalScrollBar().maximum() == 0)
    line = panel.answer.fontMetrics().lineSpacing()
    assert 3 * line <= panel.answer.height() < 7 * line  # the three lines, no more room
    assert panel.waterfall.height() == AXIS_H + 5 * ROW_H + PAD  # no empty trace below
    column = panel.scroller.widget()
    assert column.width() <= panel.scroller.viewport().width()  # never scrolls sideways

    long = "\n".join(f"line {i} of a long answer" for i in range(200))
    model.show(Outcome(Request("tell me everything", 4), Route.LLM, Status.ANSWERED,
                       answer=long, spans=spans))
    qtbot.waitUntil(lambda: panel.answer.height() == panel.answer.max_height)
    assert panel.answer.max_height < panel.height()  # a limit, then it scrolls in its box
    assert panel.answer.verticalScrollBar().maximum() > 0

    # Wide enough, the facts sit in two columns; narrow, in one.
    def column_of(name: str) -> int:
        return panel.grid.getItemPosition(panel.grid.indexOf(panel.values[name]))[1]

    assert column_of("latency") == 3
    panel.resize(380, 650)
    qtbot.waitUntil(lambda: column_of("latency") == 1)
