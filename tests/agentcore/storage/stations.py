"""Stations in processes of their own writing one database at once (test_rules,
test_answer_cache_log): each opens its own store, as a console on another machine
would, and starts writing once every process is ready."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from typing import Any

from tests.agentcore.storage.queues import open_queue


def run_stations(target: Callable[..., None], backend: tuple[str, str, str | None],
                 stations: int, *args: Any) -> list[Any]:
    """Runs `target(backend, station, start, results, *args)` in `stations` processes
    at once; returns what they put in `results`, failing if one of them failed."""
    ctx = multiprocessing.get_context("spawn")  # no forked pool threads or sockets
    start, results = ctx.Barrier(stations), ctx.Queue()
    workers = [ctx.Process(target=target, args=(backend, n, start, results, *args))
               for n in range(stations)]
    for worker in workers:
        worker.start()
    got = []
    for _ in workers:
        got.append(results.get(timeout=120))
    for worker in workers:
        worker.join(timeout=60)
    failed = [g for g in got if isinstance(g, str) and g.startswith("failed:")]
    assert not failed, failed
    assert all(w.exitcode == 0 for w in workers)
    return got


def _threads(run: Callable[[int], Any], threads: int) -> list[Any]:
    """`run(thread)` from `threads` threads at once; their results."""
    ready = threading.Barrier(threads)
    out: list[Any] = [None] * threads

    def each(n: int) -> None:
        ready.wait()
        out[n] = run(n)

    workers = [threading.Thread(target=each, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return out


def save_rule_sets(backend: tuple[str, str, str | None], station: int, start: Any,
                   results: Any, threads: int, rounds: int) -> None:
    """Each thread saves its own rule set `rounds` times, with a version each time,
    and records a bare version as often; puts the version ids it was given."""
    from tests.agentcore.storage.test_rules import rule_set, version_of

    # A store per thread: SQLite's rules share the engine's one connection, used from
    # one thread; on PostgreSQL each is another pool, as another console's would be.
    stores = [open_queue(*backend) for _ in range(threads)]
    try:
        def run(thread: int) -> list[int]:
            name, rules_of = f"s{station}t{thread}", stores[thread].rules
            rules, fragments = rule_set(name)
            ids = []
            for i in range(rounds):
                rules_of.save_rules(rules, fragments, version_of(rules, fragments, name, i))
                ids.append(rules_of.add_version(version_of(rules, fragments, name, i,
                                                           action="seed")))
            return ids

        start.wait()
        ids = [i for got in _threads(run, threads) for i in got]
        results.put(ids)
    except BaseException as exc:
        results.put(f"failed: {exc!r}")
    finally:
        for store in stores:
            store.close()


def save_on_top(backend: tuple[str, str, str | None], station: int, start: Any,
                results: Any, threads: int, rounds: int) -> None:
    """Each thread reads the newest version and saves its set on top of it, `rounds`
    times; puts (base, saved id) of each save taken and the count refused."""
    from agentcore.errors import RulesChangedError
    from tests.agentcore.storage.test_rules import rule_set, version_of

    stores = [open_queue(*backend) for _ in range(threads)]
    try:
        def run(thread: int) -> tuple[list[tuple[int, int]], int]:
            name, rules_of = f"s{station}t{thread}", stores[thread].rules
            rules, fragments = rule_set(name)
            taken, refused = [], 0
            for i in range(rounds):
                base = rules_of.latest_version_id() or 0
                try:
                    saved = rules_of.save_rules(rules, fragments,
                                                version_of(rules, fragments, name, i),
                                                base=base)
                except RulesChangedError:
                    refused += 1
                else:
                    taken.append((base, saved))
            return taken, refused

        start.wait()
        got = _threads(run, threads)
        results.put(([t for taken, _ in got for t in taken], sum(r for _, r in got)))
    except BaseException as exc:
        results.put(f"failed: {exc!r}")
    finally:
        for store in stores:
            store.close()


def seed_at_once(backend: tuple[str, str, str | None], station: int, start: Any,
                 results: Any, threads: int) -> None:
    """Each thread records the history's first version, as an engine's first start
    does; puts what each was given (an id, or None: one was there)."""
    from tests.agentcore.storage.test_rules import rule_set, version_of

    stores = [open_queue(*backend) for _ in range(threads)]
    try:
        def run(thread: int) -> int | None:
            rules, fragments = rule_set(f"s{station}t{thread}")
            return stores[thread].rules.seed_version(
                version_of(rules, fragments, "system", 0, action="seed"))

        start.wait()
        results.put(_threads(run, threads))
    except BaseException as exc:
        results.put(f"failed: {exc!r}")
    finally:
        for store in stores:
            store.close()
