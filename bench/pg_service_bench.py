"""Service throughput at concurrency 50, the engine database on PostgreSQL against
SQLite, in the same run.

Two `agentcore serve` processes (bench/intake_bench.py's, the mock LLM at 0 ms, the
shipped settings but for the rate limits), one on the SQLite file in its data folder,
one on a PostgreSQL database of the bench's own server. 50 clients in a closed loop
each POST a corpus request with `Prefer: wait` (answered once the engine has finished
it: the whole request path, the database included) and send the next when it comes.
The backends take turns, a few rounds each, so the machine's other work falls on
both; req/s is the median round's. The CPU of `serve` and of the PostgreSQL server is reported too.

`python -m bench.pg_service_bench [--seconds S] [--rounds R]` runs it alone and
rewrites its section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.intake_bench import Child, _intake_child
from bench.intake_load import JSON, corpus_bodies, percentile
from bench.sections import write_stamped

CONCURRENCY = 50
SECONDS = 15.0
ROUNDS = 3
WARM_S = 3.0
WAIT = {"Prefer": "wait=30"}
Row = tuple[str, str, str]


@dataclass
class Round:
    answered: int = 0  # finished requests (200, or the guard's 422)
    errors: int = 0  # anything else: a 202 the wait ran out on, a 5xx, no answer
    seconds: float = 0.0
    server_cpu: float = 0.0  # cores: `agentcore serve`
    database_cpu: float = 0.0  # cores: the PostgreSQL server, when it is PostgreSQL's
    latencies_ms: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)  # the errors, by status

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0


async def closed_loop(server: Child, bodies: list[bytes], seconds: float,
                      concurrency: int = CONCURRENCY,
                      database_cpu: Callable[[], float] = lambda: 0.0) -> Round:
    """`concurrency` clients, each sending its next request when the last is answered."""
    done = Round()
    end = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=server.url, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as http:
        async def client(n: int) -> None:
            i = n
            while time.perf_counter() < end:
                sent = time.perf_counter()
                try:
                    async with http.post("/v1/requests", data=bodies[i % len(bodies)],
                                         headers={**JSON, **WAIT}) as reply:
                        await reply.read()
                        status = str(reply.status)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    status = type(exc).__name__
                ok = status in ("200", "422")
                if not ok:
                    done.failures[status] += 1
                if ok:
                    done.answered += 1
                    done.latencies_ms.append((time.perf_counter() - sent) * 1000)
                else:
                    done.errors += 1
                i += concurrency

        cpu, db_cpu, started = server.cpu_s(), database_cpu(), time.perf_counter()
        await asyncio.gather(*(client(n) for n in range(concurrency)))
        done.seconds = time.perf_counter() - started
        done.server_cpu = (server.cpu_s() - cpu) / done.seconds
        done.database_cpu = (database_cpu() - db_cpu) / done.seconds
    return done


def _keyring(folder: Path, password: str) -> dict[str, str]:
    """The tests' file keyring holding the database's password, for the PostgreSQL
    child: the environment that points it there."""
    from agentcore.settings import Settings
    from tests.keyring_backend import BACKEND_NAME, FILE_VARIABLE

    path = folder / "keyring.json"
    name = Settings().database_password_name
    path.write_text(json.dumps({"agent-console": {name: password}}), encoding="utf-8")
    return {"PYTHON_KEYRING_BACKEND": BACKEND_NAME, FILE_VARIABLE: str(path)}


async def measure(url: str, password: str, seconds: float = SECONDS,
                  rounds: int = ROUNDS) -> dict[str, list[Round]]:
    """Rounds of each backend, taking turns: "sqlite" and "postgresql"."""
    from bench.pg_server import server_cpu_s
    from bench.workloads import fresh_data_dir

    bodies = corpus_bodies()
    sqlite_dir, pg_dir = fresh_data_dir(), fresh_data_dir()
    servers = {"sqlite": _intake_child(sqlite_dir),
               "postgresql": _intake_child(pg_dir, url, _keyring(pg_dir, password))}
    found: dict[str, list[Round]] = {name: [] for name in servers}
    meters: dict[str, Callable[[], float]] = {"sqlite": lambda: 0.0,
                                              "postgresql": lambda: server_cpu_s(url)}
    try:
        for server in servers.values():
            await server.start()
            await closed_loop(server, bodies, WARM_S)  # imports, caches, the pool filled
            await server.idle()
        for r in range(rounds):
            for name in (("sqlite", "postgresql") if r % 2 == 0 else ("postgresql", "sqlite")):
                found[name].append(await closed_loop(servers[name], bodies, seconds,
                                                     database_cpu=meters[name]))
                await servers[name].idle()
        for server in servers.values():
            await server.stop()
    finally:
        for server in servers.values():
            server.kill()
    return found


def summarise(found: dict[str, list[Round]], seconds: float) -> list[Row]:
    def median(name: str) -> Round:
        return sorted(found[name], key=lambda r: r.rate)[len(found[name]) // 2]

    pg, lite = median("postgresql"), median("sqlite")
    errors = sum(r.errors for rounds in found.values() for r in rounds)
    failures = sum((r.failures for rounds in found.values() for r in rounds), Counter())
    said = ", ".join(f"{n} {status}" for status, n in failures.most_common())

    def figures(r: Round) -> str:
        return (f"p50 {percentile(r.latencies_ms, 50):.0f} ms, p99 "
                f"{percentile(r.latencies_ms, 99):.0f} ms, serve {r.server_cpu:.2f} cores"
                + (f" + PostgreSQL {r.database_cpu:.2f}" if r.database_cpu else ""))

    def each(name: str) -> str:
        return ", ".join(f"{r.rate:.0f}" for r in found[name])

    rounds = len(found["sqlite"])
    return [
        (f"service throughput at concurrency {CONCURRENCY} (`agentcore serve`, `Prefer: "
         f"wait`, mock LLM at 0 ms): PostgreSQL vs SQLite, median of {rounds} turns of "
         f"{seconds:g} s each",
         f"{pg.rate:.0f} vs {lite.rate:.0f} req/s",
         f"{pg.rate / lite.rate:.2f}x SQLite" if lite.rate else "SQLite: none"),
        ("  those rounds: latency and the server's CPU, PostgreSQL / SQLite",
         f"{figures(pg)} / {figures(lite)}",
         f"every round, req/s: PostgreSQL {each('postgresql')}; SQLite {each('sqlite')}; "
         f"{errors} errors"
         + (f" ({said})" if said else "")),
    ]


def run(results: list[Row], seconds: float = SECONDS, rounds: int = ROUNDS) -> None:
    from bench.pg_server import NoServer, database

    try:
        with database("service") as db:
            found = asyncio.run(measure(db.url, db.password, seconds, rounds))
    except NoServer as exc:
        results.append(("service throughput on PostgreSQL", "not run", str(exc)))
        return
    results.extend(summarise(found, seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    rows: list[Row] = []
    run(rows, args.seconds, args.rounds)
    print(write_stamped("Service throughput on PostgreSQL (bench/pg_service_bench.py)",
                        "SQLite's service measured alongside, turn about", rows))


if __name__ == "__main__":
    main()
