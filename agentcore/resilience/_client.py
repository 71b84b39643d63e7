"""`ResilientLLM`: the LLM client behind a breaker, a rate limiter and retries.

It has `LLMClient.complete`'s signature plus two keywords, so the agent loop
can hold either. Per call:

    breaker.allow()  -- open: BreakerOpenError at once, nothing sent
    per attempt:
      limiter.acquire  -- waits, or ThrottledError if not before the deadline
      a free slot      -- at most `max_in_flight` calls at the endpoint; queued
                          callers wait, up to the deadline
      inner.complete   -- cut at the request's deadline; a cut call's connection
                          is closed, so the server sees it abandoned
      failure          -- retry after a backoff or Retry-After, unless the kind is
                          not retryable, the endpoint gave the same error twice,
                          the attempts are spent, the breaker has opened, the wait
                          would pass the deadline, or may_spend() says the dollar
                          ceiling forbids another call
    breaker.record_*  -- once: the breaker counts failed calls, not attempts, so
                         one request retrying cannot open it for everyone
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from agentcore.clock import Clock, SystemClock
from agentcore.errors import BreakerOpenError, LLMError, LLMErrorKind
from agentcore.resilience._breaker import (
    TRIP_KINDS,
    BreakerMode,
    BreakerState,
    CircuitBreaker,
)
from agentcore.resilience._limiter import RateLimiter, Sleep
from agentcore.resilience._retry import RetryPolicy
from agentcore.resilience._settings import ResilienceSettings

if TYPE_CHECKING:
    from agentcore.llm import Completion
    from agentcore.settings import StageModel

log = logging.getLogger("agentcore.resilience")


class CompletionClient(Protocol):
    """What `LLMClient` offers and `ResilientLLM` wraps."""

    async def complete(self, stage: StageModel, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]] | None, max_tokens: int, *,
                       schema: tuple[str, dict[str, Any]] | None = None) -> Completion: ...


@dataclass
class ResilienceStats:
    """Running totals for the metrics panel and the fault benchmark."""

    calls: int = 0  # complete() calls
    attempts: int = 0  # requests actually sent to the endpoint
    slot_wait_s: float = 0.0  # queued for a free slot (max_in_flight)
    retries: int = 0
    refused_by_breaker: int = 0
    throttled: int = 0  # refused by the local rate limiter
    limiter_wait_s: float = 0.0
    # StrEnum keys: they print and serialise as the plain strings they always were.
    failures: Counter[LLMErrorKind] = field(default_factory=Counter)  # failed attempts by kind
    gave_up: Counter[LLMErrorKind] = field(default_factory=Counter)  # failed calls by last kind


class ResilientLLM:
    def __init__(self, inner: CompletionClient, settings: ResilienceSettings | None = None, *,
                 clock: Clock | None = None, breaker: CircuitBreaker | None = None,
                 limiter: RateLimiter | None = None, sleep: Sleep = asyncio.sleep,
                 rng: Callable[[], float] = random.random) -> None:
        self.inner = inner
        self.settings = settings or ResilienceSettings()
        self.clock = clock or SystemClock()
        # The engine passes its own breaker: it publishes on the engine's bus, and the
        # operator forces it.
        self.breaker = breaker or CircuitBreaker(self.settings.breaker, self.clock)
        self.limiter = limiter or RateLimiter(self.settings.rate_limit, self.clock, sleep=sleep)
        self.policy = RetryPolicy(self.settings.retry, rng)
        self.stats = ResilienceStats()
        self._sleep = sleep
        limit = self.settings.max_in_flight
        self._slots = asyncio.Semaphore(limit) if limit else None
        self._tools: list[dict[str, Any]] | None = None
        self._tools_chars = 0

    async def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            await close()

    async def complete(self, stage: StageModel, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]] | None, max_tokens: int, *,
                       schema: tuple[str, dict[str, Any]] | None = None,
                       deadline: float | None = None,
                       may_spend: Callable[[], bool] | None = None) -> Completion:
        """One completion, retried as the settings allow.

        `deadline` is on the clock's `monotonic()` scale; without one the call
        gets `request_deadline_s` of its own. `may_spend` is asked before each
        retry (the first call is the caller's to check): False stops retrying."""
        # Imported here: agentcore.llm imports the settings, which import this package.
        from agentcore.llm import estimate_tokens

        self.stats.calls += 1
        if deadline is None and self.settings.request_deadline_s is not None:
            deadline = self.clock.monotonic() + self.settings.request_deadline_s
        # Providers count the prompt and the whole max_tokens against the minute.
        tokens = (estimate_tokens(messages, self._schemas_chars(tools)) + max_tokens
                  if self.limiter.counts_tokens else 0)  # JSON-encoding a prompt costs µs
        if not self.breaker.allow():
            self.stats.refused_by_breaker += 1
            raise self._refused(None)
        # Let through while half-open: this call is the probe, and holds its slot.
        probe = self.breaker.state is BreakerState.HALF_OPEN
        failures: list[LLMError] = []
        try:
            while True:
                try:
                    waited = await self.limiter.acquire(tokens, deadline)
                    self.stats.limiter_wait_s += waited
                    completion = await self._attempt(stage, messages, tools, max_tokens,
                                                     schema, deadline, probe)
                except BreakerOpenError:
                    self.stats.refused_by_breaker += 1
                    self._record_failure(LLMErrorKind.BREAKER_OPEN, probe)
                    raise
                except LLMError as exc:
                    failures.append(exc)
                else:
                    self.breaker.record_success()
                    return completion
                last = failures[-1]
                self.stats.failures[last.kind] += 1
                delay, why = self._next_delay(failures, deadline, may_spend)
                if delay is None:
                    self.stats.gave_up[last.kind] += 1
                    if last.kind is LLMErrorKind.THROTTLED:
                        self.stats.throttled += 1
                    # One failure per call, of the kind that says most about the endpoint:
                    # a timeout whose retry the deadline cut is still a timeout.
                    tripping = [f.kind for f in failures if f.kind in TRIP_KINDS]
                    self._record_failure(tripping[-1] if tripping else last.kind, probe)
                    raise self._gave_up(last, len(failures), why)
                self.stats.retries += 1
                log.info("LLM call failed (%s); retry %d in %.2f s (%s)", last,
                         len(failures), delay, why)
                await self._sleep(delay)
        except LLMError:
            raise
        except BaseException:
            # Cancelled or a bug below: neither says the endpoint is unwell,
            # but a half-open probe slot must not be left taken.
            if probe:
                self.breaker.probe_abandoned()
            raise

    def _record_failure(self, kind: LLMErrorKind, probe: bool) -> None:
        # A kind that says nothing about the endpoint only frees a probe slot, and a
        # call that was not the probe holds none to free.
        if kind in TRIP_KINDS or probe:
            self.breaker.record_failure(kind)

    async def _attempt(self, stage: StageModel, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]] | None, max_tokens: int,
                       schema: tuple[str, dict[str, Any]] | None,
                       deadline: float | None, probe: bool) -> Completion:
        remaining = None if deadline is None else deadline - self.clock.monotonic()
        if remaining is not None and remaining <= 0:
            raise LLMError(LLMErrorKind.DEADLINE, "the request's deadline passed before the call")
        timeout = asyncio.timeout(remaining)
        try:
            async with timeout:
                if self._slots is None:
                    return await self._send(stage, messages, tools, max_tokens, schema)
                queued = self.clock.monotonic()
                async with self._slots:
                    self.stats.slot_wait_s += self.clock.monotonic() - queued
                    # The breaker may have shut while this call queued: a dead endpoint
                    # must not get every waiting call, one timeout after another.
                    state = self.breaker.state
                    if state is BreakerState.OPEN or (state is BreakerState.HALF_OPEN
                                                      and not probe):
                        raise self._refused(None)
                    return await self._send(stage, messages, tools, max_tokens, schema)
        except TimeoutError:
            if not timeout.expired():
                raise
            # Cancelling the call closed its connection (httpx drops one that is cut
            # mid-response): the server sees the call abandoned before any retry.
            raise LLMError(LLMErrorKind.DEADLINE, f"the request's deadline passed during the call "
                                     f"({remaining:.2f} s were left)") from None

    async def _send(self, stage: StageModel, messages: list[dict[str, Any]],
                    tools: list[dict[str, Any]] | None, max_tokens: int,
                    schema: tuple[str, dict[str, Any]] | None) -> Completion:
        self.stats.attempts += 1
        if schema is None:
            return await self.inner.complete(stage, messages, tools, max_tokens)
        return await self.inner.complete(stage, messages, tools, max_tokens, schema=schema)

    def _next_delay(self, failures: list[LLMError], deadline: float | None,
                    may_spend: Callable[[], bool] | None) -> tuple[float | None, str]:
        error = failures[-1]
        if error.kind is LLMErrorKind.TIMEOUT and not self.settings.retry.retry_timeouts:
            return None, "timeouts are not retried on this endpoint"
        if error.status == 500 and len(failures) > 1 and str(error) == str(failures[-2]):
            # A validation error a server reports as a 500 comes back word for word:
            # it is about this request, and a third try would only repeat it.
            return None, "the endpoint gave the same error twice"
        delay, why = self.policy.delay_after(error, len(failures))
        if delay is None:
            return None, why
        if self.breaker.state is BreakerState.OPEN:
            return None, "the breaker opened"
        if deadline is not None and self.clock.monotonic() + delay >= deadline:
            return None, f"the next try, {delay:.2f} s away, would pass the request's deadline"
        if may_spend is not None and not may_spend():
            return None, "the dollar ceiling allows no further call"
        return delay, why

    def _refused(self, last: LLMError | None) -> BreakerOpenError:
        breaker = self.breaker
        retry_in = breaker.retry_in_s()
        when = "until an operator releases it" if retry_in == math.inf else (
            f"next probe in {retry_in:.1f} s" if breaker.state is BreakerState.OPEN
            else "a probe is in flight")
        error = BreakerOpenError(f"the LLM circuit breaker is {breaker.state} "
                                 f"({breaker.reason}); {when}", retry_in_s=retry_in,
                                 opened_by=None if breaker.mode is BreakerMode.FORCED_OPEN
                                 else breaker.opened_by)
        error.__cause__ = last  # the failure that ended the previous attempt, if any
        return error

    @staticmethod
    def _gave_up(error: LLMError, attempts: int, why: str) -> LLMError:
        if why == "not retryable":
            if attempts > 1:
                error.add_note(f"after {attempts} attempts")
            return error  # as raised: a ThrottledError stays one
        message = str(error).removeprefix(f"{error.kind}: ")
        final = LLMError(error.kind, f"{message} (gave up after {attempts} "
                                     f"attempt{'s' * (attempts > 1)}: {why})",
                         status=error.status, retry_after=error.retry_after)
        final.__cause__ = error
        return final

    def _schemas_chars(self, tools: list[dict[str, Any]] | None) -> int:
        # The loop passes the registry's one schema list on every call: measure it once.
        if not tools:
            return 0
        if tools is not self._tools:
            self._tools, self._tools_chars = tools, len(json.dumps(tools))
        return self._tools_chars
