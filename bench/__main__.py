"""`make bench`: speed and memory of the agent core, as ratios to baselines run alongside.

Writes a table to stdout and to bench/RESULTS.md with the date and machine.
These machines are noisy: each figure is the median of several rounds, and
the slow path is reported against a bare openai loop measured in the same run.
The table opens with the headline: the whole engine against an all-LLM LangChain
agent, interleaved in one run (`bench.langchain_bench`; LangChain comes from
bench/requirements-langchain.txt, which `make bench` installs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from agentcore import Engine
from agentcore.demo_shop.domain import RESOURCES
from agentcore.demo_shop.handlers import shop_handlers
from agentcore.demo_shop.repository import Shop
from agentcore.errors import NoDeterministicAnswer
from agentcore.handlers import HandlerContext
from agentcore.replay import load_corpus, replay
from agentcore.router import Router, Rule, expand
from agentcore.stored_rules import default_rules
from bench import (
    attack_bench,
    cache_bench,
    console_bench,
    console_intake_bench,
    fault_bench,
    generalisation_bench,
    intake_bench,
    langchain_bench,
    learned_bench,
    mcp_bench,
    pg_backtest_bench,
    pg_claims_bench,
    pg_round_trips_bench,
    pg_service_bench,
    real_models_bench,
    rules_bench,
    station_bench,
    storage_bench,
)
from bench.sections import table
from bench.workloads import (
    BareLoop,
    bench_settings,
    billing_requests,
    engine_fault_factory,
    engine_run,
    fresh_data_dir,
    make_engine,
)

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 5


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}")


def filler_rules(n: int) -> list[Rule]:
    """Plausible operator rules that the sample traffic does not trigger."""
    return [Rule(id=f"filler-{i}", name=f"filler {i}", pattern=rf"\bpromo\s*code\s*zx{i}q\b",
                 intent="other", handler="static", template=f"Promo zx{i}q.", priority=0)
            for i in range(n)]


def bench_fast_path(results: list[tuple[str, str, str]]) -> None:
    data = fresh_data_dir()
    shipped, fragments = default_rules(RESOURCES)
    shop = Shop(data / "shop.sqlite")
    rows = [r for r in load_corpus(REPO / "data" / "requests.jsonl")
            if r.get("expected_route") == "rule"]
    texts = [(" ".join(r["text"].split()).lower(), r.get("customer_id")) for r in rows]
    for total in (10, 100, 1000):
        enabled = [r for r in shipped if r.enabled]
        rules = enabled[:total] + filler_rules(max(0, total - len(enabled)))
        router = Router(rules, shop_handlers(shop), fragments=fragments)
        per_request = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            for _ in range(5):
                for text, customer in texts:
                    match = router.route(text)
                    if match is None:
                        continue
                    with contextlib.suppress(NoDeterministicAnswer):  # still routed work
                        router.answer(match, HandlerContext(customer, match.groups))
            per_request.append((time.perf_counter() - start) / (5 * len(texts)) * 1e6)
        results.append((f"fast path, {len(router)} rules (route + handler + template)",
                        f"{statistics.median(per_request):.1f} µs/request",
                        "target ≤ 20 µs at 1,000 rules"))
    # The same 1,000+ patterns looped one by one in Python's re, for scale.
    # (RE2's \pS, the emoji after a greeting, is \W to Python's re: the same work.)
    patterns = [re.compile(expand(r.pattern, fragments).replace(r"\pS", r"\W"), re.IGNORECASE)
                for r in shipped + filler_rules(1000)]
    sample = [t for t, _ in texts[:200]]
    start = time.perf_counter()
    for text in sample:
        for p in patterns:
            p.search(text)
    loop_us = (time.perf_counter() - start) / len(sample) * 1e6
    router = Router(shipped + filler_rules(1000), shop_handlers(shop), fragments=fragments)
    start = time.perf_counter()
    for _ in range(20):
        for text in sample:
            router.route(text)
    set_us = (time.perf_counter() - start) / (20 * len(sample)) * 1e6
    results.append((f"match only, {len(patterns)} patterns: RE2 Set vs Python re loop",
                    f"{set_us:.1f} µs vs {loop_us:.0f} µs", f"{loop_us / set_us:.0f}x faster"))
    shop.close()


async def bench_slow_path(results: list[tuple[str, str, str]]) -> None:
    data = fresh_data_dir()
    engine = make_engine(data)
    shop = Shop(data / "shop.sqlite")
    bare = BareLoop(bench_settings(data), shop)
    work = billing_requests(shop, 200)
    for text, cid in work[:20]:  # warm both (imports, caches, JIT-free but lazy paths)
        await engine_run(engine, text, cid)
        await bare.run(text, cid, "warm")
    engine_ms, bare_ms = [], []
    for r in range(ROUNDS):
        for which in ((0, 1) if r % 2 == 0 else (1, 0)):  # alternate who goes first
            start = time.perf_counter()
            for i, (text, cid) in enumerate(work):
                if which == 0:
                    await engine_run(engine, text, cid)
                else:
                    await bare.run(text, cid, f"bare-{r}-{i}")
            elapsed = (time.perf_counter() - start) / len(work) * 1000
            (engine_ms if which == 0 else bare_ms).append(elapsed)
    e, b = statistics.median(engine_ms), statistics.median(bare_ms)
    results.append(("slow path, 2 turns + 3 tools, mock at 0 ms: engine (body via the SDK's"
                    " `post`) vs bare loop (`chat.completions.create`)",
                    f"{e:.2f} ms vs {b:.2f} ms", f"{e / b:.2f}x (target ≤ 1.15x)"))

    async def throughput(run) -> float:
        gate = asyncio.Semaphore(50)

        async def one(i: int, text: str, cid: int) -> None:
            async with gate:
                await run(i, text, cid)

        start = time.perf_counter()
        await asyncio.gather(*(one(i, t, c) for i, (t, c) in enumerate(work)))
        return len(work) / (time.perf_counter() - start)

    eng_rps, bare_rps = [], []
    for r in range(ROUNDS):
        eng_rps.append(await throughput(lambda i, t, c: engine_run(engine, t, c)))
        bare_rps.append(await throughput(lambda i, t, c, r=r: bare.run(t, c, f"tp-{r}-{i}")))
    e_rps, b_rps = statistics.median(eng_rps), statistics.median(bare_rps)
    results.append(("throughput at concurrency 50, same work: engine vs bare loop",
                    f"{e_rps:.0f} vs {b_rps:.0f} req/s", f"{e_rps / b_rps:.2f}x"))
    await engine.close()
    shop.close()


def _run_child(args: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{args} failed: {proc.stderr.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss


def bench_process(results: list[tuple[str, str, str]]) -> None:
    data = fresh_data_dir()
    shop = Shop(data / "shop.sqlite")
    oid, cid = shop.conn.execute("SELECT id, customer_id FROM orders LIMIT 1").fetchone()
    shop.close()
    ask = [sys.executable, "-m", "agentcore", "--data-dir", str(data), "ask",
           f"where is my order {oid}", "--customer", str(cid)]
    _run_child(ask)  # the first run seeds the rules into the new database
    bare_python = statistics.median(_run_child([sys.executable, "-c", "pass"])[0]
                                    for _ in range(ROUNDS))
    cold = statistics.median(_run_child(ask)[0] for _ in range(ROUNDS))
    results.append(("cold start: new process to first answered request (fast path)",
                    f"{cold:.2f} s", f"target ≤ 1.0 s (bare python: {bare_python:.2f} s)"))
    replay = [sys.executable, "-m", "agentcore", "--data-dir", str(fresh_data_dir()),
              "replay", "data/requests.jsonl", "--quiet", "--concurrency", "8"]
    elapsed, rss_kib = _run_child(replay)
    results.append(("replay of the whole corpus (mock LLM, 0 ms)",
                    f"peak RSS {rss_kib / 1024:.0f} MiB", f"{elapsed:.1f} s wall"))


async def bench_cold_warm(results: list[tuple[str, str, str]]) -> None:
    """The sample corpus twice over one data folder: first cold, then in a new engine
    whose memory is empty but whose SQLite cache tier is warm."""
    rows = load_corpus(REPO / "data" / "requests.jsonl")
    data = fresh_data_dir()
    for label in ("cold", "warm"):
        engine = Engine(bench_settings(data))
        outcomes, metrics = await replay(engine, rows, concurrency=8, progress=False)
        await engine.close()
        n = len(outcomes)
        mean = statistics.fmean(o.latency_ms for o in outcomes)
        l1, l2 = metrics.routes["cache-l1"] / n, metrics.routes["cache-l2"] / n
        results.append((f"corpus replay ({n} requests), {label} cache",
                        f"{mean:.2f} ms mean, ${metrics.dollars:.3f}",
                        f"hits: L1 {l1:.0%}, L2 {l2:.0%}; LLM {metrics.routes['llm'] / n:.0%}"))


def write_results(results: list[tuple[str, str, str]], faults: list[str],
                  attacks: list[str], real_models: list[str],
                  postgres: list[tuple[str, str, str]]) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Benchmark results\n\n{now}; {machine()}\n",
             "| measure | result | against |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in results]
    lines += ["", "## Faults injected: the whole engine against the loopback mock LLM", "",
              "Each fault hits the first half of the requests; then the endpoint heals.", "",
              *faults, "", "## Attacks on the money and privacy promises", "",
              "Each attack against the whole engine and the demo shop (the mock LLM's refund "
              "playbook asks for whatever sum the text demands). Every money column must "
              "read $0.00, and fields leaked and files holding the key 0.", "", *attacks,
              "", "## Real models: the slow path against llama.cpp's server", "", *real_models,
              "", "## PostgreSQL as the shared store", "",
              "A server of the bench's own (tests/postgres_server.py) on these two cores; "
              f"load average {os.getloadavg()[0]:.1f} at the end. SQLite measured "
              "alongside in the same run.", "", *table(postgres)]
    text = "\n".join(lines) + "\n"
    (REPO / "bench" / "RESULTS.md").write_text(text, encoding="utf-8")
    return text


def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # the fault runs log every breaker trip
    results: list[tuple[str, str, str]] = []
    langchain_bench.run(results)
    generalisation_bench.run(results)
    bench_fast_path(results)
    asyncio.run(bench_slow_path(results))
    bench_process(results)
    cache_bench.run(results)
    storage_bench.run(results)
    station_bench.run(results)
    asyncio.run(bench_cold_warm(results))
    rules_bench.run(results)
    learned_bench.run(results)
    mcp_bench.run(results)
    intake_bench.run(results)
    console_bench.run(results)
    console_intake_bench.run(results)
    faults: list[str] = []
    fault_bench.run(faults, submit_factory=engine_fault_factory)
    attacks: list[str] = []
    attack_bench.run(attacks)
    real_models: list[str] = []
    real_models_bench.run(real_models)
    postgres: list[tuple[str, str, str]] = []
    pg_claims_bench.run(postgres)
    pg_backtest_bench.run(postgres)
    pg_service_bench.run(postgres)
    pg_round_trips_bench.run(postgres)
    print(write_results(results, faults, attacks, real_models, postgres))


if __name__ == "__main__":
    main()
