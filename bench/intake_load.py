"""Open-loop load on an intake's `POST /v1/requests`: the shipped corpus sent at a
fixed offered rate, whatever the server's pace, each request timed from the moment
it was due (not from when a free connection let it go: a server that falls behind
shows as latency, not as a slower client). The intake benches run it in a process
of their own, or call `offer` from a process that is not the server's.

`python -m bench.intake_load URL --rate R --seconds S --out step.json`
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import time
from collections import Counter
from pathlib import Path

import aiohttp

CORPUS = Path(__file__).resolve().parent.parent / "data" / "requests.jsonl"
CONNECTIONS = 256  # a pool this wide is never what holds a request back below the knee
MAX_OUTSTANDING = 5_000  # more in flight than this: the step failed, stop piling on
TAIL_S = 30.0  # the longest wait for the last responses once every request is sent
# Kept up: at most 2 % of the answers later than half a second after the last request
# was due (a server 12 % short of the rate fails that within a 5 s step), and at most
# half a second's worth of accepted requests still running in the engine once the last
# answer came: the intake answers 202 before the work, so a server can accept faster
# than it finishes, and only its backlog says so. Not a latency bound: the other work
# on this machine stalls every process for a quarter second now and then, which a p99
# bound over 5 s read as falling behind; the latencies are reported, not judged.
GRACE_S = 0.5
LATE_SHARE = 0.02
BACKLOG_S = 0.5
JSON = {"Content-Type": "application/json"}
# 202 accepted, 200 finished already, 422 the guard's rejection: each names a request.
# Anything else (a 429 of the client limit, a 5xx) is the bench set up wrong or a failure.
ACCEPTED = (200, 202, 422)


def corpus_bodies() -> list[bytes]:
    """The corpus rows as POST bodies, encoded once (the client's CPU is the server's
    competitor on this machine)."""
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return [json.dumps({"text": r["text"], "customer_id": r.get("customer_id"),
                        "channel": r.get("channel") or "api"}).encode() for r in rows]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))]


@dataclasses.dataclass
class Step:
    """One offered rate held for `seconds`, and what came back."""

    rate: float
    seconds: float
    started_at: float = 0.0  # wall clock (time.time) of the first due request
    sent: int = 0
    unsent: int = 0  # not sent: MAX_OUTSTANDING were in flight already
    errors: int = 0  # no HTTP answer (refused, reset, timed out), or not in ACCEPTED
    statuses: dict[str, int] = dataclasses.field(default_factory=dict)
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    ids: list[str] = dataclasses.field(default_factory=list)  # answers naming a request
    wall_s: float = 0.0  # first due request to last answer
    client_cpu: float = 0.0  # cores the load generator itself used
    client_late_p99_ms: float = 0.0  # how late it sent, its own lag
    late: int = 0  # answers later than GRACE_S after the last request was due
    backlog: int = 0  # accepted and still running once the last answer came (/metrics)
    server_cpu: float = 0.0  # cores the server used, when the caller can tell

    @property
    def answered(self) -> int:
        return len(self.latencies_ms)

    @property
    def achieved(self) -> float:
        return self.answered / max(self.wall_s, self.seconds)

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    @property
    def kept_up(self) -> bool:
        """Every request sent and answered without a server error, the answers and the
        engine's work no more than a moment behind the offered rate."""
        return (self.unsent == 0 and self.errors == 0 and self.answered == self.sent
                and self.late <= LATE_SHARE * self.sent
                and self.backlog <= BACKLOG_S * self.rate)

    def verdict(self) -> str:
        if self.kept_up:
            return "kept up"
        if self.unsent or self.errors or self.answered < self.sent:
            return (f"fell behind: {self.errors} errors, {self.unsent} unsent, "
                    f"{self.sent - self.answered - self.errors} unanswered")
        return (f"fell behind: {self.late / self.sent:.0%} answered late, "
                f"{self.backlog} still running")


async def offer(url: str, bodies: list[bytes], rate: float, seconds: float) -> Step:
    """`rate` requests a second for `seconds` into `url`'s POST /v1/requests."""
    step = Step(rate=rate, seconds=seconds)
    total = max(1, round(rate * seconds))
    statuses: Counter[int] = Counter()
    late: list[float] = []
    tasks: set[asyncio.Task[None]] = set()
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=TAIL_S)
    async with aiohttp.ClientSession(base_url=url, connector=connector,
                                     timeout=timeout) as http:
        async def one(i: int, due: float) -> None:
            try:
                async with http.post("/v1/requests", data=bodies[i % len(bodies)],
                                     headers=JSON) as reply:
                    payload = await reply.read()
                    status = reply.status
            except (aiohttp.ClientError, TimeoutError):
                step.errors += 1
                return
            answered = time.perf_counter()
            step.latencies_ms.append((answered - due) * 1000)
            step.late += answered > last_due + GRACE_S
            statuses[status] += 1
            if status not in ACCEPTED:
                step.errors += 1
                return
            rid = json.loads(payload).get("id") if payload else None
            if rid:
                step.ids.append(rid)

        cpu = time.process_time()
        t0 = time.perf_counter() + 0.05
        step.started_at = time.time() + 0.05
        last_due = t0 + (total - 1) / rate
        while step.sent + step.unsent < total:
            now = time.perf_counter()
            due_now = min(total, int((now - t0) * rate) + 1)
            while step.sent + step.unsent < due_now:
                i = step.sent + step.unsent
                due = t0 + i / rate
                late.append((now - due) * 1000)
                if len(tasks) >= MAX_OUTSTANDING:
                    step.unsent += 1
                    continue
                task = asyncio.create_task(one(i, due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                step.sent += 1
            await asyncio.sleep(max(0.0, t0 + (step.sent + step.unsent) / rate
                                    - time.perf_counter()))
        if tasks:
            await asyncio.wait(set(tasks), timeout=TAIL_S)
            for task in tasks:
                task.cancel()
        step.wall_s = time.perf_counter() - t0
        step.client_cpu = (time.process_time() - cpu) / step.wall_s
    step.statuses = {str(k): v for k, v in sorted(statuses.items())}
    step.client_late_p99_ms = percentile(late, 99)
    return step


async def in_flight(url: str) -> int:
    """The intake's `agentcore_requests_in_flight`: accepted, not yet finished."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as reply:
        text = await reply.text()
    match = re.search(r"^agentcore_requests_in_flight (\S+)$", text, re.M)
    if match is None:
        raise RuntimeError(f"{url}/metrics has no agentcore_requests_in_flight")
    return round(float(match.group(1)))


def load(path: Path) -> Step:
    return Step(**json.loads(path.read_text(encoding="utf-8")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, required=True, help="requests a second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True, help="the step, as JSON")
    args = parser.parse_args()
    step = asyncio.run(offer(args.url, corpus_bodies(), args.rate, args.seconds))
    args.out.write_text(json.dumps(dataclasses.asdict(step)), encoding="utf-8")
    print(f"{step.rate:.0f} req/s offered for {step.seconds:g} s: {step.achieved:.0f} "
          f"answered a second, p50/p99 {step.p(50):.1f}/{step.p(99):.1f} ms, {step.verdict()}")


if __name__ == "__main__":
    main()
