"""The charts' Qt-free model: percentiles, cost per minute, route mix, trimming. Headless."""

from __future__ import annotations

import math
import random

import pytest

from agentcore import Outcome, OutcomeHistory, Request, Route, Span, Status, Usage
from agentcore.metrics import percentile
from console.live_series import (
    HISTOGRAM,
    MIX_GROUPS,
    LiveSeries,
    bin_size,
    history_plan,
    latency_bin,
)

T0 = 1_789_999_200.0  # a whole hour: display bins of every size start on it


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
    for ms in range(1, 101):  # 1..100 ms, all in the bin [T0 + 10, T0 + 12)
        series.add_outcome(outcome(T0 + 10.5, latency_ms=float(ms)))
    series.add_outcome(outcome(T0 + 20.5, latency_ms=0.0))  # a fake clock's zero
    snap = series.snapshot(T0 + 30, 60)
    assert snap.bin_s == 2 and len(snap.times) == len(snap.p50) == 31
    i = snap.times.index(T0 + 12)  # plotted at the bin's right edge
    assert snap.p50[i] == pytest.approx(50, rel=0.015)
    assert snap.p95[i] == pytest.approx(95, rel=0.015)
    assert snap.p99[i] == pytest.approx(99, rel=0.015)
    assert snap.p50[snap.times.index(T0 + 22)] == 0.0
    assert math.isnan(snap.p50[snap.times.index(T0 + 16)])
    assert snap.times[-1] == T0 + 30  # the last bin, still filling, ends at "now"


@pytest.mark.parametrize(("window", "bin_s"), [(60, 2), (300, 10), (900, 30), (3600, 60)])
def test_bins_grow_with_the_window_so_every_window_draws_30_to_60_points(window, bin_s):
    series = LiveSeries(now=T0)
    for s in range(3600):  # one request a second, alternating 1 ms and 100 ms
        series.add_outcome(outcome(T0 + s + 0.5, latency_ms=1.0 if s % 2 else 100.0))
    snap = series.snapshot(T0 + 3600, window)
    assert bin_size(window) == snap.bin_s == bin_s
    assert 30 <= len(snap.times) <= 61
    # Per-second bins would zig-zag between 1 and 100 ms; these hold both every time.
    complete = snap.p50[:-1]
    assert max(complete) == min(complete)


def test_cost_per_minute_is_what_the_last_minute_cost_and_the_window_starts_at_zero():
    series = LiveSeries(now=T0)
    series.add_outcome(outcome(T0 + 1, dollars=1.0))  # long before the window below
    for s in range(600, 660):  # one $0.01 LLM answer a second for a minute
        series.add_outcome(outcome(T0 + s + 0.5, route=Route.LLM, dollars=0.01))
    snap = series.snapshot(T0 + 690, 300)  # 5-minute window: 10-second bins
    assert snap.bin_s == 10
    # Rising by $0.10 a bin as the busy minute fills the minute before each point;
    # never above the $0.60 that minute really cost.
    at = dict(zip(snap.times, snap.cost_per_minute, strict=True))
    assert [at[T0 + t] for t in range(610, 670, 10)] == pytest.approx(
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert max(snap.cost_per_minute) == pytest.approx(0.6)
    assert snap.cost_per_minute[-1] == pytest.approx(0.3)  # [T0+630, T0+690): 30 of them
    # The cumulative curve is the window's own spend: from 0 up to the window total.
    assert snap.cumulative_dollars[0] == 0.0
    assert snap.cumulative_dollars[-1] == pytest.approx(0.6) == snap.window.dollars
    assert snap.cumulative_dollars == sorted(snap.cumulative_dollars)
    assert series.total_dollars == pytest.approx(1.6)


def test_a_bin_with_one_costly_request_is_not_scaled_up_to_a_minute():
    series = LiveSeries(now=T0)
    series.add_outcome(outcome(T0 + 30.2, route=Route.LLM, dollars=0.025))
    snap = series.snapshot(T0 + 31, 60)
    assert max(snap.cost_per_minute) == pytest.approx(0.025)  # not $0.75 or $1.50 a minute


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
    # Stacked from the bottom in MIX_GROUPS order: each band's top edge, up to 100 %.
    assert snap.mix_stacked["rule"][i] == pytest.approx(100 * 6 / 16)
    assert snap.mix_stacked["cache"][i] == pytest.approx(100 * 10 / 16)
    assert snap.mix_stacked[MIX_GROUPS[-1]][i] == pytest.approx(100)
    empty = snap.times.index(T0 + 2)
    assert all(snap.mix_stacked[g][empty] == 0 for g in MIX_GROUPS)
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
    assert series.bucket_count <= 3600 + 60 + 60 + 2
    held = 3600 + 60 + 60 + 2
    assert series.cached_bins <= held // 2 + held // 10 + held // 30 + held // 60 + 4
    snap = series.snapshot(T0 + 3 * 3600, 3600)
    assert 3600 <= snap.window.count <= 3600 + 60
    assert snap.cumulative_dollars[-1] == pytest.approx(snap.window.count * 0.001)
    assert series.total_dollars == pytest.approx(3 * 3600 * 0.001)


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


def history_of(plan, outcomes):
    """What the database would answer `history_plan`'s reads with, counted here."""
    parts = []
    for since, until, size in plan:
        tallies, latency = {}, {}
        for at, o in outcomes:
            if since <= at < until:
                b = int(at // size * size)
                key = (b, str(o.route), str(o.status))
                n, d = tallies.get(key, (0, 0.0))
                tallies[key] = (n + 1, d + o.usage.dollars)
                k = (b, latency_bin(o.latency_ms))
                latency[k] = latency.get(k, 0) + 1
        parts.append(OutcomeHistory(size, [(*k, n, d) for k, (n, d) in tallies.items()],
                                    [(*k, n) for k, n in latency.items()]))
    return parts


def test_history_from_the_database_fills_every_window_as_live_outcomes_would():
    rng = random.Random(5)
    now = T0 + 7200.4
    made = []  # an hour and a half of traffic before a restart, every route
    for i in range(5400):
        at = now - 5400 + i + rng.random()
        route = rng.choice([Route.RULE, Route.LLM, Route.CACHE_L1, Route.STATIC])
        made.append((at, outcome(at, route=route, latency_ms=rng.lognormvariate(2, 1),
                                 dollars=0.001 if route is Route.LLM else 0.0,
                                 tier="l1" if route is Route.CACHE_L1 else "miss")))
    live = LiveSeries(now=now - 5400)
    for at, o in made:
        live.add_outcome(o, finished=at)
    restarted = LiveSeries(now=now, history_until=now)
    windows = (60, 300, 900, 3600)
    plan = history_plan(now, windows)
    assert [size for *_, size in plan] == [2, 10, 30, 60]
    assert plan[0][1] == now and plan[-1][0] <= now - 3600 - 60
    for part in history_of(plan, made):
        restarted.add_history(part)
    late = outcome(now - 0.2)  # finished before the restart, published after: in the history
    restarted.add_outcome(late)
    for t in (now, now + 45.0):  # at the restart, and later as time moves on
        for window in windows:
            want, got = live.snapshot(t, window), restarted.snapshot(t, window)
            assert got.counts == want.counts
            assert got.mix_counts == want.mix_counts
            assert got.p95 == pytest.approx(want.p95, nan_ok=True)
            assert got.cost_per_minute[:-1] == pytest.approx(want.cost_per_minute[:-1])
            assert got.l1_hit_rate == pytest.approx(want.l1_hit_rate, nan_ok=True)
    assert HISTOGRAM.count == len(restarted.snapshot(now, 60).window.latency)
