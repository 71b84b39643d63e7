"""The headline: the engine against an all-LLM LangChain `create_agent` agent.

The first 300 requests of the shipped corpus go to both systems in one run,
interleaved: 16 lanes each take the next row and hand it to both systems at
once, so both have the same 16 requests in flight and whatever the machine does
meanwhile hits both alike. Each system has its own copy of the demo shop (their
writes never collide) and its own in-process mock LLM with the same latency
(400, then 800 ms median per completion: one pass each) and the same seed.

Per system: latency (wall time around `Engine.submit` / the agent's `ainvoke`),
dollars (the engine's from its outcome's usage; LangChain's from the token usage
its responses report, at the same per-model prices from the settings) and LLM
calls (completions counted at each mock, per request). Then the same on the rows
the engine sent to the LLM (made at least one call on), against LangChain on
those same rows. The engine runs as shipped (classify and decide stages); only
the bench's guard and provider rate limits are lifted, as in the other benches.

`run(results)` appends rows (measure, result, against) as bench/__main__.py does;
`python -m bench.langchain_bench` prints them alone. Needs the bench-only
requirements: `pip install -r bench/requirements-langchain.txt`.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import openai

from agentcore import Engine, Route, Settings
from agentcore.domain import load_domain
from agentcore.mock_llm import mock_transport
from agentcore.replay import load_corpus, to_request
from agentcore.settings import LLMSettings, MockSettings
from bench.langchain_agent import LangChainAgent
from bench.workloads import bench_settings, fresh_data_dir

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "data" / "requests.jsonl"
ROWS = 300
LATENCIES_MS = (400.0, 800.0)
IN_FLIGHT = 16
WARM_ROWS = 8
BASE_URL = "http://mock.llm/v1"

# Routes that are not the fast path: everything else (the rule router, a learned
# tier) answered from the domain's handlers without the LLM.
NOT_FAST = frozenset({Route.GUARD, Route.CACHE_L1, Route.CACHE_L2, Route.LLM, Route.TEMPLATE,
                      Route.STATIC, Route.HUMAN})

# The completions of the request being answered: each request sets its own tally in
# its own task, and every task the system starts for it inherits the tally.
_TALLY: ContextVar[list[int] | None] = ContextVar("bench_llm_calls", default=None)


class CountingTransport(httpx2.AsyncBaseTransport):
    """A mock LLM transport that counts chat completions, per request and in all."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.total = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/chat/completions"):
            self.total += 1
            tally = _TALLY.get()
            if tally is not None:
                tally[0] += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass(frozen=True, slots=True)
class Answered:
    """One row as one system answered it."""

    latency_ms: float
    dollars: float
    calls: int
    # The engine's outcome status ("answered", "escalated" to a human, "rejected" by
    # the guard, with its reason as the reply); LangChain's "answered" when it replied,
    # "empty" when its last message said nothing; "raised" when either failed.
    status: str
    route: str  # the engine's route; "llm" for every LangChain row
    error: str | None = None  # what was raised instead of a reply


async def _timed(work: Callable[[], Awaitable[tuple[float, str, str]]]) -> Answered:
    """`work` returns the dollars, the status and the route of one row."""
    tally = [0]
    _TALLY.set(tally)  # this task's own context: the other system's task has its own
    start = time.perf_counter()
    try:
        dollars, status, route = await work()
    except Exception as exc:  # reported as a row that raised, never hidden
        return Answered((time.perf_counter() - start) * 1000, 0.0, tally[0], "raised",
                        "error", f"{type(exc).__name__}: {exc}")
    return Answered((time.perf_counter() - start) * 1000, dollars, tally[0], status, route)


def headline_settings(data_dir: Path) -> Settings:
    """The engine as shipped (both LLM stages: classify, then decide), with the
    bench's guard and provider rate limits lifted."""
    settings = bench_settings(data_dir)
    settings.llm.classify = LLMSettings().classify
    return settings


class _Side:
    """One system on its own data folder and its own mock LLM."""

    def __init__(self, latency_ms: float) -> None:
        self.settings = headline_settings(fresh_data_dir())
        self.settings.mock = MockSettings(latency_median_ms=latency_ms)
        self.transport = CountingTransport(mock_transport(self.settings.mock))
        self.http = httpx2.AsyncClient(transport=self.transport)

    async def close(self) -> None:
        await self.http.aclose()


class EngineSide(_Side):
    def __init__(self, latency_ms: float) -> None:
        super().__init__(latency_ms)
        client = openai.AsyncOpenAI(base_url=BASE_URL, api_key="mock", http_client=self.http,
                                    max_retries=0)
        self.engine = Engine(self.settings, openai_client=client)

    async def answer(self, row: dict[str, Any], index: int) -> Answered:
        async def work() -> tuple[float, str, str]:
            outcome = await self.engine.submit(to_request(row))
            return outcome.usage.dollars, str(outcome.status), str(outcome.route)

        return await _timed(work)

    async def close(self) -> None:
        await self.engine.close()
        await super().close()


class LangChainSide(_Side):
    def __init__(self, latency_ms: float) -> None:
        super().__init__(latency_ms)
        self.domain = load_domain(self.settings)
        self.agent = LangChainAgent(self.domain, self.settings, self.http, BASE_URL)
        self.stage = self.settings.llm.decide  # the only model it calls

    async def answer(self, row: dict[str, Any], index: int) -> Answered:
        async def work() -> tuple[float, str, str]:
            reply = await self.agent.ask(row.get("text", ""), row.get("customer_id"),
                                         f"langchain-{index}")
            status = "answered" if reply.text.strip() else "empty"
            return self.stage.cost(*reply.tokens), status, str(Route.LLM)

        return await _timed(work)

    async def close(self) -> None:
        self.domain.close()
        await super().close()


@dataclass(frozen=True, slots=True)
class Pass:
    latency_ms: float
    engine: list[Answered]
    langchain: list[Answered]
    wall_s: float

    @property
    def llm_rows(self) -> list[int]:
        """The rows the engine sent to the LLM: it made at least one call on them."""
        return [i for i, row in enumerate(self.engine) if row.calls > 0]


async def interleaved(rows: Sequence[dict[str, Any]], latency_ms: float,
                      in_flight: int = IN_FLIGHT) -> Pass:
    """Every row to both systems at once, `in_flight` rows at a time."""
    engine, langchain = EngineSide(latency_ms), LangChainSide(latency_ms)
    answers: list[tuple[Answered, Answered] | None] = [None] * len(rows)
    queue = iter(range(len(rows)))

    async def lane() -> None:
        for i in queue:  # one shared iterator: each lane takes the next row
            pair = await asyncio.gather(engine.answer(rows[i], i), langchain.answer(rows[i], i))
            answers[i] = (pair[0], pair[1])

    start = time.perf_counter()
    try:
        await asyncio.gather(*(lane() for _ in range(in_flight)))
    finally:
        await engine.close()
        await langchain.close()
    wall = time.perf_counter() - start
    done = [a for a in answers if a is not None]
    result = Pass(latency_ms, [e for e, _ in done], [lc for _, lc in done], wall)
    for name, side, answered in (("engine", engine, result.engine),
                                 ("LangChain", langchain, result.langchain)):
        counted = sum(a.calls for a in answered)
        if counted != side.transport.total:  # a call outside any request: a harness bug
            raise RuntimeError(f"{name}: {side.transport.total} completions at the mock, "
                               f"{counted} counted per request")
    return result


@dataclass(frozen=True, slots=True)
class Figures:
    """Per-request figures of one system over some rows."""

    n: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    dollars: float
    calls: float

    @classmethod
    def of(cls, answered: Sequence[Answered]) -> Figures:
        if not answered:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0)
        latencies = [a.latency_ms for a in answered]
        p95 = (statistics.quantiles(latencies, n=20, method="inclusive")[18]
               if len(latencies) > 1 else latencies[0])
        return cls(len(answered), statistics.fmean(latencies), statistics.median(latencies),
                   p95, statistics.fmean(a.dollars for a in answered),
                   statistics.fmean(a.calls for a in answered))


def _ratio(engine: float, langchain: float) -> float:
    return engine / langchain if langchain else float("nan")


def _lower(engine: float, langchain: float) -> str:
    """'2.8x lower' (or 'n/a' when the engine's figure is zero)."""
    return f"{langchain / engine:.1f}x lower" if engine else "∞x lower"


def _latencies(f: Figures) -> str:
    return f"{f.mean_ms:.0f} / {f.p50_ms:.0f} / {f.p95_ms:.0f} ms"


def describe(result: Pass) -> list[tuple[str, str, str]]:
    """Rows for the results table: the headline, then the LLM rows alone."""
    lat = f"mock {result.latency_ms:.0f} ms/completion"
    e, lc = Figures.of(result.engine), Figures.of(result.langchain)
    picked = result.llm_rows
    el = Figures.of([result.engine[i] for i in picked])
    ll = Figures.of([result.langchain[i] for i in picked])
    rows = [
        (f"headline, {lat}, first {e.n} corpus rows, {IN_FLIGHT} in flight each, "
         "interleaved: latency mean / p50 / p95, engine vs LangChain `create_agent`",
         f"{_latencies(e)} vs {_latencies(lc)}",
         f"mean {_lower(e.mean_ms, lc.mean_ms)} (engine/LangChain: mean "
         f"{_ratio(e.mean_ms, lc.mean_ms):.2f}, p50 {_ratio(e.p50_ms, lc.p50_ms):.2f}, "
         f"p95 {_ratio(e.p95_ms, lc.p95_ms):.2f}); goal ≥ 10x lower"),
        (f"headline, {lat}: dollars per request, engine vs LangChain",
         f"${e.dollars:.5f} vs ${lc.dollars:.5f}",
         f"{1 - _ratio(e.dollars, lc.dollars):.0%} lower, {_lower(e.dollars, lc.dollars)} "
         f"(engine/LangChain {_ratio(e.dollars, lc.dollars):.2f}); goal ≥ 10x lower"),
        (f"headline, {lat}: LLM calls per request, engine vs LangChain",
         f"{e.calls:.2f} vs {lc.calls:.2f}",
         f"engine/LangChain {_ratio(e.calls, lc.calls):.2f}; wall {result.wall_s:.0f} s"),
        (f"{lat}, the {el.n} rows the engine sent to the LLM: latency mean / p50 / p95, "
         "engine vs LangChain on the same rows",
         f"{_latencies(el)} vs {_latencies(ll)}",
         f"engine/LangChain: mean {_ratio(el.mean_ms, ll.mean_ms):.2f}x, p50 "
         f"{_ratio(el.p50_ms, ll.p50_ms):.2f}x, p95 {_ratio(el.p95_ms, ll.p95_ms):.2f}x; "
         "goal ≤ 1.00x"),
        (f"{lat}, those {el.n} rows: LLM calls and dollars per request, engine vs LangChain",
         f"{el.calls:.2f} vs {ll.calls:.2f} calls, ${el.dollars:.5f} vs ${ll.dollars:.5f}",
         f"engine/LangChain: calls {_ratio(el.calls, ll.calls):.2f}, dollars "
         f"{_ratio(el.dollars, ll.dollars):.2f}"),
    ]
    return rows


def describe_routes(result: Pass) -> tuple[str, str, str]:
    """Where the engine sent the rows, and whether both systems replied to each."""
    n = len(result.engine)
    routes = Counter(a.route for a in result.engine)
    fast = sum(1 for a in result.engine if a.route not in NOT_FAST and a.calls == 0)
    no_llm = sum(1 for a in result.engine if a.calls == 0)
    spread = ", ".join(f"{route} {count / n:.0%}" for route, count in routes.most_common())
    outcomes = "; ".join(
        f"{name}: " + ", ".join(f"{status} {k}" for status, k in
                                Counter(a.status for a in answered).most_common())
        for name, answered in (("engine", result.engine), ("LangChain", result.langchain)))
    failures = Counter(a.error for a in (*result.engine, *result.langchain) if a.error)
    if failures:
        outcomes += "; raised: " + ", ".join(f"{err} ×{k}" for err, k in failures.items())
    return (f"the engine on those {n} rows: fast-path share (no LLM call, and not the "
            "guard, the cache or a human); all rows without an LLM call",
            f"{fast / n:.1%}, {no_llm / n:.1%}", f"routes: {spread}; {outcomes}")


async def measure(rows: Sequence[dict[str, Any]],
                  latencies_ms: Sequence[float] = LATENCIES_MS) -> list[Pass]:
    """A warm-up at 0 ms (imports, lazy paths), then one interleaved pass per latency."""
    await interleaved(rows[:WARM_ROWS], 0.0, in_flight=min(IN_FLIGHT, WARM_ROWS))
    return [await interleaved(rows, latency) for latency in latencies_ms]


def run(results: list[tuple[str, str, str]]) -> None:
    rows = load_corpus(CORPUS)[:ROWS]
    passes = asyncio.run(measure(rows))
    for result in passes:
        results.extend(describe(result))
    results.append(describe_routes(passes[0]))


if __name__ == "__main__":
    table: list[tuple[str, str, str]] = []
    run(table)
    for measure_, result_, against in table:
        print(f"| {measure_} | {result_} | {against} |")
