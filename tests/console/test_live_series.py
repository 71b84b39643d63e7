"""The charts' Qt-free model: percentiles, cost per minute, route mix, trimming. Headless."""

from __future__ import annotations

import math
import random

import pytest

from agentcore import Outcome, Request, Route, Span, Status, Usage
from agentcore.metrics import percentile
from console.live_series import POINTS, LiveSeries

T0 = 1_790_000_000.0  # whole minute: display bins start on it


def outcome(at: float, *, route: Route = Route.RULE, status: Status = Status.ANSWERED,
            latency_ms: float = 1.0, dollars: float = 0.0, tier: str | None = "miss") -> Outcome:
    spans = [Span("guard", at - 0.001, at - 0.001)]
    if tier is not None:
        spans.append(Span("cache", at - 0.0005, at - 0.0005, {"tier": tier}))
    spans.append(Span("template", at - 0.0002, at))
    return Outcome(Request("where is my order"), route, status, spans=spans,
                   usage=Usage(dollars=dollars), latency_ms=latency_ms)


def test_window_percentiles_match_the_exact_ones_within_the_histogram_resolution():
    rng = random.Random(3)
    latencies = [rng.lognormvariate(3, 1.2) for _ in range(2000)]
    series = LiveSeries(now=T0)
    for i, ms in enumerate(latencies):
        series.add_outcome(outcome(T0 + i * 0.02, latency_ms=ms))
    snap = series.snapshot(T0 + 40.5, 60)
    assert snap.window.count == 2000
    for p in (50, 95, 99):
        assert snap.percentile(p) == pytest.approx(percentile(latencies, p), rel=0.015)


def test_each_display_bin_has_its_own_percentiles_and_empty_bins_are_gaps():
    series = LiveSeries(now=T0)
    for ms in range(1, 101):  # 1..100 ms, all in the second starting at T0 + 10
        series.add_outcome(outcome(T0 + 10.5, latency_ms=float(ms)))
    series.add_outcome(outcome(T0 + 20.5, latency_ms=0.0))  # a fake clock's zero
    snap = series.snapshot(T0 + 30, 60)
    assert snap.bin_s == 1 and len(snap.times) == len(snap.p50) == 61
    i = snap.times.index(T0 + 11)  # the bin [T0+10, T0+11) is plotted at its right edge
    assert snap.p50[i] == pytest.approx(50, rel=0.015)
    assert snap.p95[i] == pytest.approx(95, rel=0.015)
    assert snap.p99[i] == pytest.approx(99, rel=0.015)
    assert snap.p50[snap.times.index(T0 + 21)] == 0.0
    assert math.isnan(snap.p50[snap.times.index(T0 + 15)])
    assert snap.times[-1] == T0 + 30  # the partial last bin ends at "now"


def test_cost_per_minute_and_the_cumulative_cost_since_start():
    series = LiveSeries(now=T0)
    series.add_outcome(outcome(T0 + 1, dollars=1.0))  # long before the window below
    for s in range(600, 660):  # one $0.01 LLM answer a second for a minute
        series.add_outcome(outcome(T0 + s + 0.5, route=Route.LLM, dollars=0.01))
    snap = series.snapshot(T0 + 660, 300)  # 5-minute window: 5-second bins
    assert snap.bin_s == 5
    busy = [c for c, n in zip(snap.cost_per_minute, snap.counts, strict=True) if n]
    assert busy == pytest.approx([0.6] * 12)  # $0.05 per 5 s is $0.60 a minute
    assert snap.cumulative_dollars[0] == pytest.approx(1.0)  # spent before the window
    assert snap.cumulative_dollars[-1] == pytest.approx(1.6)
    assert snap.cumulative_dollars == sorted(snap.cumulative_dollars)
    assert series.total_dollars == pytest.approx(1.6)
    assert snap.window.dollars == pytest.approx(0.6)


def test_route_mix_counts_escalations_as_human_and_both_tiers_as_cache():
    series = LiveSeries(now=T0)
    at = T0 + 5.5
    kinds = ([outcome(at, route=Route.RULE)] * 6
             + [outcome(at, route=Route.CACHE_L1, tier="l1")] * 3
             + [outcome(at, route=Route.CACHE_L2, tier="l2")]
             + [outcome(at, route=Route.LLM)] * 2
             + [outcome(at, route=Route.LLM, status=Status.ESCALATED)]
             + [outcome(at, route=Route.STATIC)]
             + [outcome(at, route=Route.TEMPLATE)]
             + [outcome(at, route=Route.GUARD, status=Status.REJECTED, tier=None)])
    for o in kinds:
        series.add_outcome(o)
    snap = series.snapshot(T0 + 10, 60)
    # Both rungs of the ladder are one "degraded" share, whatever answered.
    assert dict(snap.window.mix) == {"rule": 6, "cache": 4, "llm": 2, "human": 1,
                                     "degraded": 2, "rejected": 1}
    i = snap.times.index(T0 + 6)
    assert snap.mix_counts["cache"][i] == 4
    assert snap.mix_shares["rule"][i] == pytest.approx(6 / 16)
    assert sum(snap.mix_shares[g][i] for g in snap.mix_shares) == pytest.approx(1)
    # 15 looked in the cache (not the rejected one): 3 found in memory, then 1 of the
    # 12 L1 misses found in SQLite.
    assert snap.l1_hit_rate[i] == pytest.approx(3 / 15)
    assert snap.l2_hit_rate[i] == pytest.approx(1 / 12)


def test_memory_stays_bounded_by_the_largest_window():
    series = LiveSeries(max_window_s=3600, now=T0)
    for s in range(3 * 3600):  # three hours, one outcome a second
        series.add_outcome(outcome(T0 + s + 0.5, dollars=0.001))
        if s % 600 == 0:  # the chart sampling its windows meanwhile
            for window in (60, 300, 900, 3600):
                series.snapshot(T0 + s + 1, window)
    assert series.total_outcomes == 3 * 3600
    assert series.bucket_count <= 3600 + 3600 // POINTS + 2
    assert series.cached_bins <= 3600 // 5 + 3600 // 15 + 3600 // 60 + 3
    snap = series.snapshot(T0 + 3 * 3600, 3600)
    assert 3600 <= snap.window.count <= 3600 + 60
    assert snap.cumulative_dollars[-1] == pytest.approx(3 * 3600 * 0.001)


def test_an_outcome_that_arrives_late_changes_a_bin_already_drawn():
    series = LiveSeries(now=T0)
    series.add_outcome(outcome(T0 + 100.5, latency_ms=5.0))
    before = series.snapshot(T0 + 900, 900)  # 15-second bins, now complete and cached
    series.add_outcome(outcome(T0 + 101.5, latency_ms=500.0))
    after = series.snapshot(T0 + 900, 900)
    assert sum(after.counts) == sum(before.counts) + 1
    assert after.window.count == 2 and after.percentile(99) == pytest.approx(500, rel=0.015)


def test_breaker_steps_start_with_the_state_at_the_window_edge():
    series = LiveSeries(now=T0)
    series.add_breaker("open", T0 + 10)
    series.add_breaker("open", T0 + 11)  # forced open while open: no new step
    series.add_breaker("half_open", T0 + 100)
    series.add_breaker("closed", T0 + 101)
    assert series.snapshot(T0 + 90, 60).breaker == [(T0 + 30, "open")]
    assert series.snapshot(T0 + 130, 60).breaker == [
        (T0 + 70, "open"), (T0 + 100, "half_open"), (T0 + 101, "closed")]
    assert series.breaker_state == "closed"
