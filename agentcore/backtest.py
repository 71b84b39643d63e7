"""Backtests: an edited rule set replayed over recorded traffic before it goes live.

The recorded requests (the storage's recorded traffic, newest first) are
normalised as the guard does and routed through the live router ("before") and
the edited one ("after"). The live router's answers are worked out once, one RE2
Set match per text, and kept per router (routers are immutable); each edit then
re-routes only the requests it can touch (`backtest_routes`), so a keystroke costs
a scan of the texts per changed rule, not a Set match per text.

What an operator reads from a result:
- changes: requests whose winning rule differs (gained by the fast path, lost to
  the slow path, or switched between rules);
- the fast-path share before and after;
- dollars and latency per day saved or added: each changed request's recorded
  cost on the path it took (LLM, cache, a rule, ...) against the recorded mean
  of the path it would take now (rules cost no dollars and the rule route's
  mean latency; the slow path costs the LLM route's mean), scaled to a day at
  the recorded rate;
- conflicts: requests more than one rule matches (the priority decides);
- precision: of matched requests whose intent is known (the LLM's decision when
  the slow path answered, or an operator's resolution in labelled_examples), the
  share where the rule's intent agrees.

It runs off the event loop (a worker thread): `cancelled` is polled every few
thousand requests so a backtest superseded by more typing stops early.
"""

from __future__ import annotations

import logging
import math
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

from agentcore.backtest_routes import (
    Rerouted,
    Routes,
    reroute,
    reroute_all,
    route_all,
    spliced,
)
from agentcore.backtest_sample import Splice, plan
from agentcore.guard import normalise
from agentcore.router import Router, Rule
from agentcore.rule_scan import TextBlock
from agentcore.settings import DEFAULT_SAMPLE
from agentcore.storage import SQLiteTraffic, TrafficRepository

log = logging.getLogger("agentcore.backtest")

MAX_SAMPLES = 200  # matches listed to eyeball: enough to read, cheap to show
_MIN_SPAN_S = 60.0  # per-day figures from a shorter recording would be noise


@dataclass(frozen=True, slots=True)
class Recorded:
    """One recorded request and what answering it cost."""

    id: str
    text: str  # as the customer wrote it (shown to the operator)
    normalised: str  # as the router sees it
    route: str  # the path it took: rule, llm, cache-l1, ...
    rule_id: str | None
    known_intent: str | None  # an operator's label, else the LLM's decision
    dollars: float
    latency_ms: float
    received_at: float


_COLUMNS = ("ids", "texts", "normalised", "routes", "rule_ids", "known", "dollars",
            "latency_ms", "received_at")


class RecordedTraffic(Sequence[Recorded]):
    """Recorded requests held as columns: tuples of strings, arrays of floats.

    100,000 `Recorded` objects would be 100,000 objects the garbage collector
    walks on every full collection (80-100 ms each, with the GIL held: the GUI
    thread stalls); a `Recorded` is built only for the few requests a result lists.
    Nor lists: a list is walked item by item by every collection that reaches it
    (a million-row sample's nine: ~0.25 s a time, twice after each load or top-up
    and at every full collection all day). A tuple holding only strings is dropped
    from the collector's view by the first collection that sees it; an array of
    floats never enters it (and holds 8 bytes a value, not a float object)."""

    def __init__(self, rows: Iterable[Sequence[Any]] = ()) -> None:
        # Column by column: a comprehension each costs a fraction of one loop appending
        # to nine lists (a million rows: about a second less).
        found = rows if isinstance(rows, list) else list(rows)
        self.ids: tuple[str, ...] = tuple([row[0] for row in found])
        self.texts: tuple[str, ...] = tuple([row[1] for row in found])
        self.normalised: tuple[str, ...] = tuple([normalise(text) for text in self.texts])
        self.routes: tuple[str, ...] = tuple([row[3] for row in found])
        self.rule_ids: tuple[str | None, ...] = tuple([row[5] for row in found])
        # An operator's label, else the LLM's decision, also when its answer came back
        # from the cache; a rule's own intent would only agree with itself.
        self.known: tuple[str | None, ...] = tuple([
            label or (intent if route == "llm" or (route.startswith("cache") and rule_id is None)
                      else None)
            for route, intent, rule_id, label in ((row[3], row[4], row[5], row[8])
                                                  for row in found)])
        self.dollars: array[float] = array("d", [row[6] for row in found])
        self.latency_ms: array[float] = array("d", [row[7] for row in found])
        self.received_at: array[float] = array("d", [row[2] for row in found])

    def spliced(self, splice: Splice, fresh: RecordedTraffic) -> RecordedTraffic:
        """This sample with `fresh` rows in it where `splice` says: a new sample, since
        results already shown index into this one."""
        out = RecordedTraffic()
        for name in _COLUMNS:
            old, new = getattr(self, name), getattr(fresh, name)
            setattr(out, name, splice.spliced_array(old, new) if isinstance(old, array)
                    else tuple(splice.spliced(old, new)))
        return out

    @classmethod
    def of(cls, requests: Iterable[Recorded]) -> RecordedTraffic:
        if isinstance(requests, RecordedTraffic):
            return requests
        return cls((r.id, r.text, r.received_at, r.route, r.known_intent, r.rule_id, r.dollars,
                    r.latency_ms, r.known_intent) for r in requests)

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> Recorded: ...

    @overload
    def __getitem__(self, index: slice) -> list[Recorded]: ...

    def __getitem__(self, index: int | slice) -> Recorded | list[Recorded]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return Recorded(self.ids[index], self.texts[index], self.normalised[index],
                        self.routes[index], self.rule_ids[index], self.known[index],
                        self.dollars[index], self.latency_ms[index], self.received_at[index])


def _traffic(source: Path | TrafficRepository) -> TrafficRepository:
    return SQLiteTraffic(source) if isinstance(source, Path) else source


def load_recorded(source: Path | TrafficRepository,
                  limit: int = DEFAULT_SAMPLE) -> RecordedTraffic:
    """The newest `limit` answered or escalated requests, read on the caller's thread
    (a worker's): from a running engine's `store.traffic` (which first puts down every
    outcome already returned), or from a database file."""
    return RecordedTraffic(_traffic(source).recorded(limit))


@dataclass(frozen=True, slots=True)
class PathCosts:
    """Recorded means of each path, for requests that never took it."""

    llm_dollars: float
    llm_latency_ms: float
    rule_latency_ms: float

    @classmethod
    def of(cls, t: RecordedTraffic) -> PathCosts:
        llm = [i for i, route in enumerate(t.routes) if route == "llm"]
        rule = [ms for route, ms in zip(t.routes, t.latency_ms, strict=True) if route == "rule"]
        return cls(_mean([t.dollars[i] for i in llm]), _mean([t.latency_ms[i] for i in llm]),
                   _mean(rule))

    def delta(self, t: RecordedTraffic, i: int, *, to_fast: bool) -> tuple[float, float]:
        """Dollars and ms request `i` adds (negative: saves) moving to the fast path
        (`to_fast`) or the slow one: the new path's mean minus what it cost on the
        path it took, as recorded. Already on that kind of path: nothing changes."""
        took = t.routes[i]
        if took == ("rule" if to_fast else "llm"):
            return 0.0, 0.0
        dollars, ms = ((0.0, self.rule_latency_ms) if to_fast
                       else (self.llm_dollars, self.llm_latency_ms))
        return dollars - t.dollars[i], ms - t.latency_ms[i]


def _mean(values: Sequence[float]) -> float:
    # fsum, as statistics.fmean sums; over a list, not fmean's generator (a million
    # rows: a fifth of the time).
    return math.fsum(values) / len(values) if values else 0.0


ChangeKind = Literal["gained", "lost", "switched"]
# A change as the backtest keeps it: the request's index, then `Change`'s fields.
ChangeRow = tuple[int, ChangeKind, str | None, str | None, float, float]


@dataclass(frozen=True, slots=True)
class Change:
    request: Recorded
    kind: ChangeKind  # gained: slow -> fast; lost: fast -> slow; switched: rule -> rule
    before: str | None  # winning rule id with the live rules
    after: str | None  # with the edited rules
    dollars: float  # what the change adds per request (negative: saves)
    latency_ms: float


@dataclass(frozen=True, slots=True)
class Sample:
    request: Recorded
    rule_id: str
    rule_intent: str
    agrees: bool | None  # None: the request's intent is not known


@dataclass(slots=True)
class BacktestResult:
    total: int
    fast_before: int
    fast_after: int
    # Changes as plain tuples (row, kind, before, after, dollars, latency): a wide edit
    # moves thousands of rows, and objects kept alive across keystrokes push the GIL-held
    # full garbage collections (~100 ms here) that stall the GUI.
    change_rows: list[ChangeRow]
    # Conflicts as row numbers and rule ids (ints and string tuples: nothing for the
    # garbage collector to walk; a big rule set can conflict on thousands of rows).
    conflict_rows: list[int]
    conflict_ids: list[tuple[str, ...]]
    traffic: RecordedTraffic
    precision: dict[str, tuple[int, int]]  # rule id -> (agreeing, with a known intent)
    samples: list[Sample]
    span_s: float  # from the oldest to the newest request replayed
    dollars_delta: float  # over the whole sample (negative: saved)
    latency_delta_ms: float
    focus: str | None = None
    costs: PathCosts = field(default_factory=lambda: PathCosts(0.0, 0.0, 0.0))
    # The same with the live rules: what a drop in precision is measured against.
    precision_before: dict[str, tuple[int, int]] = field(default_factory=dict)

    def conflicts_head(self, n: int) -> list[tuple[Recorded, tuple[str, ...]]]:
        return [(self.traffic[i], ids)
                for i, ids in zip(self.conflict_rows[:n], self.conflict_ids, strict=False)]

    @property
    def conflicts(self) -> list[tuple[Recorded, tuple[str, ...]]]:
        """Requests more than one rule matches, with every matching rule's id."""
        return self.conflicts_head(len(self.conflict_rows))

    def _change(self, row: ChangeRow) -> Change:
        i, kind, before, after, dollars, latency_ms = row
        return Change(self.traffic[i], kind, before, after, dollars, latency_ms)

    @property
    def changes(self) -> list[Change]:
        """Requests whose winning rule differs, as `Change`s (built on demand)."""
        return [self._change(row) for row in self.change_rows]

    def changes_head(self, n: int) -> list[Change]:
        """The first `n` changes: what a list on screen shows of thousands."""
        return [self._change(row) for row in self.change_rows[:n]]

    def count(self, kind: ChangeKind) -> int:
        return sum(1 for row in self.change_rows if row[1] == kind)

    def of_kind(self, kind: ChangeKind) -> list[Change]:
        return [self._change(row) for row in self.change_rows if row[1] == kind]

    @property
    def gained(self) -> list[Change]:
        return self.of_kind("gained")

    @property
    def lost(self) -> list[Change]:
        return self.of_kind("lost")

    def share(self, fast: int) -> float:
        return fast / self.total if self.total else 0.0

    @property
    def per_day(self) -> float:
        """Multiplier from the sample to a day at the recorded rate."""
        return 86_400.0 / max(self.span_s, _MIN_SPAN_S)

    @property
    def dollars_per_day(self) -> float:
        return self.dollars_delta * self.per_day

    @property
    def latency_s_per_day(self) -> float:
        return self.latency_delta_ms / 1000 * self.per_day

    def rule_precision(self, rule_id: str) -> float | None:
        agree, known = self.precision.get(rule_id, (0, 0))
        return agree / known if known else None


@dataclass(frozen=True, slots=True)
class _Totals:
    """What the live rules make of the whole sample, kept with their routes."""

    fast: int
    precision: dict[str, tuple[int, int]]
    conflict_rows: list[int]


def _precision(set_of: Iterable[int], known: Iterable[str | None],
               winners: Sequence[Rule | None]) -> dict[str, list[int]]:
    """Rule id -> [agreeing, with a known intent] over requests answered by `winners`."""
    found: dict[str, list[int]] = {}
    for (k, intent), n in Counter(zip(set_of, known, strict=True)).items():
        rule = winners[k]
        if rule is None or intent is None:
            continue
        counts = found.setdefault(rule.id, [0, 0])
        counts[0] += n if intent == rule.intent else 0
        counts[1] += n
    return found


def _fast(set_of: Iterable[int], winners: Sequence[Rule | None]) -> int:
    return sum(n for k, n in Counter(set_of).items() if winners[k] is not None)


def _totals(routes: Routes, known: Sequence[str | None]) -> _Totals:
    conflicted = {k for k, ids in enumerate(routes.sets) if len(ids) > 1}
    precision = _precision(routes.set_of, known, routes.winners)
    return _Totals(_fast(routes.set_of, routes.winners),
                   {rid: (a, n) for rid, (a, n) in precision.items()},
                   [i for i, k in enumerate(routes.set_of) if k in conflicted])


class Backtester:
    """Replays one loaded sample of recorded traffic through rule sets."""

    def __init__(self, requests: Iterable[Recorded]) -> None:
        self.requests = RecordedTraffic.of(requests)
        self.costs = PathCosts.of(self.requests)
        times = self.requests.received_at
        self.span_s = (max(times) - min(times)) if times else 0.0
        self._live: tuple[Router, Routes, _Totals] | None = None
        self._block: TextBlock | None = None

    def _routes(self, router: Router, cancelled: Callable[[], bool]) -> tuple[Routes, _Totals]:
        if self._live is not None and self._live[0] is router:
            return self._live[1], self._live[2]
        routes = route_all(router, self.requests.normalised, cancelled)
        totals = _totals(routes, self.requests.known)
        self._live = (router, routes, totals)  # the live router is reused edit after edit
        return routes, totals

    def topped_up(self, rows: Iterable[Sequence[Any]], limit: int,
                  cancelled: Callable[[], bool] = lambda: False) -> Backtester:
        """A backtester over this sample with `rows` in it (`recorded_since`'s: requests
        recorded, re-run or labelled since this one was read), cut to the newest
        `limit`, as a whole read would give it now. The live routes come along, with
        only `rows` routed: its first backtest is as quick as this one's next. This
        backtester is left as it was."""
        fresh = RecordedTraffic(rows)
        old = self.requests
        splice = plan(old.ids, old.received_at, fresh.ids, fresh.received_at, limit)
        topped = Backtester(old.spliced(splice, fresh))
        if self._live is not None:
            router, routes, _ = self._live
            carried = spliced(routes, splice, route_all(router, fresh.normalised, cancelled))
            topped._live = (router, carried, _totals(carried, topped.requests.known))
        if self._block is not None:
            topped._block = self._block.spliced(splice, old.normalised, fresh.normalised)
        return topped

    def _rerouted(self, live: Router, routes: Routes, edited: Router,
                  cancelled: Callable[[], bool]) -> Rerouted:
        if edited is live:
            return Rerouted([], [], [], [], frozenset())
        if self._block is None:
            self._block = TextBlock(self.requests.normalised)
        found = reroute(routes, live, edited, self._block, cancelled)
        if found is None:
            found = reroute_all(route_all(edited, self.requests.normalised, cancelled))
        return found

    def run(self, live: Router, edited: Router, *, focus: str | None = None,
            cancelled: Callable[[], bool] = lambda: False) -> BacktestResult:
        """`focus`: a rule id whose matches are listed as samples (else every rule's)."""
        routes, totals = self._routes(live, cancelled)
        moved = self._rerouted(live, routes, edited, cancelled)
        traffic = self.requests
        known = traffic.known
        rows = moved.rows
        whole = len(rows) == len(traffic)
        # Routed whole: the columns themselves, not a million-item list of each.
        live_of: Sequence[int] = routes.set_of if whole else [routes.set_of[i] for i in rows]
        known_of = known if whole else [known[i] for i in rows]
        # The live totals, less what the re-routed requests gave them, plus what they give now.
        fast_after = (totals.fast - _fast(live_of, routes.winners)
                      + _fast(moved.set_of, moved.winners))
        precision = {rid: [a, n] for rid, (a, n) in totals.precision.items()}
        for rid, (a, n) in _precision(live_of, known_of, routes.winners).items():
            precision[rid][0] -= a
            precision[rid][1] -= n
        for rid, (a, n) in _precision(moved.set_of, known_of, moved.winners).items():
            counts = precision.setdefault(rid, [0, 0])
            counts[0] += a
            counts[1] += n
        conflicts = [(i, moved.sets[k]) for i, k in zip(rows, moved.set_of, strict=True)
                     if len(moved.sets[k]) > 1]
        if not whole:
            moved_rows = set(rows)
            conflicts += [(i, routes.sets[routes.set_of[i]]) for i in totals.conflict_rows
                          if i not in moved_rows]
            conflicts.sort()
        changes, dollars, latency = self._changes(routes, moved, live_of)
        return BacktestResult(
            total=len(traffic), fast_before=totals.fast, fast_after=fast_after,
            change_rows=changes, conflict_rows=[i for i, _ in conflicts],
            conflict_ids=[ids for _, ids in conflicts], traffic=traffic,
            precision={k: (a, n) for k, (a, n) in precision.items() if n},
            samples=self._samples(routes, moved, focus), span_s=self.span_s,
            dollars_delta=dollars, latency_delta_ms=latency, focus=focus, costs=self.costs,
            precision_before=dict(totals.precision))

    def _changes(self, routes: Routes, moved: Rerouted,
                 live_of: Sequence[int]) -> tuple[list[ChangeRow], float, float]:
        """Requests whose winning rule differs, and what the moves add in all."""
        before = [rule.id if rule else None for rule in routes.winners]
        after = [rule.id if rule else None for rule in moved.winners]
        changes: list[ChangeRow] = []
        dollars = latency = 0.0
        for i, old_k, new_k in zip(moved.rows, live_of, moved.set_of, strict=True):
            old_id, new_id = before[old_k], after[new_k]
            if old_id == new_id:
                continue
            if old_id is not None and new_id is not None:
                changes.append((i, "switched", old_id, new_id, 0.0, 0.0))
                continue
            gained = old_id is None
            d, ms = self.costs.delta(self.requests, i, to_fast=gained)
            changes.append((i, "gained", None, new_id, d, ms) if gained
                           else (i, "lost", old_id, None, d, ms))
            dollars += d
            latency += ms
        return changes, dollars, latency

    def _samples(self, routes: Routes, moved: Rerouted, focus: str | None) -> list[Sample]:
        """The first matches of `focus` (else of every rule) under the edit, by verdict,
        disagreements first: from the re-routed requests and from those kept as live."""
        known = self.requests.known
        Picked = dict[bool | None, list[tuple[int, Rule]]]

        def pick(candidates: Iterable[tuple[int, Rule | None]]) -> Picked:
            picked: Picked = {False: [], True: [], None: []}
            for i, rule in candidates:
                if rule is None or (focus is not None and rule.id != focus):
                    continue
                intent = known[i]
                verdict = None if intent is None else intent == rule.intent
                if len(picked[verdict]) < MAX_SAMPLES:
                    picked[verdict].append((i, rule))
                elif all(len(found) >= MAX_SAMPLES for found in picked.values()):
                    break
            return picked

        kept = pick((i, moved.winners[k]) for i, k in zip(moved.rows, moved.set_of, strict=True))
        picked: Picked = {False: [], True: [], None: []}
        # A changed rule's live matches were all re-routed: no other request answers to it.
        if len(moved.rows) < len(self.requests) and focus not in moved.changed:
            moved_rows = set(moved.rows)
            answering = {k for k, rule in enumerate(routes.winners)
                         if rule is not None and (focus is None or rule.id == focus)}
            picked = pick((i, routes.winners[k]) for i, k in enumerate(routes.set_of)
                          if k in answering and i not in moved_rows)
        chosen = [(i, rule, verdict) for verdict in (False, True, None)
                  for i, rule in sorted(kept[verdict] + picked[verdict],
                                        key=lambda pair: pair[0])[:MAX_SAMPLES]]
        return [Sample(self.requests[i], rule.id, rule.intent, verdict)
                for i, rule, verdict in chosen][:MAX_SAMPLES]


def backtest_rules(backtester: Backtester, live: Router, rules: Iterable[Rule],
                   fragments: Mapping[str, str], *, focus: str | None = None,
                   cancelled: Callable[[], bool] = lambda: False) -> BacktestResult:
    """Compiles `rules` (RuleError names a broken one) and backtests them."""
    edited = Router(rules, live.handlers, fragments=fragments)
    return backtester.run(live, edited, focus=focus, cancelled=cancelled)


def hits_since(source: Path | TrafficRepository, since: float) -> dict[str, int]:
    """Rule id -> requests it answered since `since` (the rules view's 'hits today')."""
    return _traffic(source).rule_hits_since(since)
