"""What backtests and the rules view read of the recorded traffic, on each backend."""

from __future__ import annotations

import dataclasses

from agentcore.models import Outcome, Route, Status
from agentcore.storage import Storage
from tests.agentcore.storage.records import answered, escalated, request, turned_away


def test_the_recorded_traffic_is_the_newest_answered_or_escalated_with_labels(
        backend: Storage, clock):
    now = clock.now()
    for n in range(6):
        req = request(n, at=100.0 + n)
        backend.requests.accept(req)
        backend.requests.finish(answered(req))
    turned_away = request(10, at=200.0)
    backend.requests.accept(turned_away)
    backend.requests.finish(Outcome(turned_away, Route.GUARD, Status.REJECTED))
    asked = request(11, at=150.0)
    backend.requests.accept(asked)
    backend.requests.finish(escalated(asked, pending=False))
    item = backend.escalations.of_request(asked.id)
    assert backend.escalations.claim(item, "ana", now, now + 60)
    assert backend.escalations.reply(backend.escalations.get(item, now), "ana", now,
                                     "It left today.", "order_status")

    rows = backend.traffic.recorded(4)
    assert [r[0] for r in rows] == ["req-11", "req-5", "req-4", "req-3"]  # no guard's
    assert rows[0][3] == "human" and rows[0][8] == "order_status"  # the operator's label
    assert rows[1] == ("req-5", "where is my order 5", 105.0, "rule", "order_status",
                       "order-status", 0.0, 1.5, None)
    assert len(backend.traffic.recorded(1000)) == 7


def test_the_rules_view_counts_each_rules_hits_since_a_time(backend: Storage):
    for n in range(5):
        req = request(n, at=1_000.0 * n)
        backend.requests.accept(req)
        backend.requests.finish(answered(req))
    other = request(9, at=4_500.0)
    backend.requests.accept(other)
    backend.requests.finish(escalated(other))
    assert backend.traffic.rule_hits_since(2_000.0) == {"order-status": 3}
    assert backend.traffic.rule_hits_since(10_000.0) == {}


def test_a_backtest_reads_each_text_as_written_and_as_many_as_there_are(backend: Storage):
    # What a backtest replays must be the customer's text to the character: a tab, a
    # line break, a backslash or an emoji read back otherwise would route otherwise.
    awkward = ["tab\there", "two\nlines", "back\\slash \\N", "emoji 📦 ok", "crlf\r\n"]
    for n, text in enumerate(awkward):
        req = dataclasses.replace(request(n, at=10.0 + n), text=text)
        backend.requests.accept(req)
        backend.requests.finish(answered(req))
    for n in range(len(awkward), 300):
        req = request(n, at=10.0 + n)
        backend.requests.accept(req)
        backend.requests.finish(answered(req))

    rows = backend.traffic.recorded(3_000)
    assert len(rows) == 300
    assert [r[1] for r in rows[-len(awkward):]] == awkward[::-1]  # newest first
    assert [r[0] for r in rows[:2]] == ["req-299", "req-298"]
    assert [r[1] for r in backend.traffic.intent_rows(3_000)[-len(awkward):]] == awkward[::-1]


def test_a_sample_is_topped_up_with_what_was_answered_or_labelled_since(
        backend: Storage, clock):
    """`recorded_since`: the rows `recorded` gives whose outcome was written, or whose
    request an operator labelled, at or after a time; nothing older, nothing turned away."""
    for n in range(6):
        req = request(n, at=100.0 + n)
        backend.requests.accept(req)
        backend.requests.finish(answered(req))  # finished 5 ms after it came
    asked = request(11, at=50.0)  # long before, answered by an operator only now
    backend.requests.accept(asked)
    backend.requests.finish(escalated(asked, pending=False))
    backend.requests.reject(turned_away(request(12, at=300.0)))
    assert [r[0] for r in backend.traffic.recorded_since(103.0, 10)] == [
        "req-5", "req-4", "req-3"]
    now = clock.now()
    item = backend.escalations.of_request(asked.id)
    assert backend.escalations.claim(item, "ana", now, now + 60)
    assert backend.escalations.reply(backend.escalations.get(item, now), "ana", now,
                                     "It left today.", "order_status")
    rows = backend.traffic.recorded_since(now, 10)
    assert [(r[0], r[8]) for r in rows] == [("req-11", "order_status")]
    assert rows[0] == backend.traffic.recorded(10)[-1]  # as a whole read has it
    assert [r[0] for r in backend.traffic.recorded_since(103.0, 2)] == ["req-5", "req-4"]
    assert backend.traffic.recorded_since(now + 1, 10) == []
