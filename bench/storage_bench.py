"""The engine database's cost per request: SQLite statements on the fast and the slow
path, and the share of a replay's CPU spent in storage.

Statements are counted with `sqlite3.Connection.set_trace_callback` on the store's
connections (the event loop's and the outcome writer's; the answer cache's own
connection is counted apart), over N requests with the cache off, so every request
takes its path. The CPU share is cProfile's, on the event loop's thread, over a
replay of the sample corpus: time under agentcore/storage (and the sqlite3 calls it
makes); the outcome writer's thread is measured apart (psutil), since it runs off
the loop. `python -m bench.storage_bench` prints the rows alone.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from agentcore import Engine, Request
from agentcore.demo_shop.repository import Shop
from agentcore.replay import load_corpus, replay
from bench.workloads import bench_settings, billing_requests, fresh_data_dir, mock_client

REPO = Path(__file__).resolve().parent.parent
N = 300


def _trace(engine: Engine, callback: Callable[[str], None] | None) -> None:
    store: Any = engine.store
    if hasattr(store, "trace"):
        store.trace(callback)
    else:  # the storage of before this package: one connection
        store.conn.set_trace_callback(callback)


def _flush(engine: Engine) -> None:
    flush = getattr(engine.store, "flush", None)
    if flush is not None:
        flush()


async def _statements(texts: list[tuple[str, int | None]], path: str) -> float:
    data = fresh_data_dir()
    settings = bench_settings(data)
    settings.cache.enabled = False  # each request takes its path, not a cached answer
    engine = Engine(settings, openai_client=mock_client())
    try:
        for text, cid in texts[:20]:  # warm: rules seeded, the loop built
            await engine.submit(Request(text, customer_id=cid))
        _flush(engine)
        seen: list[str] = []
        _trace(engine, seen.append)
        for text, cid in texts[:N]:
            outcome = await engine.submit(Request(text, customer_id=cid))
            if str(outcome.route) != path:
                raise RuntimeError(f"expected the {path} path, got {outcome.route}")
        _flush(engine)
        _trace(engine, None)
        return len(seen) / min(N, len(texts))
    finally:
        await engine.close()


_CACHE_L2 = ("agentcore/storage/_answer_cache", "agentcore/cache/_sqlite")  # after, before
_ENGINE_DB = ("agentcore/storage", "agentcore/sqlite_tx")


def _storage_seconds(stats: pstats.Stats, parts: tuple[str, ...],
                     leave_out: tuple[str, ...] = ()) -> float:
    """Cumulative seconds of the functions in `parts` (less `leave_out`), counted where
    other code calls them (so nested calls are not counted twice)."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]

    def in_storage(func: tuple[str, int, str]) -> bool:
        return any(p in func[0] for p in parts) and not any(p in func[0] for p in leave_out)

    total = 0.0
    for func, (_cc, _nc, _tt, _ct, callers) in raw.items():
        if not in_storage(func):
            continue
        for caller, (_c, _n, _t, ct) in callers.items():
            if not in_storage(caller):
                total += ct
    return total


async def _profiled_replay() -> tuple[float, float, float, float]:
    """(share of the loop thread's CPU in requests/outcomes/queue/rules storage, in the
    answer cache's L2, writer thread CPU share of the process, CPU ms per request)."""
    rows = load_corpus(REPO / "data" / "requests.jsonl")
    data = fresh_data_dir()
    engine = Engine(bench_settings(data), openai_client=mock_client())
    try:
        await replay(engine, rows[:50], concurrency=8, progress=False)  # warm
        proc = psutil.Process()
        cpu_before = sum(proc.cpu_times()[:2])
        writer = next((t for t in threading.enumerate() if t.name == "agentcore-outcome-writer"),
                      None)

        def thread_cpu() -> float:
            if writer is None:
                return 0.0
            for t in proc.threads():
                if t.id == writer.native_id:
                    return float(t.user_time + t.system_time)
            return 0.0

        writer_before = thread_cpu()
        profile = cProfile.Profile(time.thread_time)
        profile.enable()
        outcomes, _ = await replay(engine, rows, concurrency=8, progress=False)
        _flush(engine)
        profile.disable()
        process_cpu = sum(proc.cpu_times()[:2]) - cpu_before
        writer_cpu = thread_cpu() - writer_before
    finally:
        await engine.close()
    stats = pstats.Stats(profile)
    loop_cpu: float = stats.total_tt  # type: ignore[attr-defined]
    loop_cpu = loop_cpu or 1.0
    share = _storage_seconds(stats, _ENGINE_DB, leave_out=_CACHE_L2) / loop_cpu
    cache = _storage_seconds(stats, _CACHE_L2) / loop_cpu
    return share, cache, writer_cpu / process_cpu if process_cpu else 0.0, (
        process_cpu / len(outcomes) * 1000)


def run(results: list[tuple[str, str, str]]) -> None:
    data = fresh_data_dir()
    shop = Shop(data / "shop.sqlite")
    slow = [(t, c) for t, c in billing_requests(shop, N + 20)]
    shop.close()
    fast: list[tuple[str, int | None]] = [
        (r["text"], r.get("customer_id")) for r in load_corpus(REPO / "data" / "requests.jsonl")
        if r.get("expected_route") == "rule" and r.get("customer_id")]
    fast_n = asyncio.run(_statements(fast, "rule"))
    slow_n = asyncio.run(_statements(slow, "llm"))  # type: ignore[arg-type]
    results.append(("engine database: SQLite statements per request, fast path / slow path",
                    f"{fast_n:.1f} / {slow_n:.1f}",
                    "accept, outcome, spans, commits (batched: BEGIN/COMMIT shared)"))
    share, cache, writer, cpu_ms = asyncio.run(_profiled_replay())
    results.append(("engine database: share of the event loop's CPU in storage (requests, "
                    "outcomes, queue, rules), corpus replay", f"{share:.1%}",
                    f"answer cache L2 {cache:.1%} more; outcome writer thread {writer:.1%} of "
                    f"process CPU, off the loop; {cpu_ms:.2f} ms CPU per request"))


if __name__ == "__main__":
    rows: list[tuple[str, str, str]] = []
    run(rows)
    for measure, result, against in rows:
        print(f"| {measure} | {result} | {against} |")
