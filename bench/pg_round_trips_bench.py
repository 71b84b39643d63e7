"""The answer cache's calls to PostgreSQL over a network link: round trips and time.

A team's server is across a network from its services and stations, where each round
trip costs what the statement does not. A proxy on loopback (`SlowLink`) stands for
the link: it passes every chunk on after DELAY_MS each way and counts the round trips
(a client's burst answered by the server). Through it the bench times a bare
`SELECT 1` (the link's own round trip, the yardstick), then the cache's calls as the
engine makes them: a lookup L1 cannot answer (a customer's key and the shared one),
a lookup L1 holds the answer to (the catch-up alone), and a put. `python -m
bench.pg_round_trips_bench` writes its section of RESULTS.md.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

N = 200  # calls of each kind
DELAY_MS = 0.5  # each way
Row = tuple[str, str, str]


class SlowLink:
    """A TCP proxy on a loopback port to `target_port`, in a thread of its own."""

    def __init__(self, target_port: int, delay_s: float = DELAY_MS / 1000) -> None:
        self.round_trips = 0
        self._target, self._delay = target_port, delay_s
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait()
        assert self._server is not None
        self.port = self._server.sockets[0].getsockname()[1]

    def _run(self, ready: threading.Event) -> None:
        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            ready.set()
        self._loop.run_until_complete(start())
        self._loop.run_forever()

    async def _handle(self, client_r: asyncio.StreamReader,
                      client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self._target)
        turn = ["server"]  # who spoke last on this connection

        def spoke(who: str) -> None:
            if who == "server" and turn[0] == "client":
                self.round_trips += 1
            turn[0] = who

        await asyncio.gather(self._pipe(client_r, server_w, lambda: spoke("client")),
                             self._pipe(server_r, client_w, lambda: spoke("server")),
                             return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    heard: Callable[[], None]) -> None:
        # Each chunk is passed on DELAY later, in order, without holding up the next read.
        loop = asyncio.get_running_loop()
        try:
            while data := await reader.read(65536):
                heard()
                loop.call_at(loop.time() + self._delay, writer.write, data)
        finally:
            await asyncio.sleep(self._delay)  # after the last chunk is passed on
            writer.close()
            await writer.wait_closed()

    def close(self) -> None:
        async def shut() -> None:
            if self._server is not None:
                self._server.close()
            # Every connection through it is closed by now: its pipes end on their own.
            piping = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if piping:
                await asyncio.wait(piping, timeout=2)
            if self._server is not None:
                await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


def _timed(link: SlowLink, call: Callable[[int], Any], n: int) -> tuple[float, int]:
    """Median ms of `call(i)`, and the median of its round trips (the odd call that also
    opens a pooled connection, or purges, takes more)."""
    times: list[float] = []
    trips: list[int] = []
    for i in range(n):
        before = link.round_trips
        started = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - started) * 1000)
        trips.append(link.round_trips - before)
    return statistics.median(times), int(statistics.median_low(trips))


def measure(url: str, password: str, n: int = N) -> list[Row]:
    import psycopg

    from agentcore.cache import AnswerCache, CacheSettings
    from agentcore.clock import SystemClock
    from agentcore.demo_shop.domain import CACHE_TAGS
    from agentcore.models import Route
    from agentcore.storage._pg import PostgresStorage

    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    link = SlowLink(port)
    slow_url = url.replace(f":{port}/", f":{link.port}/")
    try:
        with psycopg.connect(slow_url, password=password, autocommit=True) as conn:
            select_ms, _ = _timed(link, lambda i: conn.execute("SELECT 1").fetchone(), n)
        store = PostgresStorage(slow_url, password)
        cache = AnswerCache(store.answer_cache(), CacheSettings(), SystemClock(), CACHE_TAGS)
        try:
            def put(i: int) -> None:
                assert cache.store("shared", f"question {i}", None, answer="an answer",
                                   intent="faq", rule_id=None, route=Route.LLM,
                                   tags=[f"faq:{i}"], since=cache.position)

            put_ms, put_trips = _timed(link, put, n)
            held_ms, held_trips = _timed(  # in L1 since its put
                link, lambda i: cache.lookup(f"question {i}", None), n)
            miss_ms, miss_trips = _timed(link, lambda i: cache.lookup(f"no question {i}", 7), n)
        finally:
            cache.close()
            store.close()
    finally:
        link.close()

    def said(ms: float, trips: int) -> str:
        return f"{ms:.1f} ms, {trips} round trip{'s' if trips != 1 else ''} ({ms / select_ms:.1f}x)"

    return [(f"answer cache over a network link (loopback through a proxy adding {DELAY_MS:g}"
             f" ms each way; SELECT 1: {select_ms:.1f} ms): a lookup L1 cannot answer"
             " (a customer's key and the shared one)", said(miss_ms, miss_trips),
             "against SELECT 1 through the same link"),
            ("  a lookup L1 holds the answer to (the catch-up on the invalidation log)",
             said(held_ms, held_trips), "the freshness check every lookup makes"),
            ("  a put (the write lock, the check, the entry and its tags, committed)",
             said(put_ms, put_trips), "")]


def run(results: list[Row]) -> None:
    from bench.pg_server import NoServer, database

    try:
        with database("links") as db:
            results.extend(measure(db.url, db.password))
    except NoServer as exc:
        results.append(("answer cache over a network link", "not run", str(exc)))


def main() -> None:
    from bench.sections import write_stamped

    rows: list[Row] = []
    run(rows)
    print(write_stamped("The answer cache over a network link (bench/pg_round_trips_bench.py)",
                        "SELECT 1 through the same link", rows))


if __name__ == "__main__":
    main()
