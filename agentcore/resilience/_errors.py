"""The two failures resilience adds. Both are `LLMError`s, so every caller that
already handles an unavailable LLM (the agent loop, the ladder) handles them."""

from __future__ import annotations

from agentcore.errors import LLMError

BREAKER_OPEN = "breaker_open"
THROTTLED = "throttled"
DEADLINE = "deadline"


class BreakerOpenError(LLMError):
    """The circuit breaker refused the call; nothing was sent."""

    def __init__(self, message: str, *, retry_in_s: float) -> None:
        super().__init__(BREAKER_OPEN, message)
        self.retry_in_s = retry_in_s  # until the next half-open probe; inf when forced open


class ThrottledError(LLMError):
    """The local rate limiter cannot grant the call before the request's deadline."""

    def __init__(self, message: str, *, wait_s: float) -> None:
        super().__init__(THROTTLED, message)
        self.wait_s = wait_s  # how long the call would have had to wait
