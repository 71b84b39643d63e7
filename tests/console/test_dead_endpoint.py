"""An unreachable LLM: the status bar shows the breaker open, requests are still
answered lower down the ladder, and one banner tells the outage, until it is over
and its escalated items have gone back to the agent."""

from __future__ import annotations

from PySide6.QtCore import Qt

from agentcore import (
    EscalationReason,
    EscalationState,
    KeyringCredentials,
    Request,
    Route,
    Status,
)
from agentcore.mock_llm import MockServer
from console.outage_banner import OutageBanner
from console.workspaces import Workspace

DEAD = "http://127.0.0.1:9/v1"  # the discard port: nothing listens, connections are refused


def test_a_dead_endpoint_opens_the_breaker_and_requests_are_answered_lower_down(
        make_console, settings, corpus, qtbot):
    settings.llm.base_url = DEAD
    settings.resilience.retry.max_attempts = 1
    settings.resilience.breaker.failure_threshold = 2
    KeyringCredentials().set(settings.llm.api_key_name, "sk-test-not-a-real-key")
    # Slow-path traffic with the fast path mixed in.
    rows = ([r for r in corpus if r["expected_route"] == "llm"][:60]
            + [r for r in corpus if r["expected_route"] == "rule"][:20])
    console = make_console(settings, rows=rows)
    window = console.window
    window.show()
    assert window.breaker_segment.state == "closed"
    assert "closed" in window.breaker_segment.text()

    window.traffic_panel.rate.setValue(200)
    window.act_traffic.trigger()
    qtbot.waitUntil(lambda: window.breaker_segment.state == "open", timeout=20_000)
    assert "open" in window.breaker_segment.text()
    assert "endpoint unreachable" in window.breaker_segment.text()  # why, not just "open"
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


def test_a_dead_endpoint_is_one_banner_and_its_items_go_back_once_it_heals(
        make_console, settings, corpus, qtbot, run_async):
    settings.resilience.retry.max_attempts = 1
    settings.resilience.breaker.failure_threshold = 3
    settings.resilience.breaker.open_s = 0.5  # probes soon after the endpoint heals
    rows = [r for r in corpus if r["expected_route"] == "llm"][:40]
    console = make_console(settings, rows=rows)  # the in-process mock LLM, to begin with
    window = console.window
    window.show()
    banner = window.outage_banner
    # An escalation of its own, before the outage: never one of the outage's items.
    human = run_async(console.engine.submit(Request("I want to talk to a human agent now", 1)))
    assert human.status is Status.ESCALATED and human.llm_cause is None
    human_id = console.engine.escalations.of_request(human.request.id)
    dead = settings.model_copy(deep=True)
    dead.llm.base_url = DEAD  # and no key in the keyring: the test's own is empty
    run_async(console.engine.apply_settings(dead))
    assert not banner.shown and not banner.isVisible()  # nothing wrong yet

    window.traffic_panel.rate.setValue(200)
    window.act_traffic.trigger()
    qtbot.waitUntil(lambda: window.traffic.submitted >= len(rows), timeout=20_000)
    window.act_traffic.trigger()  # pause
    qtbot.waitUntil(lambda: window.traffic.in_flight == 0, timeout=20_000)
    window.feed_model.flush()
    outcomes = [window.feed_model.outcome(r) for r in range(window.feed_model.rowCount())]
    outcomes = [o for o in outcomes if o.request.id != human.request.id]  # the outage's
    # The corpus's LLM rows the rules now settle (a refund, a person asked for) are no
    # part of the outage: nothing about them needed the LLM. Nor a repeat of one the
    # cache answers (which of two identical requests comes first is the machine's).
    outcomes = [o for o in outcomes if o.route is not Route.RULE and not (
        o.route in (Route.CACHE_L1, Route.CACHE_L2) and not o.degraded)]
    degraded = sum(1 for o in outcomes if o.degraded)
    escalated = [o for o in outcomes if o.status is Status.ESCALATED]
    odd = [(o.route, o.status, o.request.text) for o in outcomes
           if not o.degraded and o.status is not Status.ESCALATED]
    assert degraded and escalated and not odd, odd

    # One banner, at the top, with the cause and the counts the feed shows.
    qtbot.waitUntil(lambda: f"{len(escalated)} escalated" in banner.text.text(),
                    timeout=5_000)
    assert window.findChildren(OutageBanner) == [banner] and banner.isVisible()
    text = banner.text.text()
    assert text.startswith("LLM endpoint unreachable since ")
    assert f"{degraded} answered degraded, {len(escalated)} escalated" in text
    assert "internal error" not in text
    assert not [o for o in outcomes if o.escalation_reason is EscalationReason.INTERNAL_ERROR
                or any("internal error" in e for e in o.errors)]
    assert all(o.llm_cause == "endpoint unreachable" for o in escalated)
    # Its items can't go back to an agent that can't answer them yet.
    assert banner.hand_back_button.isVisible() and not banner.hand_back_button.isEnabled()
    assert banner.hand_back_button.text() == f"Hand back all {len(escalated)} to the agent"
    assert not banner.dismiss_button.isVisible()

    # "Show them": the queue lists the outage's items only, in the escalations workspace.
    queue = console.engine.escalations
    outage_ids = {queue.of_request(o.request_id) for o in escalated}
    listing = window.escalations
    qtbot.mouseClick(banner.show_button, Qt.MouseButton.LeftButton)
    assert window.workspaces.current is Workspace.ESCALATIONS
    qtbot.waitUntil(lambda: {i.id for i in listing.model.items} == outage_ids,
                    timeout=5_000)
    assert listing.group.isVisible() and "the outage's" in listing.group_label.text()
    assert human_id not in {i.id for i in listing.model.items}
    qtbot.mouseClick(listing.show_all, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: human_id in {i.id for i in listing.model.items}, timeout=5_000)
    assert not listing.group.isVisible()
    window.show_workspace(Workspace.WATCH)

    # The endpoint heals: a mock LLM on a loopback port, applied as an operator would.
    with MockServer() as server:
        healed = settings.model_copy(deep=True)
        healed.llm.base_url = server.base_url
        run_async(console.engine.apply_settings(healed))
        qtbot.wait(600)  # the breaker's open_s: the next call is its probe
        probe = run_async(console.engine.submit(Request(
            "my app keeps crashing and nothing helps", customer_id=1)))
        assert probe.route is Route.LLM and probe.status is Status.ANSWERED
        qtbot.waitUntil(lambda: banner.text.text().startswith("LLM endpoint back at "),
                        timeout=5_000)
        assert (f"{len(escalated)} escalated item{'s' * (len(escalated) != 1)} can be "
                "handed back") in banner.text.text()
        assert banner.hand_back_button.isEnabled() and banner.dismiss_button.isVisible()
        assert banner.isVisible()

        calls = server.stats.calls
        qtbot.mouseClick(banner.hand_back_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "Handed back: " in banner.text.text(), timeout=60_000)
        report = banner.report
        assert report is not None and report.handed_back == len(escalated)
        assert not report.refused
        assert f"Handed back: {len(escalated)} handed back" in banner.text.text()
        assert not banner.hand_back_button.isVisible()  # done: nothing left to hand back
        assert server.stats.calls > calls  # the agent re-ran them, on the healed endpoint
        for outcome in escalated:
            item = run_async(queue.get(queue.of_request(outcome.request_id) or 0))
            # Answered now, or escalated again for a reason of its own: not the outage.
            assert item.state is EscalationState.RESOLVED or item.reason not in (
                EscalationReason.LLM_UNAVAILABLE, EscalationReason.BREAKER_OPEN)

    qtbot.mouseClick(banner.dismiss_button, Qt.MouseButton.LeftButton)
    assert not banner.shown and not banner.isVisible()
