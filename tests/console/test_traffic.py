"""The traffic generator: start, a moving progress bar, pause that stops submissions."""

from __future__ import annotations

from PySide6.QtCore import Qt


def test_traffic_starts_moves_the_progress_bar_and_pause_stops_it(console, qtbot):
    window = console.window
    panel = window.traffic_panel
    window.show()
    assert panel.progress_bar.maximum() == len(window.traffic.rows)
    assert panel.progress_bar.value() == 0
    panel.rate.setValue(100)

    qtbot.mouseClick(panel.toggle_button, Qt.MouseButton.LeftButton)
    assert window.traffic.running
    assert panel.toggle_button.text() == "Pause"
    assert window.act_traffic.isChecked()  # the menu and toolbar agree
    qtbot.waitUntil(lambda: panel.progress_bar.value() >= 10, timeout=10_000)
    qtbot.waitUntil(lambda: window.feed_model.rowCount() >= 5, timeout=10_000)

    qtbot.mouseClick(panel.toggle_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.traffic.running)
    assert panel.toggle_button.text() == "Start"
    assert not window.act_traffic.isChecked()
    qtbot.waitUntil(lambda: window.traffic.in_flight == 0, timeout=10_000)
    # The bar shows the position at most 10 times a second: let it catch up.
    qtbot.waitUntil(lambda: panel.progress_bar.value() == window.traffic.position)
    submitted, position = window.traffic.submitted, panel.progress_bar.value()
    qtbot.wait(300)  # 30 requests' worth at the set rate
    assert window.traffic.submitted == submitted
    assert panel.progress_bar.value() == position
    window.feed_model.flush()
    assert window.feed_model.rowCount() == submitted  # every submission has its outcome

    # Start again: it carries on from where it paused.
    window.act_traffic.trigger()
    qtbot.waitUntil(lambda: window.traffic.submitted > submitted, timeout=5_000)
    qtbot.waitUntil(lambda: panel.progress_bar.value() > position or window.traffic.laps > 0)
    window.act_traffic.trigger()


def test_traffic_loops_over_the_corpus(make_console, settings, corpus, qtbot):
    console = make_console(settings, rows=corpus[:8])
    window = console.window
    window.traffic_panel.rate.setValue(200)
    window.traffic.start()
    qtbot.waitUntil(lambda: window.traffic.laps >= 2, timeout=10_000)
    window.traffic.pause()
    qtbot.waitUntil(lambda: "lap" in window.traffic_panel.laps.text())
    assert 0 <= window.traffic_panel.progress_bar.value() <= 8


def test_in_flight_requests_are_bounded(make_console, settings, corpus, qtbot):
    settings.mock.latency_median_ms = 50  # slow enough for requests to pile up
    rows = [r for r in corpus if r["expected_route"] == "llm"][:40]
    console = make_console(settings, rows=rows)
    window = console.window
    window.traffic_panel.concurrency.setValue(3)
    window.traffic_panel.rate.setValue(500)
    peak = 0

    def watch() -> bool:
        nonlocal peak
        peak = max(peak, window.traffic.in_flight)
        return window.traffic.submitted >= 12

    window.traffic.start()
    qtbot.waitUntil(watch, timeout=20_000)
    window.traffic.pause()
    assert peak == 3  # reached, never passed


def test_a_relaunch_carries_on_where_the_demo_stopped(make_console, settings, corpus, qtbot):
    """Two launches on one data folder and one window store: the second replays the
    rows after the first one's, so no early request is answered (or escalated) twice."""
    first = make_console(settings)
    first.window.traffic_panel.rate.setValue(200)
    first.window.traffic.start()
    qtbot.waitUntil(lambda: first.window.traffic.submitted >= 25, timeout=10_000)
    first.window.traffic.pause()
    stopped_at = first.window.traffic.position
    make_console.close(first)

    second = make_console(settings)
    window = second.window
    assert window.traffic.position == stopped_at
    assert window.traffic_panel.progress_bar.value() == stopped_at  # the operator sees it
    window.traffic_panel.rate.setValue(200)
    window.traffic.start()
    qtbot.waitUntil(lambda: window.traffic.submitted >= 10, timeout=10_000)
    window.traffic.pause()
    qtbot.waitUntil(lambda: window.traffic.in_flight == 0, timeout=10_000)
    replayed = stopped_at + window.traffic.submitted
    store = second.engine.store.requests
    texts = [store.request(o.request_id).text for o in store.outcomes()]
    assert sorted(map(str, texts)) == sorted(str(row["text"]) for row in corpus[:replayed])


def test_another_corpus_starts_from_its_first_row(make_console, settings, corpus, qtbot):
    first = make_console(settings)
    first.window.traffic_panel.rate.setValue(200)
    first.window.traffic.start()
    qtbot.waitUntil(lambda: first.window.traffic.submitted >= 5, timeout=10_000)
    first.window.traffic.pause()
    make_console.close(first)
    second = make_console(settings, rows=corpus[100:150])
    assert second.window.traffic.position == 0 and second.window.traffic.laps == 0
