"""A token-bucket rate limiter on LLM requests and tokens per minute.

Each bucket holds up to one minute's allowance and refills continuously. A call
reserves what it needs at once (buckets may go below zero) and then sleeps
until its reservation is covered: callers are served in arrival order, with no
lock, and a caller knows before sleeping whether it can be served in time. One
that cannot is refused straight away rather than after a pointless wait.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable

from agentcore.clock import Clock
from agentcore.errors import ThrottledError
from agentcore.resilience._settings import RateLimitSettings

log = logging.getLogger("agentcore.resilience")

Sleep = Callable[[float], Awaitable[None]]


class _Bucket:
    def __init__(self, per_minute: int, now: float) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # units per second
        self.level = self.capacity
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` is covered, counting earlier reservations."""
        return max(0.0, (amount - self.level) / self.rate)


class RateLimiter:
    def __init__(self, settings: RateLimitSettings, clock: Clock, *,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        now = clock.monotonic()
        rpm, tpm = settings.requests_per_minute, settings.tokens_per_minute
        self._requests = _Bucket(rpm, now) if rpm else None
        self._tokens = _Bucket(tpm, now) if tpm else None

    @property
    def counts_tokens(self) -> bool:
        """False when there is no token limit: callers may skip estimating tokens."""
        return self._tokens is not None

    def available(self) -> tuple[float, float]:
        """(requests, tokens) that could go now; inf for a bucket that is off."""
        now = self._clock.monotonic()
        levels = []
        for bucket in (self._requests, self._tokens):
            if bucket is None:
                levels.append(math.inf)
            else:
                bucket.refill(now)
                levels.append(max(0.0, bucket.level))
        return levels[0], levels[1]

    async def acquire(self, tokens: int, deadline: float | None = None) -> float:
        """Waits until one request of `tokens` tokens may go; returns the seconds waited.

        `deadline` is on the clock's `monotonic()` scale. Raises `ThrottledError`
        when the wait would end after it, or when `tokens` exceeds a whole
        minute's allowance (such a call could never go)."""
        now = self._clock.monotonic()
        tokens = max(0, tokens)
        if self._tokens is not None and tokens > self._tokens.capacity:
            raise ThrottledError(
                f"a call of {tokens:,} tokens exceeds the limit of "
                f"{int(self._tokens.capacity):,} tokens per minute", wait_s=math.inf)
        wait = 0.0
        for bucket, amount in ((self._requests, 1.0), (self._tokens, float(tokens))):
            if bucket is not None:
                bucket.refill(now)
                wait = max(wait, bucket.wait_for(amount))
        if deadline is not None and now + wait > deadline:
            raise ThrottledError(
                f"the rate limit frees this call in {wait:.2f} s, after the request's "
                f"deadline ({max(0.0, deadline - now):.2f} s away)", wait_s=wait)
        self._take(1.0, float(tokens))
        if wait > 0:
            log.debug("rate limit: waiting %.3f s for 1 request and %d tokens", wait, tokens)
            try:
                await self._sleep(wait)
            except asyncio.CancelledError:
                self._take(-1.0, -float(tokens))  # give the reservation back
                raise
        return wait

    def _take(self, requests: float, tokens: float) -> None:
        if self._requests is not None:
            self._requests.level = min(self._requests.capacity, self._requests.level - requests)
        if self._tokens is not None:
            self._tokens.level = min(self._tokens.capacity, self._tokens.level - tokens)
