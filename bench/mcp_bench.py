"""The demo shop over MCP (issue 15): what a tool call costs over the wire, whether the
demo answers the same with its tools in another process, and how soon a restarted
server serves again.

1. Per call: one read (`get_order`, the shop's own lookup) through the engine's MCP
   client (`ToolServer.call`) to the shop's server over stdio and over Streamable
   HTTP on loopback, against the in-process tool (`ToolRegistry.call`) doing the
   same work in the same run: µs over in process, and the ratio. Sequential calls,
   median of rounds; both processes share these cores with whatever else runs.
2. The demo corpus (data/requests.jsonl, the mock LLM) replayed with the shop in
   process and with it over MCP (stdio), interleaved: mean and p95 latency ratios,
   and the requests whose answer or route differ (goal: none).
3. Reconnect: the stdio server killed with SIGKILL, the HTTP one stopped and started
   again on its port; the time until a call works again (the client's backoff
   starts at `FIRST_RETRY_S`).

`python -m bench.mcp_bench` runs it alone and rewrites its section of RESULTS.md.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.sections import write_stamped

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "data" / "requests.jsonl"
CALLS = 300  # per round
ROUNDS = 5
REPLAY_ROWS = 300
Row = tuple[str, str, str]


def _order(shop_path: Path) -> tuple[int, int]:
    from agentcore.demo_shop.repository import Shop

    shop = Shop(shop_path)
    try:
        row = shop.conn.execute("SELECT id, customer_id FROM orders ORDER BY id LIMIT 1"
                                ).fetchone()
        return int(row[0]), int(row[1])
    finally:
        shop.close()


def _meta(customer_id: int) -> dict[str, Any]:
    return {"idempotency_key": "bench", "request_id": "bench", "customer_id": customer_id,
            "approved": False, "override": None}


def _cpu_s(pid: int) -> float:
    """User and system CPU seconds of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _per_call_us(call: Callable[[], Awaitable[Any]],
                       server_pid: int | None = None) -> tuple[float, float, float]:
    """Median µs a call (wall), and the CPU µs a call of this process and the server's
    over all rounds: on shared cores the wall time waits for others' work too, the
    CPU time is what the call itself costs (its sum bounds an idle machine's wall)."""
    for _ in range(30):  # warm: imports, statement caches, the HTTP connection
        await call()
    rounds = []
    cpu, server_cpu = time.process_time(), _cpu_s(server_pid) if server_pid else 0.0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(CALLS):
            await call()
        rounds.append((time.perf_counter() - started) / CALLS * 1e6)
    n = ROUNDS * CALLS
    return (statistics.median(rounds), (time.process_time() - cpu) / n * 1e6,
            (_cpu_s(server_pid) - server_cpu) / n * 1e6 if server_pid else 0.0)


async def _started(config: Any) -> Any:
    from agentcore.tool_servers._connection import ToolServer
    from agentcore.tool_servers._report import ServerState

    server = ToolServer(config, secret=lambda _name: None)
    await server.start()
    if server.state is not ServerState.READY:
        raise RuntimeError(f"the shop's MCP server did not start: {server.detail}")
    return server


async def bench_per_call(results: list[Row], shop_path: Path) -> None:
    from agentcore.demo_shop.mcp import MODULE, HttpShopServer, server_config
    from agentcore.demo_shop.repository import Shop
    from agentcore.demo_shop.tools import shop_registry
    from agentcore.tools import ToolContext

    order_id, customer_id = _order(shop_path)
    args = {"order_id": order_id}
    shop = Shop(shop_path)
    registry = shop_registry(shop)
    ctx = ToolContext("bench", customer_id)
    local, _, _ = await _per_call_us(lambda: registry.call("get_order", args, ctx, 10))
    shop.close()
    results.append(("get_order in process (ToolRegistry.call)", f"{local:.1f} µs", "baseline"))
    with HttpShopServer(shop_path) as http:
        assert http.process is not None
        for label, config in (("stdio", server_config("stdio", shop_path)),
                              ("Streamable HTTP, loopback",
                               server_config("http", shop_path, port=http.port))):
            server = await _started(config)
            pid = (_find_child(MODULE, besides=http.process.pid) if config.command
                   else http.process.pid)
            try:
                async def call(server: Any = server) -> None:
                    result = await server.call("get_order", args, meta=_meta(customer_id),
                                               timeout_s=10)
                    if result.is_error:
                        raise RuntimeError(result.text)
                us, client_cpu, server_cpu = await _per_call_us(call, pid)
            finally:
                await server.close()
            results.append((f"get_order over MCP, {label}", f"+{us - local:,.0f} µs a call "
                            f"({us / local:,.0f}x); CPU a call: client {client_cpu:,.0f} µs, "
                            f"server {server_cpu:,.0f} µs", f"in process, {local:.1f} µs"))


def _find_child(pattern: str, besides: int | None = None) -> int:
    """The pid of our child process whose command line holds `pattern` (not `besides`)."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and pattern.encode() in cmdline and int(entry) != besides:
            return int(entry)
    raise RuntimeError(f"no child process runs {pattern}")


async def _until_a_call_works(server: Any, args: dict[str, Any], customer_id: int) -> float:
    """Seconds until a call succeeds, calling again at each state change of the
    server (or every 20 ms, what a caller retrying would do)."""
    from agentcore.errors import ToolServerError

    started = time.perf_counter()
    while True:
        try:
            result = await server.call("get_order", args, meta=_meta(customer_id), timeout_s=10)
            if not result.is_error:
                return time.perf_counter() - started
        except ToolServerError:
            pass
        await asyncio.sleep(0.02)
        if time.perf_counter() - started > 60:
            raise RuntimeError("the shop's server did not come back within 60 s")


async def bench_reconnect(results: list[Row], shop_path: Path) -> None:
    from agentcore.demo_shop.mcp import MODULE, HttpShopServer, server_config
    from agentcore.tool_servers._connection import FIRST_RETRY_S

    order_id, customer_id = _order(shop_path)
    args = {"order_id": order_id}
    server = await _started(server_config("stdio", shop_path))
    try:
        times = []
        for _ in range(3):
            os.kill(_find_child(MODULE), signal.SIGKILL)
            times.append(await _until_a_call_works(server, args, customer_id))
    finally:
        await server.close()
    results.append(("reconnect after kill -9 of the stdio server",
                     f"{statistics.median(times):.2f} s until a call works",
                     f"a new process's start; first retry after {FIRST_RETRY_S:g} s"))

    http = HttpShopServer(shop_path)
    http.start()
    server = await _started(server_config("http", shop_path, port=http.port))
    try:
        times, starts = [], []
        for _ in range(3):
            port = http.port
            started = time.perf_counter()
            http.stop()
            http = HttpShopServer(shop_path, port=port)
            await asyncio.to_thread(http.start)
            starts.append(time.perf_counter() - started)
            times.append(await _until_a_call_works(server, args, customer_id) + starts[-1])
    finally:
        await server.close()
        http.stop()
    results.append(("reconnect after a restart of the HTTP server",
                     f"{statistics.median(times):.2f} s until a call works",
                     f"of which {statistics.median(starts):.2f} s the server's own restart"))


# -- the corpus, with the shop in process and over MCP ------------------------------------


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


async def _replay_once(shop_path: Path, rows: list[dict[str, Any]], over_mcp: bool
                       ) -> tuple[list[Any], list[float]]:
    import shutil
    import tempfile

    from agentcore.demo_shop.mcp import server_config
    from agentcore.engine import Engine
    from agentcore.models import Request
    from bench.workloads import bench_settings, mock_client

    data = Path(tempfile.mkdtemp(prefix="bench-mcp-"))
    shutil.copy(shop_path, data / "shop.sqlite")
    settings = bench_settings(data)
    if over_mcp:
        settings.tool_servers.append(server_config("stdio", settings.shop_path))
    engine = Engine(settings, openai_client=mock_client())
    outcomes, latencies = [], []
    try:
        await engine.start()
        for row in rows:  # one at a time: latency, not throughput
            started = time.perf_counter()
            outcomes.append(await engine.submit(Request(
                row["text"], customer_id=row.get("customer_id"),
                channel=row.get("channel", "chat"))))
            latencies.append(time.perf_counter() - started)
    finally:
        await engine.close()
        shutil.rmtree(data, ignore_errors=True)
    return outcomes, latencies


async def bench_replay(results: list[Row], shop_path: Path) -> None:
    from agentcore.replay import load_corpus

    rows = load_corpus(CORPUS)[:REPLAY_ROWS]
    local, local_ms = await _replay_once(shop_path, rows, over_mcp=False)
    remote, remote_ms = await _replay_once(shop_path, rows, over_mcp=True)
    differ = [(a.request.text, a.route, b.route) for a, b in zip(local, remote, strict=True)
              if (a.answer, a.route, a.status) != (b.answer, b.route, b.status)]
    llm = sum(o.route == "llm" for o in local)
    results.append((f"demo corpus, {len(rows)} rows ({llm} through the LLM loop), shop over "
                    "MCP (stdio): mean latency",
                    f"{statistics.mean(remote_ms) / statistics.mean(local_ms):.2f}x",
                    f"in process, {statistics.mean(local_ms) * 1e3:.2f} ms"))
    results.append(("the same, p95 latency", f"{_p95(remote_ms) / _p95(local_ms):.2f}x",
                    f"in process, {_p95(local_ms) * 1e3:.2f} ms"))
    results.append(("the same: answers, routes or statuses that differ", str(len(differ)),
                    "goal 0"))
    for text, a, b in differ[:5]:
        print(f"differs ({a} -> {b}): {text[:80]}")


def run(results: list[Row]) -> None:
    from bench.workloads import fresh_data_dir

    shop_path = fresh_data_dir() / "shop.sqlite"
    asyncio.run(bench_per_call(results, shop_path))
    asyncio.run(bench_reconnect(results, fresh_data_dir() / "shop.sqlite"))
    asyncio.run(bench_replay(results, fresh_data_dir() / "shop.sqlite"))


def write_section(results: list[Row]) -> str:
    return write_stamped("Tool servers: the demo shop over MCP (bench/mcp_bench.py)",
                         "other work shares these cores: the in-process tool, run "
                         "alongside, is the yardstick", results)

if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.ERROR)
    rows: list[Row] = []
    run(rows)
    for row in rows:
        print(" | ".join(row))
    print(write_section(rows))
