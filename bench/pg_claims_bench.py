"""Contested claims on PostgreSQL: several processes, as stations on several machines,
each claim every escalation of one queue at once, in an order of their own.

The queue is filled as the engine fills it (`requests.accept`, then an escalated
outcome through the outcome writer). Each claimant process opens its own
`PostgresStorage` (its own pool), waits until every claimant is ready, then calls
`escalations.claim` on every item in a shuffled order, timing each call. The check:
exactly one winner per item, by what the processes report and by the database's
`claimed_by`; then claims/s over the whole race and each claim's p50/p99.

`python -m bench.pg_claims_bench [--items N] [--processes P]` runs it alone and
rewrites its section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import time
from collections import Counter
from typing import Any

from bench.sections import write_stamped

ITEMS = 1_000
PROCESSES = 3
LEASE_S = 3_600.0
Row = tuple[str, str, str]


def _seed(store: Any, items: int, now: float) -> list[int]:
    from agentcore.models import EscalationReason, Outcome, Request, Route, Span, Status

    for n in range(items):
        req = Request(f"I want my money back for order {n}", customer_id=n % 50 + 1,
                      id=f"claim-{n}", received_at=now - items + n)
        store.requests.accept(req)
        reason = EscalationReason.POLICY_VIOLATION
        store.requests.finish(Outcome(
            req, Route.LLM, Status.ESCALATED, intent="refund_request",
            spans=[Span("guard", req.received_at, req.received_at + 0.001)],
            errors=[f"{reason}: for a human"], escalation_reason=reason))
    store.flush()
    ids = [store.escalations.of_request(f"claim-{n}") for n in range(items)]
    if None in ids:
        raise RuntimeError("an escalated outcome left no item in the queue")
    return [int(i) for i in ids]


def claimant(url: str, password: str, ids: list[int], operator: str, now: float,
             ready: Any, start: Any, results: Any) -> None:
    """One station: its own store; every item claimed once, in its own order."""
    from agentcore.storage._pg import PostgresStorage

    store = PostgresStorage(url, password, max_connections=2)
    try:
        order = ids[:]
        random.Random(operator).shuffle(order)
        store.escalations.count(now)  # a connection open and warm before the race
        ready.put(operator)
        start.wait()
        won: list[int] = []
        times: list[float] = []
        claim = store.escalations.claim
        began = time.perf_counter()
        for item in order:
            before = time.perf_counter()
            if claim(item, operator, now, now + LEASE_S):
                won.append(item)
            times.append(time.perf_counter() - before)
        results.put((operator, won, times, began, time.perf_counter()))
    finally:
        store.close()


def contest(url: str, password: str, items: int = ITEMS, processes: int = PROCESSES,
            ) -> dict[str, Any]:
    """Seeds `items` escalations in the (empty) database at `url`, races `processes`
    claimants over them; what each won, the database's holders and the timings."""
    from agentcore.storage._pg import PostgresStorage

    now = time.time()
    store = PostgresStorage(url, password)
    try:
        ids = _seed(store, items, now)
    finally:
        store.close()
    ctx = multiprocessing.get_context("spawn")  # no forked pool threads or sockets
    ready, results, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    workers = [ctx.Process(target=claimant, args=(url, password, ids, f"station-{n}", now,
                                                  ready, start, results))
               for n in range(processes)]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=120)
    start.set()
    reports = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    store = PostgresStorage(url, password, max_connections=1)
    try:
        holders = {e.id: e.claimed_by for e in store.escalations.list(now)}
    finally:
        store.close()
    return {"ids": ids, "reports": reports, "holders": holders}


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))]


def summarise(race: dict[str, Any]) -> tuple[list[Row], bool]:
    """The table's rows, and whether every item had exactly one winner both ways."""
    ids, reports, holders = race["ids"], race["reports"], race["holders"]
    wins = Counter(item for _, won, _, _, _ in reports for item in won)
    reported_once = all(wins[i] == 1 for i in ids) and len(wins) == len(ids)
    by_winner = {item: op for op, won, _, _, _ in reports for item in won}
    agrees = all(holders.get(i) == by_winner.get(i) for i in ids)
    ok = reported_once and agrees
    times = [t for _, _, ts, _, _ in reports for t in ts]
    wall = max(end for *_, end in reports) - min(began for *_, began, _ in reports)
    split = ", ".join(f"{op} {len(won)}" for op, won, *_ in sorted(reports))
    rows = [
        (f"contested claims on PostgreSQL: {len(reports)} processes each claim all "
         f"{len(ids):,} escalations (shuffled)",
         f"{'exactly one winner each' if ok else 'NOT one winner each'}: "
         f"{sum(1 for i in ids if wins[i] == 1):,} of {len(ids):,} reported once, "
         f"claimed_by agrees on {sum(1 for i in ids if holders.get(i) == by_winner.get(i)):,}",
         f"wins: {split}; {sum(wins.values()) - len(wins)} double wins"),
        ("contested claims: throughput over the race, and each claim's time",
         f"{len(times) / wall:,.0f} claims/s; p50 {_percentile(times, 50) * 1000:.2f} ms, "
         f"p99 {_percentile(times, 99) * 1000:.2f} ms",
         f"{len(times):,} claims in {wall:.2f} s, won or refused"),
    ]
    return rows, ok


def run(results: list[Row], items: int = ITEMS, processes: int = PROCESSES) -> bool:
    from bench.pg_server import NoServer, database

    try:
        with database("claims") as db:
            rows, ok = summarise(contest(db.url, db.password, items, processes))
    except NoServer as exc:
        results.append(("contested claims on PostgreSQL", "not run", str(exc)))
        return False
    results.extend(rows)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=ITEMS)
    parser.add_argument("--processes", type=int, default=PROCESSES)
    args = parser.parse_args()
    rows: list[Row] = []
    run(rows, args.items, args.processes)
    print(write_stamped("Contested claims on PostgreSQL (bench/pg_claims_bench.py)",
                        "a race of its own: no baseline", rows))


if __name__ == "__main__":
    main()
