"""Faults injected into the mock LLM on a loopback port: every request is accounted for.

    rows: list[str] = []
    fault_bench.run(rows)                                # ResilientLLM alone (the default)
    fault_bench.run(rows, submit_factory=my_factory)     # e.g. the engine and its ladder

For each fault a fresh endpoint is served on 127.0.0.1 and N slow-path requests
from data/requests.jsonl arrive on a steady schedule through the real openai
client. The first half of them meet the fault; then the endpoint heals, so the
breaker's open -> half-open -> closed shows in the table. Each request ends
answered (on some rung), escalated (with a reason), rejected by the guard, or
lost: an exception out of `submit` or no answer within `HANG_S`. Lost must be 0.

A submit factory is an async context manager factory: given a `FaultEnv` (the
endpoint's base URL, the resilience settings, the client timeout and a breaker
listener to subscribe) it yields `submit(text, customer_id) -> awaitable
outcome`. An outcome is anything with `status` ("answered", "escalated",
"rejected") and optionally `rung`, `route` and `escalation_reason`, such as
agentcore's `Outcome` or this module's `BenchOutcome`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from agentcore.demo_shop.domain import RESOURCES
from agentcore.demo_shop.intents import INTENTS
from agentcore.demo_shop.tools import shop_registry
from agentcore.errors import LLMError, ToolArgumentsError, UnknownToolError
from agentcore.llm import Completion, LLMClient
from agentcore.mock_llm import MockServer
from agentcore.prompts import Prompts
from agentcore.replay import load_corpus
from agentcore.resilience import (
    BreakerListener,
    BreakerSettings,
    BreakerState,
    RateLimitSettings,
    ResilienceSettings,
    ResilientLLM,
    RetrySettings,
)
from agentcore.settings import REPO_ROOT, MockSettings, Settings
from agentcore.tools import ToolRegistry

HANG_S = 30.0  # a request unanswered this long counts as lost
ARRIVAL_S = 0.04  # seconds between arrivals: 60 requests span 2.4 s
CLIENT_TIMEOUT_S = 0.25  # the openai client's timeout; the "slow" fault holds 1 s
OVERSIZE_BYTES = 5_000_000

HEADER = ["| fault injected | requests | answered (per rung) | escalated (by reason) | rejected "
          "| lost | calls reaching the mock | breaker transitions | wall |",
          "|---|---|---|---|---|---|---|---|---|"]


@dataclass(frozen=True, slots=True)
class FaultCase:
    name: str
    mock: MockSettings = field(default_factory=MockSettings)
    refused: bool = False  # nothing listens on the port during the burst
    oversize_bytes: int = 0
    burst_share: float = 0.5  # share of the arrivals that meet the fault; 1.0: all of them


CASES = (
    FaultCase("429 burst (Retry-After 1-2 s)", MockSettings(rate_429=1.0)),
    FaultCase("5xx burst (500/502/503)", MockSettings(rate_5xx=1.0)),
    FaultCase("connection refused (closed port)", refused=True),
    FaultCase("responses slower than the timeout", MockSettings(rate_timeout=1.0)),
    FaultCase("malformed JSON", MockSettings(rate_malformed=1.0)),
    FaultCase("unknown tool names", MockSettings(rate_unknown_tool=1.0)),
    FaultCase("5 MB response", oversize_bytes=OVERSIZE_BYTES),
    FaultCase("all of them at 4 % each, throughout",
              MockSettings(rate_429=0.04, rate_5xx=0.04, rate_timeout=0.04,
                           rate_malformed=0.04, rate_unknown_tool=0.04), burst_share=1.0),
)


def bench_resilience() -> ResilienceSettings:
    """Short periods, so a 2.4 s run shows a breaker opening and recovering."""
    return ResilienceSettings(
        breaker=BreakerSettings(failure_threshold=5, open_s=0.5, half_open_probes=1),
        rate_limit=RateLimitSettings(requests_per_minute=6000, tokens_per_minute=None),
        retry=RetrySettings(max_attempts=3, base_delay_s=0.05, max_delay_s=0.4, jitter=0.5,
                            max_retry_after_s=3.0),
        request_deadline_s=4.0)


@dataclass(frozen=True, slots=True)
class FaultEnv:
    case: FaultCase
    base_url: str
    resilience: ResilienceSettings
    request_timeout_s: float
    on_breaker: BreakerListener  # subscribe it to the breaker the submit path uses


@dataclass(frozen=True, slots=True)
class BenchOutcome:
    status: str  # "answered" or "escalated"
    rung: str | None = None
    escalation_reason: str | None = None


Submit = Callable[[str, int | None], Awaitable[Any]]
SubmitFactory = Callable[[FaultEnv], AbstractAsyncContextManager[Submit]]


# -- the default submit path: ResilientLLM and one decide call ----------------------


@asynccontextmanager
async def resilient_llm_factory(env: FaultEnv) -> AsyncIterator[Submit]:
    """One decide call per request through ResilientLLM, judged as the agent loop would
    judge its first turn: known tools with valid arguments, or a JSON final answer."""
    import openai

    client = openai.AsyncOpenAI(base_url=env.base_url, api_key="mock", max_retries=0,
                                timeout=env.request_timeout_s)
    llm = ResilientLLM(LLMClient(client), env.resilience)
    llm.breaker.subscribe(env.on_breaker)
    registry = shop_registry(None)  # type: ignore[arg-type]  # schemas and parsing only
    prompts = Prompts.load(RESOURCES, INTENTS)
    stage = Settings().llm.decide
    today = date.today().isoformat()

    async def submit(text: str, customer_id: int | None) -> BenchOutcome:
        messages = [{"role": "system", "content": prompts.decide_for(None, customer_id, today)},
                    {"role": "user", "content": text}]
        try:
            completion = await llm.complete(stage, messages, registry.schemas, 400)
        except LLMError as exc:
            reason = "breaker open" if exc.kind == "breaker_open" else f"llm {exc.kind}"
            return BenchOutcome("escalated", escalation_reason=reason)
        problem = _first_turn_problem(completion, registry)
        if problem:
            return BenchOutcome("escalated", escalation_reason=problem)
        return BenchOutcome("answered", rung="llm")

    try:
        yield submit
    finally:
        await llm.close()


def _first_turn_problem(completion: Completion, registry: ToolRegistry) -> str | None:
    for call in completion.tool_calls:
        try:
            registry.get(call.name).parse(call.arguments)
        except UnknownToolError:
            return "unknown tool"
        except ToolArgumentsError:
            return "invalid tool arguments"
    if completion.tool_calls:
        return None
    try:
        final = json.loads(completion.content or "")
    except json.JSONDecodeError:
        return "malformed output"
    return None if isinstance(final, dict) and "answer" in final else "malformed output"


# -- the runner ------------------------------------------------------------------------


@dataclass
class CaseResult:
    case: FaultCase
    requests: int = 0
    answered: Counter[str] = field(default_factory=Counter)  # rung -> count
    escalated: Counter[str] = field(default_factory=Counter)  # reason -> count
    rejected: int = 0
    lost: Counter[str] = field(default_factory=Counter)  # what went wrong -> count
    mock_calls: int = 0
    breaker_path: list[str] = field(default_factory=lambda: ["closed"])  # states in order
    wall_s: float = 0.0

    def record(self, outcome: Any) -> None:
        status = str(getattr(outcome, "status", ""))
        if status == "answered":
            rung = getattr(outcome, "rung", None) or getattr(outcome, "route", None) or "?"
            self.answered[str(rung)] += 1
        elif status == "escalated":
            self.escalated[str(getattr(outcome, "escalation_reason", None) or "?")] += 1
        elif status == "rejected":
            self.rejected += 1
        else:
            self.lost[f"no outcome ({type(outcome).__name__})"] += 1

    def row(self) -> str:
        def mix(counter: Counter[str]) -> str:
            return ", ".join(f"{k} {v}" for k, v in counter.most_common()) or "0"

        lost = sum(self.lost.values())
        lost_text = str(lost) + (f" ({mix(self.lost)})" if lost else "")
        return (f"| {self.case.name} | {self.requests} | {mix(self.answered)} "
                f"| {mix(self.escalated)} | {self.rejected} | {lost_text} | {self.mock_calls} "
                f"| {self.breaker_text()} | {self.wall_s:.1f} s |")

    def breaker_text(self) -> str:
        path = self.breaker_path
        if len(path) == 1:
            return "stayed closed"
        if len(path) > 9:  # a flapping breaker: its start and how it ended
            path = [*path[:4], "…", *path[-4:]]
        return " → ".join(path)


def llm_requests(n: int, corpus: Path = REPO_ROOT / "data" / "requests.jsonl"
                 ) -> list[tuple[str, int | None]]:
    rows = [r for r in load_corpus(corpus) if r.get("expected_route") == "llm"]
    if not rows:
        raise ValueError(f"{corpus} has no request with expected_route 'llm'")
    return [(rows[i % len(rows)]["text"], rows[i % len(rows)].get("customer_id"))
            for i in range(n)]


def _closed_port() -> int:
    """A loopback port nothing listens on (the OS just handed it out and took it back)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_case(case: FaultCase, work: list[tuple[str, int | None]],
                   factory: SubmitFactory) -> CaseResult:
    result = CaseResult(case, requests=len(work))

    def on_breaker(old: BreakerState, new: BreakerState, reason: str) -> None:
        if old is not new:
            result.breaker_path.append(str(new))

    port = _closed_port() if case.refused else 0
    server = MockServer(case.mock.model_copy(), port=port, timeout_sleep_s=1.0,
                        oversize_bytes=case.oversize_bytes)
    if not case.refused:
        server.start()
    base_url = f"http://127.0.0.1:{port}/v1" if case.refused else server.base_url
    env = FaultEnv(case, base_url, bench_resilience(), CLIENT_TIMEOUT_S, on_breaker)
    heal_at = round(len(work) * case.burst_share)

    def heal() -> None:
        if case.refused:
            server.start()  # the endpoint comes back on the same port
        settings = server.service.settings  # the fault plan reads this very object
        for rate in ("rate_429", "rate_5xx", "rate_timeout", "rate_malformed",
                     "rate_unknown_tool"):
            setattr(settings, rate, 0.0)
        server.service.oversize_bytes = 0

    async def one(index: int, text: str, customer_id: int | None, submit: Submit) -> None:
        await asyncio.sleep(index * ARRIVAL_S)
        if index == heal_at:
            heal()
        try:
            outcome = await asyncio.wait_for(submit(text, customer_id), HANG_S)
        except TimeoutError:
            result.lost["hung"] += 1
        except Exception as exc:  # the point of the bench: count it, do not stop
            result.lost[type(exc).__name__] += 1
        else:
            result.record(outcome)

    started = time.perf_counter()
    try:
        async with factory(env) as submit:
            await asyncio.gather(*(one(i, t, c, submit) for i, (t, c) in enumerate(work)))
    finally:
        server.stop()
    result.wall_s = time.perf_counter() - started
    result.mock_calls = server.stats.calls
    return result


async def run_async(results_table: list[str], *, submit_factory: SubmitFactory | None = None,
                    requests: int = 60, cases: Iterable[FaultCase] = CASES,
                    header: bool = True) -> list[CaseResult]:
    work = llm_requests(requests)
    factory = submit_factory or resilient_llm_factory
    if header:
        results_table.extend(HEADER)
    results = []
    for case in cases:
        result = await run_case(case, work, factory)
        results_table.append(result.row())
        results.append(result)
    return results


def run(results_table: list[str], *, submit_factory: SubmitFactory | None = None,
        requests: int = 60, cases: Iterable[FaultCase] = CASES, header: bool = True) -> None:
    """Runs every fault case and appends a Markdown table (header first) to `results_table`."""
    asyncio.run(run_async(results_table, submit_factory=submit_factory, requests=requests,
                          cases=cases, header=header))


if __name__ == "__main__":
    table: list[str] = []
    run(table)
    print("\n".join(table))
