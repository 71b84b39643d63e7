"""The charts' back-fill: finished outcomes since a time, counted per bucket in SQL,
so a console restarted mid-day shows the hour it missed."""

from __future__ import annotations

import asyncio
import math

import pytest

from agentcore.models import Outcome, Route, Span, Status, Usage
from agentcore.storage import LatencyBins, Storage
from tests.agentcore.storage.records import request

BINS = LatencyBins(floor_ms=0.001, ratio=1.03, count=700)


def finished(n: int, at: float, route: Route = Route.RULE, status: Status = Status.ANSWERED,
             latency_ms: float = 1.0, dollars: float = 0.0) -> Outcome:
    req = request(n, at=at - 0.01)
    return Outcome(req, route, status, spans=[Span("guard", at - 0.01, at)],
                   usage=Usage(dollars=dollars), latency_ms=latency_ms)


def expected_bin(ms: float) -> int:
    if ms < BINS.floor_ms:
        return 0
    return min(BINS.count - 1, 1 + int(math.log(ms / BINS.floor_ms) / math.log(BINS.ratio)))


def record(backend: Storage, outcomes: list[Outcome]) -> None:
    for o in outcomes:
        backend.requests.accept(o.request)
        backend.requests.finish(o)


def test_history_counts_each_bucket_by_route_status_cost_and_latency(backend: Storage):
    t0 = 1_789_999_980.0  # a whole minute
    outcomes = [
        finished(1, t0 + 1, latency_ms=0.05),
        finished(2, t0 + 9.9, latency_ms=0.05),
        finished(3, t0 + 5, Route.LLM, latency_ms=800.0, dollars=0.02),
        finished(4, t0 + 12, Route.LLM, Status.ESCALATED, latency_ms=1200.0, dollars=0.03),
        finished(5, t0 + 13, Route.GUARD, Status.REJECTED, latency_ms=0.0),
        finished(6, t0 - 1, latency_ms=1.0),  # before `since`
        finished(7, t0 + 20, latency_ms=1.0),  # at `until`: not in
    ]
    record(backend, outcomes)  # no flush: the read waits for the writer itself

    history = backend.requests.history(t0, t0 + 20, 10, BINS)

    assert history.bucket_s == 10
    assert sorted(history.tallies) == sorted([
        (int(t0), "rule", "answered", 2, 0.0),
        (int(t0), "llm", "answered", 1, pytest.approx(0.02)),
        (int(t0) + 10, "llm", "escalated", 1, pytest.approx(0.03)),
        (int(t0) + 10, "guard", "rejected", 1, 0.0),
    ])
    # The same bins the console's histogram puts a live outcome in.
    assert sorted(history.latency) == sorted([
        (int(t0), expected_bin(0.05), 2),
        (int(t0), expected_bin(800.0), 1),
        (int(t0) + 10, expected_bin(1200.0), 1),
        (int(t0) + 10, 0, 1),
    ])


def test_an_hour_of_heavy_traffic_comes_back_as_a_few_groups(backend: Storage):
    t0 = 1_789_999_980.0
    # 3,600 outcomes over an hour, latencies spread over five decades.
    record(backend, [finished(i, t0 + i + 0.5, latency_ms=10 ** (i % 50 / 10))
                     for i in range(3600)])
    history = backend.requests.history(t0, t0 + 3600, 60, BINS)
    assert sum(n for *_, n, _d in history.tallies) == 3600
    assert len(history.tallies) == 60  # one per minute: counted in SQL, not row by row
    assert sum(n for *_, n in history.latency) == 3600
    assert len(history.latency) <= 60 * 50


def test_history_is_read_safely_from_a_worker_thread(backend: Storage):
    t0 = 1_789_999_980.0
    record(backend, [finished(i, t0 + i) for i in range(10)])
    history = asyncio.run(asyncio.to_thread(backend.requests.history, t0, t0 + 60, 2, BINS))
    assert sum(n for *_, n, _d in history.tallies) == 10
