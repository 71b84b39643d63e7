"""How soon another station hears an answer: from an outcome handed to the engine
database in one process to its `RequestAnswered` on another station's bus.

A PostgreSQL server of the bench's own (tests/postgres_server.py, the machine's
binaries); a writer process opens the engine database and, one at a time, records a
request and finishes its outcome (the engine's `requests.finish`: the outcome writer
commits it, the commit announces it), the wall time of the hand-off in the answer; a
station (an Engine on the same database with a subscriber, as the console's bridge)
hears it through LISTEN/NOTIFY and reads it back. The latency is hand-off to event:
the writer's batching, the commit, the notification, the hop to the station's loop
and the read of the outcome and its spans. `python -m bench.station_bench` writes
its section of RESULTS.md.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N = 500
REPO = Path(__file__).resolve().parent.parent

_WRITER = """
import sys, time
from agentcore.database import open_storage
from agentcore.models import Outcome, Request, Route, Span, Status
from agentcore.settings import Settings

from pathlib import Path
settings = Settings.load(Path(sys.argv[1]))
store = open_storage(settings)
print("ready", flush=True)
sys.stdin.readline()
for i in range(int(sys.argv[2])):
    request = Request(text=f"question {i}", customer_id=1)
    store.requests.accept(request)
    handed = time.time()
    store.requests.finish(Outcome(request, Route.RULE, Status.ANSWERED, answer=repr(handed),
                                  rule_id="r", intent="contact",
                                  spans=[Span("route", handed, handed)]))
    time.sleep(0.01)  # one at a time: the latency of each, not of a burst
store.close()
"""


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(settings_path: Path, keyring_file: Path, n: int) -> list[float]:
    from agentcore.engine import Engine
    from agentcore.events import Event, RequestAnswered
    from agentcore.settings import Settings

    settings = Settings.load(settings_path)
    station = Engine(settings)
    latencies: list[float] = []
    done = asyncio.Event()

    def heard(event: Event) -> None:
        if isinstance(event, RequestAnswered) and event.outcome.rule_id == "r":
            latencies.append(time.time() - float(event.outcome.answer))
            if len(latencies) >= n:
                done.set()

    station.subscribe(heard)
    await station.start()
    from tests.keyring_backend import BACKEND_NAME, FILE_VARIABLE

    env = {**os.environ, "PYTHON_KEYRING_BACKEND": BACKEND_NAME,
           FILE_VARIABLE: str(keyring_file), "PYTHONPATH": str(REPO)}
    writer = await asyncio.to_thread(
        subprocess.Popen, [sys.executable, "-c", _WRITER, str(settings_path), str(n)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO, env=env)
    try:
        assert writer.stdout is not None and writer.stdin is not None
        assert (await asyncio.to_thread(writer.stdout.readline)).strip() == "ready"
        writer.stdin.write("go\n")
        writer.stdin.flush()
        await asyncio.wait_for(done.wait(), timeout=120)
    finally:
        await asyncio.to_thread(writer.communicate, timeout=60)
        await station.close()
    return latencies


def run(results: list[tuple[str, str, str]], n: int = N) -> None:
    import keyring
    import psycopg

    from agentcore.settings import Settings
    from tests.keyring_backend import FileKeyring
    from tests.postgres_server import NoServer, running_server

    folder = Path(tempfile.mkdtemp(prefix="bench-station-"))
    keyring_file = folder / "keyring.json"
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring(keyring_file))
    try:
        with running_server() as server:
            with psycopg.connect(server.url(with_password=True), autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench_station")
            from bench.workloads import fresh_data_dir

            data = fresh_data_dir()
            settings = Settings(data_dir=data, database_url=server.url("bench_station"))
            keyring.get_keyring().set_password("agent-console", settings.database_password_name,
                                               server.password)
            path = folder / "settings.json"
            settings.save(path)
            latencies = asyncio.run(_measure(path, keyring_file, n))
    except NoServer as exc:
        results.append(("answer to another station's feed", f"skipped: {exc}", ""))
        return
    finally:
        keyring.set_keyring(previous)
    ms = [1000 * v for v in latencies]
    results.append((f"answer in one process to RequestAnswered at another station "
                    f"(PostgreSQL LISTEN/NOTIFY, {len(ms)} outcomes one at a time)",
                    f"p50 {_quantile(ms, 0.5):.1f} ms, p99 {_quantile(ms, 0.99):.1f} ms "
                    f"(mean {statistics.fmean(ms):.1f} ms)",
                    "issue 17: the time from an answer to its row in another station's feed"))


if __name__ == "__main__":
    from bench.sections import write_stamped

    rows: list[tuple[str, str, str]] = []
    run(rows)
    print(write_stamped("A station hears another's answer (PostgreSQL)",
                        "one writer process, one station", rows))
