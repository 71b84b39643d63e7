"""Where a backtest's requests go: under the live rules once, under each edit by difference.

Every recorded request is routed through the live router once (one Set match each)
and kept as an index into the few distinct sets of matching rules, each with its
winner: a million requests are a compact array, with nothing for the garbage
collector to walk. An edit then re-routes only the requests it can touch, those a
changed rule matched under the live rules and those a changed rule's new pattern
matches (one scan of all the texts per changed rule, `rule_scan`); every other
request keeps its live answer, since its rules, their order and priorities are the
same. An edit that changes more (many rules, an order of rules, a pattern the scan
cannot take) is routed whole, each request through the edited router.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agentcore.backtest_sample import Splice
from agentcore.errors import BacktestCancelled
from agentcore.router import Router, Rule
from agentcore.rule_scan import POLL_EVERY, TextBlock

# Changed rules scanned one by one at most: each scan costs about a tenth of routing
# every request through the whole set.
MAX_SCANNED = 4


@dataclass(slots=True)
class Routes:
    """Each request's set of matching rules, as an index into distinct sets."""

    set_of: array[int]  # request -> index into `sets`
    sets: list[tuple[str, ...]]  # ids of the matching rules, in the router's order
    winners: list[Rule | None]  # per set: the rule that answers


def route_all(router: Router, texts: Sequence[str],
              cancelled: Callable[[], bool]) -> Routes:
    """Every text through `router`, one Set match each."""
    return Routes(*router.route_all(texts, cancelled))


def spliced(routes: Routes, splice: Splice, fresh: Routes) -> Routes:
    """`routes` of a sample, with those of the fresh rows `splice` puts into it (routed
    through the same router): a topped-up sample's live routes."""
    sets, winners = list(routes.sets), list(routes.winners)
    index = {ids: k for k, ids in enumerate(sets)}
    remap: list[int] = []
    for ids, winner in zip(fresh.sets, fresh.winners, strict=True):
        k = index.get(ids)
        if k is None:
            k = index[ids] = len(sets)
            sets.append(ids)
            winners.append(winner)
        remap.append(k)
    set_of = splice.spliced_array(routes.set_of, [remap[k] for k in fresh.set_of])
    return Routes(set_of, sets, winners)


@dataclass(slots=True)
class Rerouted:
    """The requests an edit re-routed (in order) and their sets under the edit."""

    rows: Sequence[int]
    set_of: Sequence[int]  # parallel to `rows`: index into `sets`
    sets: list[tuple[str, ...]]
    winners: list[Rule | None]
    changed: frozenset[str]  # rules whose live matches were all re-routed


def reroute(live: Routes, live_router: Router, edited: Router, block: TextBlock,
            cancelled: Callable[[], bool]) -> Rerouted | None:
    """The requests `edited` may answer differently from `live_router`, re-routed by
    difference; None when the edit has to be routed whole."""
    before = live_router.enabled()
    after = edited.enabled()
    old = {rule.id: (rule, pattern) for rule, pattern in before}
    new = {rule.id: (rule, pattern) for rule, pattern in after}
    same = {rid for rid, entry in old.items() if new.get(rid) == entry}
    if ([r.id for r, _ in before if r.id in same] != [r.id for r, _ in after if r.id in same]):
        return None  # the unchanged rules moved among themselves: every winner may move
    gone = frozenset(old.keys() - same)  # changed, disabled or deleted
    scanned = [rule.id for rule, _ in after if rule.id not in same]
    if len(scanned) > MAX_SCANNED or not block.usable:
        return None
    found: dict[str, set[int]] = {}
    for rid in scanned:
        try:
            found[rid] = set(edited.rows_matching(rid, block, cancelled))
        except ValueError:
            return None
    touched_sets = {k for k, ids in enumerate(live.sets) if gone.intersection(ids)}
    rows: set[int] = set().union(*found.values())
    if touched_sets:
        rows.update(i for i, k in enumerate(live.set_of) if k in touched_sets)
    order = {rule.id: n for n, (rule, _) in enumerate(after)}
    rank = {rule.id: (rule.priority, -n) for n, (rule, _) in enumerate(after)}
    sets: list[tuple[str, ...]] = []
    winners: list[Rule | None] = []
    index: dict[tuple[int, tuple[str, ...]], int] = {}
    ordered = sorted(rows)
    set_of: list[int] = []
    for n, i in enumerate(ordered):
        if n % POLL_EVERY == 0 and cancelled():
            raise BacktestCancelled("superseded")
        live_k = live.set_of[i]
        added = tuple(rid for rid in scanned if i in found[rid])
        k = index.get((live_k, added))
        if k is None:
            ids = sorted((*(x for x in live.sets[live_k] if x not in gone), *added),
                         key=order.__getitem__)
            k = index[(live_k, added)] = len(sets)
            sets.append(tuple(ids))
            winners.append(new[max(ids, key=rank.__getitem__)][0] if ids else None)
        set_of.append(k)
    return Rerouted(ordered, set_of, sets, winners, gone)


def reroute_all(routes: Routes) -> Rerouted:
    """An edit routed whole (`route_all` with the edited router) as a re-routing of
    every request."""
    return Rerouted(range(len(routes.set_of)), routes.set_of, routes.sets, routes.winners,
                    frozenset())
