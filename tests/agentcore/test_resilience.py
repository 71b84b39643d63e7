"""The breaker, the rate limiter and retries around the LLM, on a fake clock.

Time never passes for real here: the clock is a FakeClock and every wait goes
through an injected sleep that records the delay and advances the clock, so the
tests assert the delays asked for, not how long the machine took.
"""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from agentcore.clock import FakeClock
from agentcore.errors import BreakerOpenError, LLMError, LLMErrorKind, ThrottledError
from agentcore.events import BreakerChanged, EventBus
from agentcore.llm import Completion, LLMClient
from agentcore.mock_llm import MockServer
from agentcore.resilience import (
    BreakerMode,
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
    RateLimiter,
    RateLimitSettings,
    ResilienceSettings,
    ResilientLLM,
    RetrySettings,
)
from agentcore.settings import MockSettings, StageModel
from tests.agentcore.scripted_llm import ScriptedLLM, final

STAGE = StageModel(model="gpt-4o", input_per_mtok=2.5, output_per_mtok=10.0)
MESSAGES = [{"role": "user", "content": "hello there"}]
CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class Sleeper:
    """An injected sleep: records each delay and moves the fake clock by it."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.clock.advance(seconds)


class FakeInner:
    """An LLM client whose answers are scripted: an LLMError is raised, else returned."""

    def __init__(self, *steps: LLMError | Completion) -> None:
        self.steps = list(steps)
        self.calls = 0

    async def complete(self, stage, messages, tools, max_tokens) -> Completion:
        self.calls += 1
        step = self.steps.pop(0)
        if isinstance(step, LLMError):
            raise step
        return step


OK = Completion("fine", prompt_tokens=10, completion_tokens=5)


def server_error() -> LLMError:
    return LLMError(LLMErrorKind.SERVER, "HTTP 503: unavailable", status=503)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeper(clock: FakeClock) -> Sleeper:
    return Sleeper(clock)


def settings(threshold: int = 3, open_s: float = 30.0, probes: int = 1, attempts: int = 4,
             base: float = 1.0, max_delay: float = 8.0, jitter: float = 0.5,
             rpm: int | None = None, tpm: int | None = None,
             deadline_s: float | None = None) -> ResilienceSettings:
    return ResilienceSettings(
        breaker=BreakerSettings(failure_threshold=threshold, open_s=open_s,
                                half_open_probes=probes),
        rate_limit=RateLimitSettings(requests_per_minute=rpm, tokens_per_minute=tpm),
        retry=RetrySettings(max_attempts=attempts, base_delay_s=base, max_delay_s=max_delay,
                            jitter=jitter),
        request_deadline_s=deadline_s)


def breaker_with_log(clock: FakeClock, **kw) -> tuple[CircuitBreaker, list[tuple]]:
    """A breaker publishing on an event bus, as the engine builds it, and what it told."""
    bus = EventBus()
    breaker = CircuitBreaker(settings(**kw).breaker, clock, publish=bus.publish)
    changes: list[tuple] = []
    bus.subscribe(lambda event: changes.append((event.old, event.new, event.reason)))
    return breaker, changes


# -- the circuit breaker -------------------------------------------------------


def test_breaker_opens_after_consecutive_failures_and_a_success_resets_the_count(clock):
    breaker, changes = breaker_with_log(clock, threshold=3)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure(LLMErrorKind.SERVER)
    breaker.record_success()  # two failures, then the endpoint answered: not down
    for _ in range(2):
        breaker.record_failure(LLMErrorKind.TIMEOUT)
    assert breaker.state is CLOSED and breaker.allow() and changes == []
    breaker.record_failure(LLMErrorKind.CONNECTION)
    assert breaker.state is OPEN and not breaker.allow()
    assert [(o, n) for o, n, _ in changes] == [(CLOSED, OPEN)]
    assert "3 consecutive failures" in changes[0][2] and "connection" in changes[0][2]
    assert breaker.retry_in_s() == pytest.approx(30.0)


def test_errors_about_the_request_do_not_trip_the_breaker(clock):
    breaker, changes = breaker_with_log(clock, threshold=2)
    for kind in (LLMErrorKind.AUTH, LLMErrorKind.BAD_REQUEST, LLMErrorKind.NOT_FOUND,
                 LLMErrorKind.MALFORMED, LLMErrorKind.AUTH):
        breaker.record_failure(kind)
    assert breaker.state is CLOSED and changes == []


def test_half_open_lets_one_probe_through_and_its_success_closes(clock):
    breaker, changes = breaker_with_log(clock, threshold=1, open_s=10)
    breaker.record_failure(LLMErrorKind.SERVER)
    clock.advance(9.9)
    assert not breaker.allow() and breaker.state is OPEN
    clock.advance(0.1)
    assert breaker.allow()  # the probe
    assert breaker.state is HALF_OPEN
    assert not breaker.allow()  # everyone else waits for the probe's verdict
    breaker.record_success()
    assert breaker.state is CLOSED and breaker.allow()
    assert [(o, n) for o, n, _ in changes] == [(CLOSED, OPEN), (OPEN, HALF_OPEN),
                                               (HALF_OPEN, CLOSED)]


def test_a_failed_probe_opens_the_breaker_again_for_a_full_period(clock):
    breaker, changes = breaker_with_log(clock, threshold=1, open_s=10)
    breaker.record_failure(LLMErrorKind.SERVER)
    clock.advance(10)
    assert breaker.allow()
    breaker.record_failure(LLMErrorKind.TIMEOUT)
    assert breaker.state is OPEN and "probe failed: timeout" in changes[-1][2]
    clock.advance(9)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow() and breaker.state is HALF_OPEN


def test_a_probe_that_says_nothing_about_health_frees_its_slot(clock):
    breaker, _ = breaker_with_log(clock, threshold=1, open_s=10)
    breaker.record_failure(LLMErrorKind.SERVER)
    clock.advance(10)
    assert breaker.allow()
    breaker.probe_abandoned()  # e.g. the request was cancelled mid-probe
    assert breaker.state is HALF_OPEN and breaker.allow()
    breaker.record_failure(LLMErrorKind.AUTH)  # about the request, not the endpoint
    assert breaker.state is HALF_OPEN and breaker.allow()


def test_several_probes_must_all_succeed_to_close(clock):
    breaker, _ = breaker_with_log(clock, threshold=1, open_s=5, probes=2)
    breaker.record_failure(LLMErrorKind.SERVER)
    clock.advance(5)
    assert breaker.allow() and breaker.allow() and not breaker.allow()
    breaker.record_success()
    assert breaker.state is HALF_OPEN
    breaker.record_success()
    assert breaker.state is CLOSED


def test_an_operator_forces_the_breaker_open_and_closed_and_releases_it(clock):
    breaker, changes = breaker_with_log(clock, threshold=1, open_s=5)
    breaker.force_open()
    assert breaker.mode is BreakerMode.FORCED_OPEN and breaker.state is OPEN
    clock.advance(3600)  # time does not reopen a breaker an operator shut
    assert not breaker.allow() and breaker.retry_in_s() == math.inf
    breaker.release()
    assert breaker.mode is BreakerMode.AUTO and breaker.state is HALF_OPEN  # probes first
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is CLOSED

    breaker.force_closed()
    for _ in range(10):
        breaker.record_failure(LLMErrorKind.SERVER)
    assert breaker.state is CLOSED and breaker.allow()
    breaker.release()
    breaker.record_failure(LLMErrorKind.SERVER)
    assert breaker.state is OPEN
    assert [(o, n) for o, n, _ in changes] == [
        (CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED),
        (CLOSED, CLOSED),  # forced closed: only the mode changed, listeners still hear it
        (CLOSED, CLOSED), (CLOSED, OPEN)]
    assert "operator" in changes[0][2] and "operator" in changes[3][2]


def test_a_failing_subscriber_does_not_break_the_breaker(clock, caplog):
    bus = EventBus()
    breaker = CircuitBreaker(settings(threshold=1).breaker, clock, publish=bus.publish)
    heard: list[BreakerChanged] = []

    def broken(event):
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    bus.subscribe(heard.append)
    breaker.record_failure(LLMErrorKind.SERVER)
    assert breaker.state is OPEN
    assert heard == [BreakerChanged("closed", "open", breaker.reason, "auto",
                                    cause="server error")]
    assert "subscriber bug" in caplog.text


# -- the rate limiter ------------------------------------------------------------


async def test_limiter_lets_a_minutes_burst_through_then_paces_requests(clock, sleeper):
    limiter = RateLimiter(RateLimitSettings(requests_per_minute=3, tokens_per_minute=None),
                          clock, sleep=sleeper)
    for _ in range(3):
        assert await limiter.acquire(100) == 0
    assert await limiter.acquire(100) == pytest.approx(20.0)  # one request per 20 s
    assert sleeper.delays == [pytest.approx(20.0)]


async def test_limiter_waits_for_tokens_and_queues_callers_in_order(clock):
    async def frozen_sleep(seconds: float) -> None:  # both callers arrive at the same instant
        await asyncio.sleep(0)

    limiter = RateLimiter(RateLimitSettings(requests_per_minute=None, tokens_per_minute=6000),
                          clock, sleep=frozen_sleep)  # 100 tokens a second
    assert await limiter.acquire(5000) == 0
    waits = await asyncio.gather(limiter.acquire(3000), limiter.acquire(1000))
    # 1000 left: the first waits for 2000 more (20 s); the second queues behind it.
    assert waits == [pytest.approx(20.0), pytest.approx(30.0)]


async def test_limiter_refuses_at_once_what_it_cannot_grant_before_the_deadline(clock, sleeper):
    limiter = RateLimiter(RateLimitSettings(requests_per_minute=60, tokens_per_minute=600),
                          clock, sleep=sleeper)  # 10 tokens a second
    await limiter.acquire(600)
    with pytest.raises(ThrottledError, match="deadline") as err:
        await limiter.acquire(100, deadline=clock.monotonic() + 5)
    assert err.value.kind is LLMErrorKind.THROTTLED and err.value.wait_s == pytest.approx(10.0)
    assert sleeper.delays == []  # refused without waiting in vain
    # The refused call reserved nothing: a call that fits its deadline is not delayed by it.
    assert await limiter.acquire(50, deadline=clock.monotonic() + 5) == pytest.approx(5.0)


async def test_limiter_refuses_a_call_larger_than_a_minutes_allowance(clock, sleeper):
    limiter = RateLimiter(RateLimitSettings(tokens_per_minute=1000), clock, sleep=sleeper)
    with pytest.raises(ThrottledError, match="exceeds the limit"):
        await limiter.acquire(1001)


async def test_a_cancelled_wait_gives_its_reservation_back(clock):
    limiter = RateLimiter(RateLimitSettings(requests_per_minute=1, tokens_per_minute=None),
                          clock, sleep=lambda s: asyncio.Event().wait())
    await limiter.acquire(1)
    waiter = asyncio.create_task(limiter.acquire(1))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    clock.advance(60)
    assert limiter.available()[0] == pytest.approx(1.0)


# -- retries -----------------------------------------------------------------------


def resilient(inner, clock, sleeper, *, rng=lambda: 0.5, **kw) -> ResilientLLM:
    return ResilientLLM(inner, settings(**kw), clock=clock, sleep=sleeper, rng=rng)


async def test_retries_honour_retry_after(clock, sleeper):
    inner = FakeInner(
        LLMError(LLMErrorKind.RATE_LIMITED, "HTTP 429", status=429, retry_after=2.0),
        LLMError(LLMErrorKind.RATE_LIMITED, "HTTP 429", status=429, retry_after=7.0), OK)
    llm = resilient(inner, clock, sleeper)
    assert await llm.complete(STAGE, MESSAGES, None, 100) is OK
    assert sleeper.delays == [2.0, 7.0] and inner.calls == 3


async def test_retries_back_off_exponentially_with_jitter_up_to_the_cap(clock, sleeper):
    inner = FakeInner(*[server_error() for _ in range(5)], OK)
    draws = iter([0.0, 0.5, 1.0, 0.25, 0.0])
    llm = resilient(inner, clock, sleeper, rng=lambda: next(draws), attempts=6, threshold=10,
                    base=1.0, max_delay=6.0, jitter=0.5)
    assert await llm.complete(STAGE, MESSAGES, None, 100) is OK
    # 1, 2, 4, 8 -> 6 (capped), 16 -> 6; each minus jitter * draw of itself.
    assert sleeper.delays == pytest.approx([1.0, 1.5, 2.0, 5.25, 6.0])
    assert llm.stats.retries == 5 and llm.stats.attempts == 6


async def test_retries_give_up_when_the_attempts_are_spent(clock, sleeper):
    inner = FakeInner(*[server_error() for _ in range(3)])
    llm = resilient(inner, clock, sleeper, attempts=3, threshold=10)
    with pytest.raises(LLMError, match="gave up after 3 attempts") as err:
        await llm.complete(STAGE, MESSAGES, None, 100)
    assert err.value.kind is LLMErrorKind.SERVER and err.value.status == 503 and inner.calls == 3


async def test_retries_stop_at_the_requests_deadline(clock, sleeper):
    inner = FakeInner(*[server_error() for _ in range(4)])
    llm = resilient(inner, clock, sleeper, threshold=10, base=1.0, jitter=0.0)
    with pytest.raises(LLMError, match="deadline") as err:
        await llm.complete(STAGE, MESSAGES, None, 100, deadline=clock.monotonic() + 2.5)
    # Waits 1 s, fails again at t=1; the next wait (2 s) would end past t=2.5.
    assert sleeper.delays == [1.0] and inner.calls == 2 and err.value.kind is LLMErrorKind.SERVER


async def test_a_retry_after_past_the_deadline_is_not_waited_for(clock, sleeper):
    inner = FakeInner(LLMError(LLMErrorKind.RATE_LIMITED, "HTTP 429", status=429, retry_after=20.0))
    llm = resilient(inner, clock, sleeper)
    with pytest.raises(LLMError, match="deadline"):
        await llm.complete(STAGE, MESSAGES, None, 100, deadline=clock.monotonic() + 10)
    assert sleeper.delays == [] and inner.calls == 1


async def test_retries_stop_when_the_dollar_ceiling_says_no(clock, sleeper):
    inner = FakeInner(server_error(), server_error(), OK)
    asked = []

    def may_spend() -> bool:
        asked.append(True)
        return len(asked) < 2  # one retry is affordable, a second is not

    llm = resilient(inner, clock, sleeper, threshold=10)
    with pytest.raises(LLMError, match="dollar ceiling"):
        await llm.complete(STAGE, MESSAGES, None, 100, may_spend=may_spend)
    assert inner.calls == 2 and len(asked) == 2 and len(sleeper.delays) == 1


@pytest.mark.parametrize("kind", [LLMErrorKind.AUTH, LLMErrorKind.BAD_REQUEST,
                                  LLMErrorKind.NOT_FOUND, LLMErrorKind.MALFORMED])
async def test_errors_about_the_request_are_never_retried(clock, sleeper, kind):
    error = LLMError(kind, "HTTP 401: bad key", status=401)
    inner = FakeInner(error)
    llm = resilient(inner, clock, sleeper)
    with pytest.raises(LLMError) as err:
        await llm.complete(STAGE, MESSAGES, None, 100)
    assert err.value is error and inner.calls == 1 and sleeper.delays == []


async def test_the_limiter_refusing_sends_nothing(clock, sleeper):
    inner = FakeInner(OK)
    llm = resilient(inner, clock, sleeper, rpm=1)
    assert await llm.complete(STAGE, MESSAGES, None, 100) is OK
    with pytest.raises(ThrottledError):
        await llm.complete(STAGE, MESSAGES, None, 100, deadline=clock.monotonic() + 30)
    assert inner.calls == 1 and llm.stats.throttled == 1


async def test_a_call_still_running_at_the_deadline_is_cut(clock, sleeper):
    class Hanging:
        async def complete(self, stage, messages, tools, max_tokens):
            await asyncio.Event().wait()

    llm = resilient(Hanging(), clock, sleeper)
    with pytest.raises(LLMError, match="deadline passed during the call") as err:
        await llm.complete(STAGE, MESSAGES, None, 100, deadline=clock.monotonic() + 0.05)
    assert err.value.kind is LLMErrorKind.DEADLINE
    assert llm.breaker.consecutive_failures == 0  # our budget, not the endpoint's fault


async def test_an_open_breaker_fails_fast_and_a_cancelled_probe_frees_its_slot(clock, sleeper):
    inner = FakeInner(server_error(), server_error())
    llm = resilient(inner, clock, sleeper, threshold=2, attempts=1, open_s=10)
    for _ in range(2):  # two failed calls open it
        with pytest.raises(LLMError, match="no attempts left"):
            await llm.complete(STAGE, MESSAGES, None, 100)
    assert inner.calls == 2 and llm.breaker.state is OPEN
    with pytest.raises(BreakerOpenError, match=r"next probe in 10\.0 s") as err:
        await llm.complete(STAGE, MESSAGES, None, 100)
    assert err.value.kind is LLMErrorKind.BREAKER_OPEN and inner.calls == 2
    clock.advance(10)

    class Hanging:
        async def complete(self, stage, messages, tools, max_tokens):
            await asyncio.Event().wait()

    llm.inner = Hanging()
    probe = asyncio.create_task(llm.complete(STAGE, MESSAGES, None, 100))
    await asyncio.sleep(0)
    with pytest.raises(BreakerOpenError, match="probe is in flight"):
        await llm.complete(STAGE, MESSAGES, None, 100)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    llm.inner = FakeInner(OK)
    assert await llm.complete(STAGE, MESSAGES, None, 100) is OK
    assert llm.breaker.state is CLOSED


# -- through the real openai client ---------------------------------------------


async def test_scripted_endpoint_429_then_500_then_an_answer(clock, sleeper):
    script = ScriptedLLM([429, 500, final("All good.")])
    llm = ResilientLLM(LLMClient(script.client()), settings(jitter=0.0), clock=clock,
                       sleep=sleeper)
    try:
        completion = await llm.complete(STAGE, MESSAGES, None, 100)
    finally:
        await llm.close()
    assert "All good." in (completion.content or "")
    assert len(script.requests) == 3 and sleeper.delays == [1.0, 2.0]
    assert dict(llm.stats.failures) == {LLMErrorKind.RATE_LIMITED: 1, LLMErrorKind.SERVER: 1}
    # What the metrics panel and the benches print: the same strings as before the enum.
    assert json.dumps(llm.stats.failures, sort_keys=True) == '{"rate_limited": 1, "server": 1}'


async def test_breaker_opens_on_a_failing_server_and_recovers_through_a_probe(clock, sleeper):
    transitions: list[tuple[str, str]] = []
    with MockServer(MockSettings(rate_5xx=1.0)) as server:
        import openai

        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="mock", max_retries=0,
                                    timeout=5.0)
        resilience = settings(threshold=2, attempts=2, open_s=30)
        breaker = CircuitBreaker(resilience.breaker, clock,
                                 publish=lambda event: transitions.append((event.old, event.new)))
        llm = ResilientLLM(LLMClient(client), resilience, clock=clock, sleep=sleeper,
                           breaker=breaker)
        try:
            with pytest.raises(LLMError) as err:
                await llm.complete(STAGE, MESSAGES, None, 100)
            # One call that failed twice is one failure: retries don't open the breaker.
            assert err.value.kind is LLMErrorKind.SERVER and server.stats.calls == 2
            assert llm.breaker.state is CLOSED and llm.breaker.consecutive_failures == 1
            with pytest.raises(LLMError):
                await llm.complete(STAGE, MESSAGES, None, 100)
            assert llm.breaker.state is OPEN and server.stats.calls == 4
            for _ in range(5):
                with pytest.raises(BreakerOpenError):
                    await llm.complete(STAGE, MESSAGES, None, 100)
            assert server.stats.calls == 4  # failing fast: nothing reached the server

            server.service.settings.rate_5xx = 0.0  # the endpoint recovers
            clock.advance(30)
            completion = await llm.complete(STAGE, MESSAGES, None, 100)
        finally:
            await llm.close()
    assert completion.content and server.stats.calls == 5
    assert llm.breaker.state is CLOSED
    assert transitions == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
    assert llm.stats.refused_by_breaker == 5


async def test_fault_runner_accounts_for_every_request_of_a_5xx_burst():
    from bench.fault_bench import CASES, resilient_llm_factory, run_case

    case = next(c for c in CASES if c.name.startswith("5xx"))
    work = [("my app keeps crashing and nothing helps", 7)] * 24
    result = await run_case(case, work, resilient_llm_factory)
    assert sum(result.answered.values()) + sum(result.escalated.values()) == 24
    assert not result.lost and result.breaker_path[:2] == ["closed", "open"]
    assert result.escalated["breaker open"] > 0  # refused without a call
    assert result.mock_calls < 12 * 3  # the burst's 12 requests did not all retry in full


def test_the_package_exports_exactly_its_intended_names():
    import types

    import agentcore.resilience as resilience

    exported = {name for name, value in vars(resilience).items()
                if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert sorted(resilience.__all__) == sorted(exported)
