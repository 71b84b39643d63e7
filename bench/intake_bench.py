"""The intake under sustained load: `python -m bench.intake_bench [--seconds 60]`
(INTAKE_BENCH_S too, as `make bench` reads it).

`agentcore serve` runs in a process of its own (the mock LLM at 0 ms, real SQLite,
the shipped settings but for the guard's and the client's rate limits, which the
corpus's reused customers would trip), and a bare aiohttp handler doing no work in
another (bench/bare_aiohttp.py); the load comes from this process
(bench/intake_load.py), so the client's CPU is no longer the server's.

Open loop, not N clients in a loop: with N closed-loop clients the accept latency
is N / throughput by Little's law (32 clients at 154 req/s measured 197 ms, a
figure of the bench, not of the server). Here requests are due at a fixed offered
rate whatever the server's pace and timed from when they were due, so a server
that falls behind shows in the latency. A ladder of 5 s steps (x1.5, then two
bisections) finds the highest rate each server keeps up with (everything answered,
nothing refused, the answers and the engine's backlog, read from /metrics, no more
than a moment behind: see intake_load.kept_up; the intake answers 202 before the
work, so only its backlog shows it accepting faster than it finishes). The intake
is then held for the full time at that rate, stepped down until it holds, and the
bare handler at the same rate for the latency HTTP alone costs. Lost: accepted
request ids whose request is not finished in the engine database once the server
was stopped gracefully (SIGTERM: in-flight work finishes).
The two cores are shared with other work: the server's and the client's CPU and the
load average are reported with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import sys
import time
from pathlib import Path

import psutil

from agentcore.intake.settings import IntakeSettings
from agentcore.settings import LLMSettings
from bench.intake_load import BACKLOG_S, GRACE_S, LATE_SHARE, Step, corpus_bodies, in_flight, offer
from bench.sections import write_stamped

REPO = Path(__file__).resolve().parent.parent
LADDER_START = 50.0
LADDER_FACTOR = 1.5
LADDER_MAX = 20_000.0
BISECTIONS = 2
DESCENTS = 2
STEP_S = 5.0
WARM_RATE, WARM_S = 20.0, 3.0
# No OS keyring: on loopback the intake needs no token, and a bench reads no secret.
CHILD_ENV = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
Row = tuple[str, str, str]


class Child:
    """A server in a process of its own: its URL read from its stdout, its CPU
    counted, stopped with SIGTERM (the seconds its graceful stop took)."""

    def __init__(self, args: list[str], log: Path, *, metrics: bool,
                 env: dict[str, str] | None = None) -> None:
        self.args = args
        self.log = log
        self.metrics = metrics  # serves /metrics with the engine's requests in flight
        self.env = CHILD_ENV if env is None else env  # over os.environ
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self) -> str:
        with self.log.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *self.args, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=err,
                env={**os.environ, **self.env})
        assert self.proc.stdout is not None
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
            if not line:
                raise RuntimeError(f"{self.args} exited: {self.log.read_text()[-2000:]}")
            match = re.search(rb"listening on (http://\S+)", line)
            if match:
                self.url = match.group(1).decode()
                return self.url

    def cpu_s(self) -> float:
        assert self.proc is not None
        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    async def backlog(self) -> int:
        return await in_flight(self.url) if self.metrics else 0

    async def idle(self, limit_s: float = 300.0) -> None:
        """Until the server has no request in flight and its CPU is quiet (the backlog
        of a step it fell behind in worked off), so the next step starts from idle."""
        end = time.perf_counter() + limit_s
        while time.perf_counter() < end:
            before = self.cpu_s()
            await asyncio.sleep(0.5)  # polled: a server in another process signals nothing
            if self.cpu_s() - before < 0.05 and not await self.backlog():
                return

    async def stop(self) -> float:
        assert self.proc is not None
        started = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 180)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise RuntimeError(f"{self.args} did not stop: "
                               f"{self.log.read_text()[-2000:]}") from None
        return time.perf_counter() - started

    def kill(self) -> None:
        """What a failed run leaves running is not left running."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()


async def held(server: Child, bodies: list[bytes], rate: float,
               seconds: float) -> tuple[Step, float]:
    """One offered rate, and the cores the server used meanwhile."""
    cpu, started = server.cpu_s(), time.perf_counter()
    step = await offer(server.url, bodies, rate, seconds)
    step.backlog = await server.backlog()
    step.server_cpu = (server.cpu_s() - cpu) / (time.perf_counter() - started)
    await server.idle()
    return step, step.server_cpu


async def ladder(server: Child, bodies: list[bytes], start: float,
                 step_s: float) -> tuple[float, list[Step]]:
    """The highest offered rate `server` kept up with (0: not even `start`)."""
    steps: list[Step] = []
    passed, failed, rate = 0.0, None, start
    while rate <= LADDER_MAX:
        step, _ = await held(server, bodies, rate, step_s)
        steps.append(step)
        if not step.kept_up:
            failed = rate
            break
        passed, rate = rate, rate * LADDER_FACTOR
    for _ in range(BISECTIONS if failed is not None and passed else 0):
        assert failed is not None
        rate = (passed * failed) ** 0.5
        step, _ = await held(server, bodies, rate, step_s)
        steps.append(step)
        passed, failed = (rate, failed) if step.kept_up else (passed, rate)
    return passed, sorted(steps, key=lambda s: s.rate)


def _intake_child(folder: Path, database_url: str = "sqlite",
                  env: dict[str, str] | None = None) -> Child:
    """`agentcore serve` on the engine database `database_url` chooses (its password,
    for PostgreSQL, in the keyring `env` points the child at)."""
    from bench.workloads import bench_settings

    settings = bench_settings(folder)
    settings.llm.classify = LLMSettings().classify  # both stages, as shipped
    settings.intake = IntakeSettings(client_rate_per_minute=10**8, shutdown_grace_s=120)
    settings.database_url = database_url
    settings.save(folder / "settings.json")
    return Child([sys.executable, "-m", "agentcore", "--settings", str(folder / "settings.json"),
                  "--data-dir", str(folder), "serve", "--port", "0"], folder / "serve.log",
                 metrics=True, env=env)


def lost(engine_db: Path, ids: list[str]) -> int:
    """Accepted ids whose request the database holds not at all, or still accepted."""
    with contextlib.closing(sqlite3.connect(f"file:{engine_db}?mode=ro", uri=True)) as db:
        status = dict(db.execute("SELECT id, status FROM requests").fetchall())
    return sum(1 for rid in ids if status.get(rid, "accepted") == "accepted")


def _ladder_text(steps: list[Step]) -> str:
    return ", ".join(f"{s.rate:.0f} " + (f"ok ({s.server_cpu:.2f} cores)" if s.kept_up else
                                         f"no ({s.verdict().removeprefix('fell behind: ')}; "
                                         f"{s.server_cpu:.2f} cores)")
                     for s in steps)


async def measure(rows: list[Row], seconds: float, step_s: float) -> None:
    from bench.workloads import fresh_data_dir

    bodies = corpus_bodies()
    folder = fresh_data_dir()
    intake = _intake_child(folder)
    try:
        await intake.start()
        # The first requests import and build what later ones reuse (the LLM client, the
        # learned tier, caches): a warm-up, not a ladder step. Its requests count as lost too.
        warm, _ = await held(intake, bodies, WARM_RATE, WARM_S)
        rate, intake_steps = await ladder(intake, bodies, LADDER_START, step_s)
        # A rate kept up with for 5 s may not be for the full time (the database grows, the
        # machine's other work comes and goes): stepped down until it holds, twice at most.
        attempts: list[Step] = []
        for notch in range(DESCENTS + 1):
            sustained, intake_cores = await held(
                intake, bodies, max(rate, LADDER_START) / LADDER_FACTOR ** (notch / 2), seconds)
            attempts.append(sustained)
            if sustained.kept_up:
                break
        drain_s = await intake.stop()
    finally:
        intake.kill()
    ids = [rid for step in (warm, *intake_steps, *attempts) for rid in step.ids]
    missing = lost(folder / "agent.sqlite", ids)

    bare = Child([sys.executable, "-m", "bench.bare_aiohttp"], folder / "bare.log",
                 metrics=False)
    try:
        await bare.start()
        await held(bare, bodies, WARM_RATE, WARM_S)
        same, bare_cores = await held(bare, bodies, sustained.rate, seconds)
        bare_rate, bare_steps = await ladder(bare, bodies, max(rate, LADDER_START), step_s)
        await bare.stop()
    finally:
        bare.kill()
    top = max((s for s in bare_steps if s.kept_up), key=lambda s: s.rate, default=None)
    where = (f"; there its load generator used {top.client_cpu:.2f} of a core and the "
             f"server {top.server_cpu:.2f}") if top else ""
    if top and top.server_cpu < 0.5:  # the handler had CPU to spare: the client gave out
        where += ": the load generator is the limit, so the ratio is an upper bound"
    rejected = sum(s.statuses.get("422", 0) for s in (warm, *intake_steps, *attempts))
    held_rate = sustained.achieved if sustained.kept_up else 0.0
    rows += [
        (f"intake, open loop: req/s held for {seconds:g} s (the ladder's highest rate, "
         "stepped down until it held)",
         f"{held_rate:.0f} req/s" if held_rate else
         f"none held ({sustained.rate:.0f} offered: {sustained.verdict()})",
         f"{held_rate / bare_rate:.2f} of a bare aiohttp handler's highest ({bare_rate:.0f} "
         f"req/s{where})" if bare_rate else "bare: none"),
        (f"intake at {sustained.rate:.0f} req/s offered: accept latency (202, no `Prefer: "
         "wait`) p50 / p99 / max", f"{sustained.p(50):.1f} / {sustained.p(99):.1f} / "
         f"{sustained.p(100):.0f} ms", f"bare handler at the same rate: {same.p(50):.1f} / "
         f"{same.p(99):.1f} / {same.p(100):.0f} ms"),
        ("intake: accepted (202, or the guard's 422), lost (not finished on disk after "
         "SIGTERM)", f"{len(ids)}, {missing}",
         f"{rejected} of them turned away by the guard; graceful stop {drain_s:.1f} s"),
        (f"CPU at {sustained.rate:.0f} req/s: intake server, load generator",
         f"{intake_cores:.2f} / {sustained.client_cpu:.2f} cores",
         f"bare server {bare_cores:.2f}, its load generator {same.client_cpu:.2f} cores; "
         f"client send lag p99 {sustained.client_late_p99_ms:.1f} ms"),
        *((f"intake at {a.rate:.0f} req/s offered for {seconds:g} s, before",
           f"{a.achieved:.0f} req/s, p50 / p99 {a.p(50):.1f} / {a.p(99):.1f} ms",
           a.verdict()) for a in attempts[:-1]),
        (f"ladder, intake: offered req/s, {step_s:g} s each, kept up or not (kept up: all "
         f"answered, <= {LATE_SHARE:.0%} of them {GRACE_S:g} s past the last due, <= "
         f"{BACKLOG_S:g} s of requests still running in the engine), the server's CPU",
         _ladder_text(intake_steps), "x1.5 steps, then two bisections"),
        ("ladder, bare aiohttp (the same, from the intake's rate up)",
         _ladder_text(bare_steps), ""),
    ]


def run(rows: list[Row], seconds: float | None = None, step_s: float = STEP_S) -> None:
    seconds = seconds or float(os.environ.get("INTAKE_BENCH_S", "60"))
    asyncio.run(measure(rows, seconds, min(step_s, seconds)))


def write_section(results: list[Row]) -> str:
    return write_stamped("Intake (bench/intake_bench.py)",
                         "server and load generator in separate processes, on the same two "
                         "cores; the bare aiohttp handler, measured alongside, is the "
                         "yardstick", results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=None,
                        help="how long the intake is held at its rate (default 60)")
    parser.add_argument("--step-seconds", type=float, default=STEP_S,
                        help="each ladder step's length")
    args = parser.parse_args()
    rows: list[Row] = []
    run(rows, args.seconds, args.step_seconds)
    print(write_section(rows))
