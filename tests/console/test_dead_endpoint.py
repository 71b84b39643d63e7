"""An unreachable LLM: the status bar shows the breaker open, and requests are still
answered, lower down the ladder."""

from __future__ import annotations

from agentcore import KeyringCredentials, Route, Status

DEAD = "http://127.0.0.1:9/v1"  # the discard port: nothing listens, connections are refused


def test_a_dead_endpoint_opens_the_breaker_and_requests_are_answered_lower_down(
        make_console, settings, corpus, qtbot):
    settings.llm.base_url = DEAD
    settings.resilience.retry.max_attempts = 1
    settings.resilience.breaker.failure_threshold = 2
    KeyringCredentials().set(settings.llm.api_key_name, "sk-test-not-a-real-key")
    # Slow-path traffic with the fast path mixed in, as the corpus has it.
    rows = [r for r in corpus if r["expected_route"] in ("llm", "rule")][:80]
    console = make_console(settings, rows=rows)
    window = console.window
    window.show()
    assert window.breaker_segment.state == "closed"
    assert "closed" in window.breaker_segment.text()

    window.traffic_panel.rate.setValue(200)
    window.act_traffic.trigger()
    qtbot.waitUntil(lambda: window.breaker_segment.state == "open", timeout=20_000)
    assert "open" in window.breaker_segment.text()
    assert "consecutive failures" in window.breaker_segment.toolTip()
    qtbot.waitUntil(lambda: window.traffic.submitted >= len(rows), timeout=20_000)
    window.act_traffic.trigger()  # pause
    qtbot.waitUntil(lambda: window.traffic.in_flight == 0, timeout=20_000)
    window.feed_model.flush()

    outcomes = [window.feed_model.outcome(r) for r in range(window.feed_model.rowCount())]
    assert len(outcomes) == window.traffic.submitted >= len(rows)  # none lost
    degraded = [o for o in outcomes if o.rung is not None and o.rung != "human"]
    # Requests that needed the LLM were answered by a template, a cache or a static
    # answer, and the feed says so: their route is a lower rung's, their status answered.
    assert len(degraded) >= 5
    assert all(o.status is Status.ANSWERED for o in degraded)
    # Each reported as its rung: never as a rule's answer, which would have looked up.
    assert {o.route for o in degraded} <= {Route.TEMPLATE, Route.STATIC, Route.CACHE_L1,
                                           Route.CACHE_L2}
    assert all(o.degraded for o in degraded)
    assert not [o for o in outcomes if o.route is Route.LLM and o.status is Status.ANSWERED]
    # What no rung could answer went to a human, and the status bar counts it.
    to_humans = [o for o in outcomes if o.status is Status.ESCALATED]
    qtbot.waitUntil(lambda: window.escalations_segment.count == len(to_humans),
                    timeout=10_000)
    assert window.dollars_segment.dollars == 0  # no LLM call was ever paid for

    # Filtering the feed by route shows the static answers the ladder gave.
    window.feed.status.setCurrentIndex(window.feed.status.findData("answered"))
    window.feed.route.setCurrentIndex(window.feed.route.findData("static"))
    shown = window.feed.proxy.rowCount()
    assert shown == sum(1 for o in outcomes if o.route is Route.STATIC)
