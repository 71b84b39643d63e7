"""The live feed: newest first, bounded, and narrowed by its filters and search."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QApplication

from agentcore import Outcome, Request, Route, Status
from console.feed import OUTCOME_ROLE, Column, FeedModel
from console.feed_panel import FeedPanel
from console.workspaces import Workspace


def visible(feed, column: Column) -> list[str]:
    return [feed.proxy.index(r, column).data() for r in range(feed.proxy.rowCount())]


def fill_feed(window, engine, rows, run_async) -> list[Outcome]:
    async def submit_all() -> list[Outcome]:
        return [await engine.submit(Request(r["text"], r.get("customer_id"))) for r in rows]

    outcomes = run_async(submit_all())
    window.feed_model.flush()
    return outcomes


def test_filters_and_search_narrow_the_rows(console, corpus, qtbot, run_async):
    window, feed = console.window, console.window.feed
    rows = corpus[:120]
    outcomes = fill_feed(window, console.engine, rows, run_async)
    assert feed.proxy.rowCount() == len(outcomes) == 120
    routes = {str(o.route) for o in outcomes}
    assert {"rule", "llm", "guard"} <= routes  # the corpus mixes them

    feed.route.setCurrentIndex(feed.route.findData("llm"))
    llm_rows = visible(feed, Column.ROUTE)
    assert llm_rows and set(llm_rows) == {"llm"}
    assert len(llm_rows) == sum(1 for o in outcomes if o.route is Route.LLM)
    assert feed.count.text() == f"{len(llm_rows)} of 120"

    feed.status.setCurrentIndex(feed.status.findData("escalated"))
    both = [o for o in outcomes if o.route is Route.LLM and o.status is Status.ESCALATED]
    assert feed.proxy.rowCount() == len(both)

    # The intent list fills with what the traffic brought, and filters like the others.
    window.act_clear_filters.trigger()
    assert feed.proxy.rowCount() == 120 and feed.count.text() == "120"
    intents = [feed.intent.itemData(i) for i in range(1, feed.intent.count())]
    assert intents == sorted({o.intent for o in outcomes if o.intent})
    feed.intent.setCurrentIndex(feed.intent.findData("order_status"))
    assert set(visible(feed, Column.INTENT)) == {"order_status"}

    # Search is case-insensitive over text, answer, customer and request id.
    window.act_clear_filters.trigger()
    window.act_find.trigger()
    qtbot.keyClicks(feed.search, "PASSWORD")
    texts = visible(feed, Column.TEXT)
    expected = [o for o in outcomes
                if "password" in (o.request.text + o.answer).casefold()]
    assert 0 < len(texts) == len(expected) < 120

    feed.search.clear()
    customer = outcomes[0].request.customer_id
    qtbot.keyClicks(feed.search, outcomes[0].request.id[:10])
    assert feed.proxy.rowCount() == 1
    assert visible(feed, Column.CUSTOMER) == [str(customer) if customer else "—"]

    qtbot.mouseClick(feed.clear_button, Qt.MouseButton.LeftButton)
    assert feed.search.text() == "" and feed.proxy.rowCount() == 120


def test_newest_first_and_new_rows_respect_the_filter(console, corpus, run_async):
    window, feed = console.window, console.window.feed
    fill_feed(window, console.engine, corpus[:5], run_async)
    feed.route.setCurrentIndex(feed.route.findData("rule"))
    before = feed.proxy.rowCount()
    rule_text = {"text": "what payment methods do you accept?"}
    outcome = fill_feed(window, console.engine, [rule_text], run_async)[0]
    assert outcome.route is Route.RULE
    assert feed.proxy.rowCount() == before + 1
    assert feed.proxy.index(0, 0).data(Qt.ItemDataRole.UserRole) is outcome  # on top
    fill_feed(window, console.engine, [{"text": "\x00\x01"}], run_async)  # guard: filtered out
    assert feed.proxy.rowCount() == before + 1


def test_the_feed_is_bounded_and_keeps_the_newest(qtbot):
    model = FeedModel(max_rows=50)
    outcomes = [Outcome(Request(f"request {i}", i, received_at=1e9 + i), Route.RULE,
                        Status.ANSWERED) for i in range(180)]
    for chunk in range(0, 180, 40):  # bursts, as traffic brings them
        for outcome in outcomes[chunk:chunk + 40]:
            model.add(outcome)
        qtbot.waitUntil(lambda: not model._pending)  # flushed on the next loop turn
    assert model.rowCount() == 50
    assert model.outcome(0) is outcomes[-1] and model.outcome(49) is outcomes[130]
    assert model.index(0, Column.TEXT).data() == "request 179"


def test_selection_stays_on_its_request_while_rows_arrive(console, corpus, qtbot, run_async):
    window, feed = console.window, console.window.feed
    fill_feed(window, console.engine, corpus[:3], run_async)
    feed.select_row(1)
    chosen = window.detail.outcome
    assert chosen is feed.proxy.index(1, 0).data(Qt.ItemDataRole.UserRole)
    fill_feed(window, console.engine, corpus[3:10], run_async)
    current = feed.view.currentIndex()
    assert current.data(Qt.ItemDataRole.UserRole) is chosen
    assert window.detail.outcome is chosen


def outcome_for(i: int, route: Route = Route.RULE, latency_ms: float = 1.0) -> Outcome:
    return Outcome(Request(f"request {i}", i, received_at=1e9 + i), route, Status.ANSWERED,
                   latency_ms=latency_ms)


def panel_with(qtbot, outcomes: list[Outcome]) -> FeedPanel:
    panel = FeedPanel(FeedModel())
    qtbot.addWidget(panel)
    feed_in(panel, outcomes)
    return panel


def feed_in(panel: FeedPanel, outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        panel.model.add(outcome)
    panel.model.flush()


def test_clearing_a_filter_brings_the_hidden_rows_back_newest_first(qtbot):
    panel = panel_with(qtbot, [outcome_for(i, Route.RULE if i % 2 else Route.LLM)
                               for i in range(6)])
    panel.route.setCurrentIndex(panel.route.findData("rule"))
    assert visible(panel, Column.TEXT) == ["request 5", "request 3", "request 1"]
    feed_in(panel, [outcome_for(i, Route.RULE if i % 2 else Route.LLM) for i in range(6, 10)])
    panel.clear_filters()
    assert visible(panel, Column.TEXT) == [f"request {i}" for i in reversed(range(10))]


def test_a_column_sort_survives_filter_changes(qtbot):
    latencies = [5, 1, 9, 3, 7, 2, 8]
    panel = panel_with(qtbot, [outcome_for(i, Route.RULE if i % 2 else Route.LLM, ms)
                               for i, ms in enumerate(latencies)])
    panel.view.sortByColumn(Column.LATENCY, Qt.SortOrder.DescendingOrder)
    panel.route.setCurrentIndex(panel.route.findData("llm"))
    feed_in(panel, [outcome_for(7, Route.RULE, 6), outcome_for(8, Route.LLM, 4)])
    panel.clear_filters()
    shown = [panel.proxy.index(r, 0).data(OUTCOME_ROLE).latency_ms
             for r in range(panel.proxy.rowCount())]
    assert shown == sorted([*latencies, 6, 4], reverse=True)


def top_text(panel: FeedPanel) -> str:
    """The request in the table's top visible row, as the operator sees it."""
    return panel.view.indexAt(panel.view.viewport().rect().topLeft()).siblingAtColumn(
        Column.TEXT).data()


def selected_text(panel: FeedPanel) -> str | None:
    current = panel.view.currentIndex()
    return current.siblingAtColumn(Column.TEXT).data() if current.isValid() else None


def test_a_selected_row_stays_put_and_new_rows_wait_behind_the_pill(console, qtbot):
    window, feed = console.window, console.window.feed
    window.show()
    feed_in(feed, [outcome_for(i) for i in range(5)])
    feed.select_row(2)
    assert window.detail.outcome.request.text == "request 2"

    feed_in(feed, [outcome_for(i) for i in range(5, 55)])
    # Nothing moved: the click the operator was about to make still lands on request 2.
    assert visible(feed, Column.TEXT) == [f"request {i}" for i in (4, 3, 2, 1, 0)]
    assert feed.proxy.index(2, Column.TEXT).data() == selected_text(feed) == "request 2"
    assert window.detail.outcome.request.text == "request 2"
    assert feed.new_pill.isVisible() and feed.new_pill.text() == "50 new ↑"

    qtbot.mouseClick(feed.new_pill, Qt.MouseButton.LeftButton)
    assert feed.proxy.rowCount() == 55 and top_text(feed) == "request 54"
    assert not feed.new_pill.isVisible()
    assert selected_text(feed) == "request 2"  # still the operator's request
    assert window.detail.outcome.request.text == "request 2"

    feed_in(feed, [outcome_for(55)])  # still selected: the next ones wait again
    assert feed.new_pill.text() == "1 new ↑" and feed.proxy.rowCount() == 55
    qtbot.keyClick(feed.view, Qt.Key.Key_Escape)  # nothing selected, at the top: they go in
    assert top_text(feed) == "request 55" and not feed.new_pill.isVisible()


def test_scrolled_down_the_rows_stay_until_back_at_the_top(qtbot):
    panel = panel_with(qtbot, [outcome_for(i) for i in range(300)])
    panel.resize(700, 400)
    panel.show()
    qtbot.waitExposed(panel)
    bar = panel.view.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    qtbot.waitUntil(lambda: panel.model.hold.scrolled)
    reading = top_text(panel)

    feed_in(panel, [outcome_for(i) for i in range(300, 312)])
    assert top_text(panel) == reading
    assert panel.new_pill.text() == "12 new ↑" and panel.new_pill.isVisible()

    bar.setValue(0)  # scrolled back to the top with nothing selected: they go in
    qtbot.waitUntil(lambda: not panel.new_pill.isVisible())
    assert top_text(panel) == "request 311"


def test_rows_wait_while_the_pointer_is_over_the_table(qtbot):
    panel = panel_with(qtbot, [outcome_for(i) for i in range(3)])
    panel.show()
    QApplication.sendEvent(panel.view, QEvent(QEvent.Type.Enter))
    feed_in(panel, [outcome_for(3)])
    assert top_text(panel) == "request 2" and panel.new_pill.text() == "1 new ↑"
    QApplication.sendEvent(panel.view, QEvent(QEvent.Type.Leave))
    assert top_text(panel) == "request 3" and not panel.new_pill.isVisible()


def test_held_rows_keep_the_feed_bounded(qtbot):
    panel = FeedPanel(FeedModel(max_rows=50))
    qtbot.addWidget(panel)
    feed_in(panel, [outcome_for(i) for i in range(10)])
    panel.select_row(0)
    for start in range(10, 190, 30):
        feed_in(panel, [outcome_for(i) for i in range(start, start + 30)])
    model = panel.model
    assert model.rowCount() == 10 and len(model.hold.held) == 50  # never more than 50 wait
    assert panel.new_pill.text() == "180 new ↑"
    panel.show_new()
    assert model.rowCount() == 50
    assert model.outcome(0).request.text == "request 189"
    assert model.outcome(49).request.text == "request 140"


def test_a_filter_change_keeps_the_chosen_request(console, qtbot):
    window, feed, detail = console.window, console.window.feed, console.window.detail
    window.show()
    feed_in(feed, [outcome_for(i, Route.RULE if i % 2 else Route.LLM) for i in range(8)])
    feed.select_row(3)  # request 4, an llm one
    chosen = window.detail.outcome
    assert chosen.request.text == "request 4"

    feed.route.setCurrentIndex(feed.route.findData("llm"))  # still matches: still selected
    assert selected_text(feed) == "request 4" and detail.outcome is chosen
    assert not detail.hidden_note.isVisible()

    feed.route.setCurrentIndex(feed.route.findData("rule"))  # hides it
    assert selected_text(feed) is None  # no other row silently takes its place
    assert detail.outcome is chosen
    assert detail.hidden_note.isVisible()

    qtbot.mouseClick(detail.clear_filters_button, Qt.MouseButton.LeftButton)
    assert feed.route.currentIndex() == 0 and feed.proxy.rowCount() == 8
    assert selected_text(feed) == "request 4" and detail.outcome is chosen
    assert not detail.hidden_note.isVisible()


def test_a_request_resolved_while_its_row_waits_shows_resolved_when_it_goes_in(qtbot):
    panel = panel_with(qtbot, [outcome_for(0)])
    panel.select_row(0)
    waiting = Outcome(Request("refund please", 9, received_at=1e9 + 1), Route.HUMAN,
                      Status.ESCALATED)
    feed_in(panel, [waiting])
    assert panel.model.settle(waiting.request.id,
                              lambda shown: Outcome(shown.request, Route.HUMAN, Status.ANSWERED))
    panel.show_new()
    assert visible(panel, Column.STATUS) == ["answered", "answered"]
    assert visible(panel, Column.TEXT)[0] == "refund please"


def test_a_narrow_feed_drops_its_least_read_columns_before_the_text(qtbot):
    from console.feed import Column, FeedModel
    from console.feed_panel import MIN_TEXT_WIDTH, FeedPanel

    panel = FeedPanel(FeedModel())
    qtbot.addWidget(panel)
    panel.resize(1000, 400)
    panel.show()
    qtbot.waitExposed(panel)
    assert not any(panel.view.isColumnHidden(c) for c in Column)
    panel.resize(560, 400)  # the watch workspace's feed in a 1024 px window
    qtbot.waitUntil(lambda: panel.view.isColumnHidden(Column.COST))
    assert panel.view.columnWidth(Column.TEXT) >= MIN_TEXT_WIDTH - 10
    assert not panel.view.isColumnHidden(Column.STATUS)  # what an operator scans for
    panel.resize(1000, 400)
    qtbot.waitUntil(lambda: not panel.view.isColumnHidden(Column.COST))


def test_the_pills_key_lets_the_waiting_rows_in_from_any_workspace(console, qtbot):
    window, feed = console.window, console.window.feed
    window.show()
    feed_in(feed, [outcome_for(i) for i in range(3)])
    feed.select_row(1)
    feed_in(feed, [outcome_for(i) for i in range(3, 10)])
    assert feed.new_pill.text() == "7 new ↑"
    assert "Ctrl+Shift+Up" in feed.new_pill.toolTip()
    window.show_workspace(Workspace.ESCALATIONS)
    window.activateWindow()

    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    qtbot.keyClick(window.escalations.view, Qt.Key.Key_Up,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.workspaces.current is Workspace.WATCH
    assert feed.proxy.rowCount() == 10 and not feed.new_pill.isVisible()
    assert top_text(feed) == "request 9" and selected_text(feed) == "request 1"
    assert ("Show new requests", "Ctrl+Shift+Up") in [
        row for _, rows in window.shortcut_sections() for row in rows]
