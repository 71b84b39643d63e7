"""When to try an LLM call again, and after how long.

Exponential backoff with jitter (AWS's "exponential backoff and jitter"): the
n-th retry waits base * 2**(n-1), capped, minus a random share of it, so
clients that failed together do not come back together. A Retry-After from the
server is obeyed as given: it knows when it will have room. Errors about the
request itself (auth, bad request, not found, malformed output) fail the same
way every time and are never retried.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from agentcore.errors import LLMError, LLMErrorKind
from agentcore.resilience._settings import RetrySettings

RETRY_KINDS = frozenset({LLMErrorKind.RATE_LIMITED, LLMErrorKind.SERVER, LLMErrorKind.TIMEOUT,
                         LLMErrorKind.CONNECTION})


class RetryPolicy:
    def __init__(self, settings: RetrySettings,
                 rng: Callable[[], float] = random.random) -> None:
        self.settings = settings
        self._rng = rng  # uniform in [0, 1); injected by tests

    def backoff(self, retry: int) -> float:
        """Seconds before the `retry`-th retry (1-based), jitter applied."""
        s = self.settings
        delay = min(s.max_delay_s, s.base_delay_s * 2.0 ** (retry - 1))
        return delay * (1.0 - s.jitter * self._rng())

    def delay_after(self, error: LLMError, attempt: int) -> tuple[float | None, str]:
        """Seconds before trying again after `attempt` (1-based) failed with `error`,
        or (None, why not)."""
        if error.kind not in RETRY_KINDS:
            return None, "not retryable"
        if attempt >= self.settings.max_attempts:
            return None, "no attempts left"
        if error.retry_after is not None:
            if error.retry_after > self.settings.max_retry_after_s:
                return None, (f"Retry-After {error.retry_after:g} s is longer than "
                              f"{self.settings.max_retry_after_s:g} s")
            return max(0.0, error.retry_after), "Retry-After"
        return self.backoff(attempt), "backoff"
