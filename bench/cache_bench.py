"""The answer cache: L1 and L2 hits per request, invalidation among 100,000 entries.

`run(results)` appends rows (measure, result, against) as bench/__main__.py
does; `python -m bench.cache_bench` prints them alone. Each figure is the
median of several rounds (these machines are noisy).
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from pathlib import Path

from agentcore.cache import AnswerCache, CacheSettings, normalise
from agentcore.clock import SystemClock
from agentcore.demo_shop.change_log import ShopChangeLog
from agentcore.demo_shop.domain import CACHE_TAGS
from agentcore.demo_shop.repository import Shop
from agentcore.models import Route
from agentcore.replay import load_corpus
from agentcore.storage import SQLiteStorage
from bench.workloads import fresh_data_dir

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 5
ENTRIES = 100_000


def _texts() -> list[tuple[str, int]]:
    """The sample corpus, normalised as the guard does, with its customers."""
    rows = load_corpus(REPO / "data" / "requests.jsonl")
    return [(normalise(r["text"]), int(r.get("customer_id") or 1)) for r in rows]


def _store(cache: AnswerCache, text: str, customer_id: int, order_id: int) -> None:
    cache.store("per-customer", text, customer_id, answer=f"Order {order_id} shipped on "
                "Oct 20, 2026 with DHL, tracking number 00340434161094042557. It is on its way.",
                intent="order_status", rule_id="order-status-by-number", route=Route.RULE,
                tags=[f"order:{order_id}", "shop:catalog"])


def _cache(storage: SQLiteStorage, shop: Shop, settings: CacheSettings) -> AnswerCache:
    """A cache wired as the engine wires it: L2 in the engine database (whose storage
    runs the checkpointer thread, as the engine's does), following the shop's change
    log and told of this Shop's writes."""
    cache = AnswerCache(storage.answer_cache(), settings, SystemClock(), CACHE_TAGS)
    shop.on_change(cache.changed)
    cache.follow(ShopChangeLog(shop.path))
    return cache


def _checkpoint(path: Path) -> None:
    """What the engine's checkpointer thread does every second, done at once after a
    bulk fill: without it, 100,000 stores in a few seconds leave a WAL of gigabytes
    that every read searches, which no running engine has."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        conn.close()


def _per_request_us(cache: AnswerCache, texts: list[tuple[str, int]], tier: str,
                    repeat: int) -> float:
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(repeat):
            for text, customer in texts:
                hit = cache.lookup(text, customer)
                if hit is None or hit.tier != tier:
                    raise RuntimeError(f"expected an {tier} hit for {text!r}, got {hit}")
        rounds.append((time.perf_counter() - start) / (repeat * len(texts)) * 1e6)
    return statistics.median(rounds)


def bench_hits(results: list[tuple[str, str, str]]) -> None:
    data = fresh_data_dir()
    shop = Shop(data / "shop.sqlite")
    storage = SQLiteStorage(data / "agent.sqlite")
    texts = _texts()
    # L1: every answer fits in memory.
    cache = _cache(storage, shop, CacheSettings())
    for i, (text, customer) in enumerate(texts):
        _store(cache, text, customer, 10_000 + i)
    _checkpoint(storage.path)  # or the checkpointer thread does it while lookups are timed
    l1 = _per_request_us(cache, texts, "l1", repeat=20)
    store_rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for i, (text, customer) in enumerate(texts):
            _store(cache, text, customer, 10_000 + i)
        store_rounds.append((time.perf_counter() - start) / len(texts) * 1e6)
    cache.close()
    _checkpoint(storage.path)
    # L2: memory holds one answer, so each lookup misses L1, reads SQLite and promotes.
    cache = _cache(storage, shop, CacheSettings(l1_max_entries=1))
    l2 = _per_request_us(cache, texts, "l2", repeat=3)
    cache.close()
    storage.close()
    shop.close()
    results.append(("answer cache: L1 hit (memory LRU + freshness check)",
                    f"{l1:.1f} µs/request", "target ≤ 10 µs"))
    results.append(("answer cache: L2 hit (SQLite, promoted to L1)",
                    f"{l2:.0f} µs/request", "target ≤ 300 µs"))
    results.append(("answer cache: store in both tiers (one SQLite transaction)",
                    f"{statistics.median(store_rounds):.0f} µs/answer", "on a miss only"))


def _fill(cache: AnswerCache, n: int) -> None:
    """n answers, each tagged with its own order; customers the shop doesn't have, so a
    write to a real order drops exactly the one answer about that order."""
    for i in range(n):
        _store(cache, f"where is my order {10_000 + i}", 1_000_000 + i % 2000, 10_000 + i)


def _write_ms(conn: sqlite3.Connection, order_ids: list[int], carrier: str) -> float:
    """Median ms of one committed UPDATE of an order (a real change: SQLite writes
    nothing for an UPDATE that leaves the row's bytes as they were)."""
    times = []
    for order_id in order_ids:
        start = time.perf_counter()
        conn.execute("UPDATE orders SET carrier = ? WHERE id = ?", (carrier, order_id))
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_invalidation(results: list[tuple[str, str, str]]) -> None:
    data = fresh_data_dir()
    path = data / "shop.sqlite"
    shop = Shop(path)
    # Another process's connection, writing orders the cache holds answers about.
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA synchronous=NORMAL")
    order_ids = [r[0] for r in other.execute("SELECT id FROM orders ORDER BY id LIMIT 300")]
    if order_ids[0] < 10_000 or order_ids[-1] >= 10_000 + ENTRIES:
        raise RuntimeError("the demo shop's order numbers moved; adjust _fill")
    bare_write = _write_ms(other, order_ids[200:], "UPS")  # before the change log exists
    settings = CacheSettings(l1_max_entries=ENTRIES + 1, l1_max_bytes=1 << 30)
    storage = SQLiteStorage(data / "agent.sqlite")
    cache = _cache(storage, shop, settings)
    _fill(cache, ENTRIES)
    _checkpoint(storage.path)
    times = []
    for order_id in order_ids[:50]:
        start = time.perf_counter()
        cache.invalidate([f"order:{order_id}"])
        times.append((time.perf_counter() - start) * 1000)
    results.append((f"answer cache: invalidate one tag among {ENTRIES:,} entries (both tiers)",
                    f"{statistics.median(times):.2f} ms", "L1 tag index + SQLite trigger"))
    # A write by another process: its triggers log the order's tag in its own
    # transaction; this process's next lookup reads that log and drops the answer from
    # both tiers.
    catch_up = []
    for order_id in order_ids[50:100]:
        other.execute("UPDATE orders SET carrier = 'GLS' WHERE id = ?", (order_id,))
        start = time.perf_counter()
        if cache.lookup(f"where is my order {order_id}", 1_000_000 + order_id % 2000):
            raise RuntimeError(f"order {order_id}'s answer survived a write to it")
        catch_up.append((time.perf_counter() - start) * 1e6)
    results.append(("answer cache: first lookup after another process's write (a miss)",
                    f"{statistics.median(catch_up):.0f} µs",
                    "reads the shop's change log, invalidates both tiers"))
    tagged_write = _write_ms(other, order_ids[200:], "DHL")
    results.append(("shop write logging its change for the cache (trigger, in its transaction)",
                    f"{tagged_write:.3f} ms", f"{bare_write:.3f} ms with no cache"))
    cache.lookup("anything", None)  # both tiers catch up with the last 100 writes
    stats = cache.stats
    if stats.l1_entries != ENTRIES - 200 or stats.l2_entries != ENTRIES - 200:
        raise RuntimeError(f"invalidation missed entries: {stats}")
    other.close()
    cache.close()
    storage.close()
    shop.close()


def run(results: list[tuple[str, str, str]]) -> None:
    bench_hits(results)
    bench_invalidation(results)


if __name__ == "__main__":
    rows: list[tuple[str, str, str]] = []
    run(rows)
    for measure, result, against in rows:
        print(f"| {measure} | {result} | {against} |")
