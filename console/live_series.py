"""Rolling, time-bucketed series of what the engine did, for the live charts.

No Qt: the chart panel feeds outcomes and breaker changes in as the bridge's
signals arrive, and samples a `Snapshot` on its redraw timer. Memory is
bounded whatever the traffic: outcomes are folded into one bucket per second
(counts, dollars, a latency histogram), and buckets older than the largest
window are dropped. After a restart the hour the console missed comes from the
engine's database (`history_plan`, `add_history`): counted there per bucket,
coarser the older it is, as coarse as the windows that will show it.

Raw latencies are not kept (at 200 requests/s an hour of them is 720k floats).
Each bucket holds a fixed log-scale histogram instead, a numpy array of ~700
counters (2.8 kB): merging a window's buckets and reading its percentiles are
then a few vectorised operations, so a redraw of the 60-minute window costs
about as little as one of the 1-minute window, and percentiles are within 1.5 %.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from agentcore import LatencyBins, Outcome, OutcomeHistory, Route, Status

BUCKET_S = 1  # the finest time resolution kept
# Display bins per window: 30 to 60 points, each bin holding enough requests that
# a percentile or a share is not the noise of a second or two.
_BIN_SIZES = {60: 2, 300: 10, 900: 30, 3600: 60}
POINTS = 30  # for a window not in that table
COST_RATE_S = 60  # "cost per minute" is what the last minute cost, at each point

# The route mix as an operator reads it: the two cache tiers are one "cache"
# route; an escalated request is on its way to a human, whatever route it took
# before giving up; a request the guard turned away is "rejected"; the ladder's
# template and static answers are both "degraded".
MIX_GROUPS = ("rule", "learned", "cache", "llm", "degraded", "human", "rejected")

BREAKER_LEVELS = {"closed": 0, "half_open": 1, "open": 2}

# Latency histogram: bin k >= 1 holds [F*R**(k-1), F*R**k) ms and reports its
# geometric middle, so a percentile is off by at most half a bin (< 1.5 %).
# Bin 0 is "under a microsecond" (reported as 0); the last bin takes anything
# longer than the ceiling.
_RESOLUTION = 1.03
_LOG_RES = math.log(_RESOLUTION)
_FLOOR_MS = 0.001
_CEILING_MS = 1_000_000.0  # 1000 s: far beyond any request deadline
LATENCY_BINS = 2 + math.ceil(math.log(_CEILING_MS / _FLOOR_MS) / _LOG_RES)
_BIN_VALUES = np.array([0.0] + [_FLOOR_MS * _RESOLUTION ** (k + 0.5)
                                for k in range(LATENCY_BINS - 1)])
HISTOGRAM = LatencyBins(floor_ms=_FLOOR_MS, ratio=_RESOLUTION, count=LATENCY_BINS)


def bin_size(window_s: int) -> int:
    """Seconds per display bin: 1 min -> 2 s, 5 min -> 10 s, 15 min -> 30 s, 60 min -> 1 min."""
    return _BIN_SIZES.get(window_s, max(BUCKET_S, window_s // POINTS))


def mix_group(outcome: Outcome) -> str:
    return _group(outcome.route, outcome.status)


def _group(route: Route, status: Status) -> str:
    if status is Status.REJECTED:
        return "rejected"
    if status is Status.ESCALATED:
        return "human"
    if route in (Route.CACHE_L1, Route.CACHE_L2):
        return "cache"
    if route in (Route.TEMPLATE, Route.STATIC):
        return "degraded"
    return str(route)


def history_plan(until: float, windows: Sequence[int]) -> list[tuple[float, float, int]]:
    """The back-fill as (since, until, bucket_s) reads, newest first: each window's
    stretch at its own bin size, so a 60-minute window's history is 45 rows of a
    minute, not 2,700 of a second. A stretch reaches back as far as its window
    (plus a bin and the cost rate's minute) and starts on a boundary of the next,
    coarser bin size; time only moves on, so a finer window never shows a coarser
    stretch."""
    sizes = sorted((bin_size(w), w) for w in windows)
    plan: list[tuple[float, float, int]] = []
    for i, (size, window) in enumerate(sizes):
        coarser = sizes[i + 1][0] if i + 1 < len(sizes) else size
        since = (until - window - size - COST_RATE_S) // coarser * coarser
        if plan:
            since = min(since, plan[-1][0])
        plan.append((since, plan[-1][0] if plan else until, size))
    return [(since, end, size) for since, end, size in plan if since < end]


def cache_tier(outcome: Outcome) -> str | None:
    """"l1", "l2" or "miss" when the request looked in the cache; None when it did not
    (rejected by the guard, or a handed-back request that skips the cache)."""
    for span in outcome.spans:
        if span.name == "cache":
            return str(span.attributes.get("tier", "miss"))
    return None


def latency_bin(ms: float) -> int:
    if ms < _FLOOR_MS:
        return 0
    return min(LATENCY_BINS - 1, 1 + int(math.log(ms / _FLOOR_MS) / _LOG_RES))


def percentiles(histogram: np.ndarray | None, ps: Sequence[float]) -> list[float]:
    """Nearest-rank percentiles (p in 0..100) of a latency histogram; NaN when empty."""
    if histogram is None:
        return [math.nan] * len(ps)
    cumulative = np.cumsum(histogram)
    total = int(cumulative[-1])
    if total == 0:
        return [math.nan] * len(ps)
    ranks = [max(1, math.ceil(p / 100 * total)) for p in ps]
    return [float(v) for v in _BIN_VALUES[np.searchsorted(cumulative, ranks)]]


@dataclass(slots=True, eq=False)
class Aggregate:
    """What happened in one span of time; buckets and display bins are both this."""

    count: int = 0
    dollars: float = 0.0
    latency: np.ndarray | None = None  # LATENCY_BINS counts; None until the first outcome
    mix: Counter[str] = field(default_factory=Counter)
    lookups: int = 0  # requests that looked in the cache
    l1_hits: int = 0
    l2_hits: int = 0

    def add(self, outcome: Outcome) -> None:
        self.count += 1
        self.dollars += outcome.usage.dollars
        if self.latency is None:
            self.latency = np.zeros(LATENCY_BINS, dtype=np.uint32)
        self.latency[latency_bin(outcome.latency_ms)] += 1
        self.mix[mix_group(outcome)] += 1
        tier = cache_tier(outcome)
        if tier is not None:
            self.lookups += 1
            self.l1_hits += tier == "l1"
            self.l2_hits += tier == "l2"

    def add_tally(self, route: Route, status: Status, count: int, dollars: float) -> None:
        """Outcomes counted by the database (a back-fill). Spans are not read back:
        every request the guard let through is taken to have looked in the cache."""
        self.count += count
        self.dollars += dollars
        self.mix[_group(route, status)] += count
        if status is not Status.REJECTED:
            self.lookups += count
            self.l1_hits += count if route is Route.CACHE_L1 else 0
            self.l2_hits += count if route is Route.CACHE_L2 else 0

    def merge(self, other: Aggregate) -> None:
        self.count += other.count
        self.dollars += other.dollars
        if other.latency is not None:
            if self.latency is None:
                self.latency = other.latency.copy()
            else:
                self.latency += other.latency
        self.mix.update(other.mix)
        self.lookups += other.lookups
        self.l1_hits += other.l1_hits
        self.l2_hits += other.l2_hits


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The series of one window, one value per display bin, ready to plot.

    `times` is the right edge of each bin (the last one is "now"), where its
    value is plotted; a bin with no data has NaN where a rate or a percentile
    would be meaningless.
    """

    now: float
    window_s: int
    bin_s: int
    starts: list[int]  # each bin covers [start, start + bin_s)
    times: list[float]
    counts: list[int]
    p50: list[float]
    p95: list[float]
    p99: list[float]
    dollars: list[float]
    cost_per_minute: list[float]  # what the minute up to each point cost
    cumulative_dollars: list[float]  # spent in the window up to each bin's edge
    l1_hit_rate: list[float]  # share of cache lookups answered from memory
    l2_hit_rate: list[float]  # share of the L1 misses answered from SQLite
    mix_counts: dict[str, list[int]]
    mix_shares: dict[str, list[float]]
    # The route mix as stacked areas, in MIX_GROUPS order from the bottom: each
    # group's top edge in % (the last is 100); 0 throughout a bin with no requests.
    mix_stacked: dict[str, list[float]]
    window: Aggregate  # the whole window merged, for titles and totals
    breaker: list[tuple[float, str]]  # (time, state) steps, the first at the window's start

    def percentile(self, p: float) -> float:
        return percentiles(self.window.latency, (p,))[0]


class LiveSeries:
    """Outcomes and breaker states, bucketed per second and trimmed to `max_window_s`."""

    def __init__(self, *, max_window_s: int = 3600, breaker_state: str = "closed",
                 now: float = 0.0, history_until: float | None = None) -> None:
        """`history_until`: outcomes finished before it come from `add_history`, and a
        live one that finished before it (published late) is not counted twice."""
        self.max_window_s = max_window_s
        self.history_until = -math.inf if history_until is None else history_until
        self.version = 0  # bumped by every change: the chart redraws only when it moved
        self.total_outcomes = 0
        self.total_dollars = 0.0
        self._buckets: dict[int, Aggregate] = {}
        self._newest = -math.inf  # latest bucket start seen: it sets the trim horizon
        self._oldest = math.inf  # earliest bucket start held, to trim without scanning
        self._breaker: list[tuple[float, str]] = [(now, breaker_state)]
        # Display bins that are complete do not change: merged once, reused per
        # redraw. Keyed by (bin size, bin start); a late outcome drops its bin.
        self._bins: dict[tuple[int, int], Aggregate] = {}
        self._bin_sizes: set[int] = set()

    @property
    def bucket_count(self) -> int:
        return len(self._buckets)

    @property
    def cached_bins(self) -> int:
        return len(self._bins)

    @property
    def breaker_state(self) -> str:
        return self._breaker[-1][1]

    @property
    def horizon(self) -> float:
        """Buckets older than this can never be drawn again: the largest window, plus
        one display bin of slack because bins are aligned to their size, plus the
        minute the cost rate at the window's left edge looks back."""
        return (self._newest - self.max_window_s - bin_size(self.max_window_s)
                - COST_RATE_S - BUCKET_S)

    def add_outcome(self, outcome: Outcome, finished: float | None = None) -> None:
        """Counts an outcome at the time it finished (its last span's end)."""
        if finished is None:
            finished = outcome.spans[-1].end if outcome.spans else outcome.request.received_at
        if finished < self.history_until:
            return  # already in the database's history
        second = int(finished // BUCKET_S * BUCKET_S)
        self.total_outcomes += 1
        self.total_dollars += outcome.usage.dollars
        self.version += 1
        if second > self._newest:
            self._newest = second
            self._trim()
        if second < self.horizon:
            return  # too old for any window; its dollars still count in the total
        bucket = self._buckets.get(second)
        if bucket is None:
            bucket = self._buckets[second] = Aggregate()
            self._oldest = min(self._oldest, second)
        bucket.add(outcome)
        for size in self._bin_sizes:  # a late outcome changes a bin thought complete
            self._bins.pop((size, second - second % size), None)

    def add_history(self, history: OutcomeHistory) -> None:
        """Merges what the database counted (`history_plan`'s reads): each of its
        buckets is held at its start second, where a display bin of its size or a
        larger one finds it whole."""
        touched: set[int] = set()
        for start, route, status, count, dollars in history.tallies:
            self._history_bucket(start).add_tally(Route(route), Status(status), count, dollars)
            self.total_outcomes += count
            self.total_dollars += dollars
            touched.add(start)
        if history.latency:  # tens of thousands of rows: a vectorised add per bucket
            rows = np.asarray(history.latency, dtype=np.int64)
            rows = rows[np.argsort(rows[:, 0], kind="stable")]
            starts, first = np.unique(rows[:, 0], return_index=True)
            for start, chunk in zip(starts, np.split(rows[:, 1:], first[1:]), strict=True):
                bucket = self._history_bucket(int(start))
                if bucket.latency is None:
                    bucket.latency = np.zeros(LATENCY_BINS, dtype=np.uint32)
                np.add.at(bucket.latency, np.clip(chunk[:, 0], 0, LATENCY_BINS - 1),
                          chunk[:, 1].astype(np.uint32))
        for start in touched:
            for size in self._bin_sizes:
                self._bins.pop((size, start - start % size), None)
        self.version += 1
        self._trim()

    def _history_bucket(self, start: int) -> Aggregate:
        bucket = self._buckets.get(start)
        if bucket is None:
            bucket = self._buckets[start] = Aggregate()
            self._oldest = min(self._oldest, start)
            self._newest = max(self._newest, start)
        return bucket

    def add_breaker(self, state: str, at: float) -> None:
        if state == self.breaker_state:
            return  # a mode change (forced / released) without a new state
        self._breaker.append((at, state))
        self.version += 1
        if at > self._newest:
            self._newest = int(at // BUCKET_S * BUCKET_S)
            self._trim()

    def _trim(self) -> None:
        horizon = self.horizon
        # Keep the last breaker state before the horizon: it is the state at its edge.
        while len(self._breaker) > 1 and self._breaker[1][0] <= horizon:
            self._breaker.pop(0)
        if self._oldest >= horizon:
            return
        for second in [s for s in self._buckets if s < horizon]:
            del self._buckets[second]
        self._oldest = min(self._buckets, default=math.inf)
        for key in [k for k in self._bins if k[1] < horizon]:
            del self._bins[key]

    def _bin(self, size: int, start: int, now: float) -> Aggregate:
        if size == BUCKET_S:  # a bucket is its own bin: nothing to merge or cache
            return self._buckets.get(start) or Aggregate()
        cached = self._bins.get((size, start))
        if cached is not None:
            return cached
        merged = Aggregate()
        for second in range(start, start + size, BUCKET_S):
            bucket = self._buckets.get(second)
            if bucket is not None:
                merged.merge(bucket)
        if start + size <= now:  # complete: only a late outcome can change it now
            self._bin_sizes.add(size)
            self._bins[(size, start)] = merged
        return merged

    def snapshot(self, now: float, window_s: int) -> Snapshot:
        bin_s = bin_size(window_s)
        first = int((now - window_s) // bin_s * bin_s)
        starts = range(first, int(now // bin_s * bin_s) + 1, bin_s)
        bins = [self._bin(bin_s, start, now) for start in starts]
        times = [min(start + bin_s, now) for start in starts]
        window = Aggregate()
        for agg in bins:
            window.merge(agg)
        cumulative = list(np.cumsum([agg.dollars for agg in bins]))
        quantiles = [percentiles(agg.latency, (50, 95, 99)) for agg in bins]
        shares = {g: [_ratio(agg.mix[g], agg.count) for agg in bins] for g in MIX_GROUPS}
        return Snapshot(
            now=now, window_s=window_s, bin_s=bin_s, starts=list(starts), times=times,
            counts=[agg.count for agg in bins],
            p50=[q[0] for q in quantiles], p95=[q[1] for q in quantiles],
            p99=[q[2] for q in quantiles],
            dollars=[agg.dollars for agg in bins],
            cost_per_minute=self._cost_per_minute(bins, bin_s, first, now),
            cumulative_dollars=[float(c) for c in cumulative],
            l1_hit_rate=[_ratio(agg.l1_hits, agg.lookups) for agg in bins],
            l2_hit_rate=[_ratio(agg.l2_hits, agg.lookups - agg.l1_hits) for agg in bins],
            mix_counts={g: [agg.mix[g] for agg in bins] for g in MIX_GROUPS},
            mix_shares=shares, mix_stacked=_stacked(shares),
            window=window,
            breaker=self._breaker_steps(now - window_s, now),
        )

    def _cost_per_minute(self, bins: list[Aggregate], bin_s: int, first: int,
                         now: float) -> list[float]:
        """Dollars spent in the minute up to each point: a sum, never a short bin's
        spend scaled up, so no point exceeds what a minute really cost."""
        span = max(1, COST_RATE_S // bin_s)  # bins per minute (1 for a minute or more)
        earlier = [self._bin(bin_s, first - k * bin_s, now).dollars
                   for k in range(span - 1, 0, -1)]
        spent = earlier + [agg.dollars for agg in bins]
        scale = COST_RATE_S / (span * bin_s)  # 1 unless a bin is longer than a minute
        rates = [sum(spent[i:i + span]) * scale for i in range(len(bins))]
        # The last bin is still filling: its point is the minute up to now, second by second.
        top = math.ceil(now / BUCKET_S) * BUCKET_S  # the buckets of [now - 60 s, now)
        rates[-1] = sum(b.dollars for s in range(top - COST_RATE_S, top, BUCKET_S)
                        if (b := self._buckets.get(s)) is not None)
        return rates

    def _breaker_steps(self, start: float, now: float) -> list[tuple[float, str]]:
        state_at_start = self._breaker[0][1]
        steps: list[tuple[float, str]] = []
        for at, state in self._breaker:
            if at <= start:
                state_at_start = state
            elif at <= now:
                steps.append((at, state))
        return [(start, state_at_start), *steps]


def _stacked(shares: dict[str, list[float]]) -> dict[str, list[float]]:
    stacked: dict[str, list[float]] = {}
    below = [0.0] * len(next(iter(shares.values())))
    for group in MIX_GROUPS:
        below = [b + (0.0 if math.isnan(v) else 100 * v)
                 for b, v in zip(below, shares[group], strict=True)]
        stacked[group] = below
    return stacked


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else math.nan
