"""Resilience around the LLM: a circuit breaker, a rate limiter and retries.

    llm = ResilientLLM(LLMClient(client), settings.resilience, clock=clock, breaker=breaker)
    completion = await llm.complete(stage, messages, tools, max_tokens,
                                    deadline=deadline, may_spend=lambda: under_ceiling)

Each part takes an injected clock (and the limiter and retries an injected
sleep), so tests drive time instead of waiting for it.
"""

from agentcore.errors import BreakerOpenError, ThrottledError
from agentcore.errors import LLMErrorKind as _Kind
from agentcore.resilience._breaker import (
    TRIP_KINDS,
    BreakerMode,
    BreakerState,
    CircuitBreaker,
)
from agentcore.resilience._client import CompletionClient, ResilienceStats, ResilientLLM
from agentcore.resilience._limiter import RateLimiter
from agentcore.resilience._retry import RETRY_KINDS, RetryPolicy
from agentcore.resilience._settings import (
    BreakerSettings,
    RateLimitSettings,
    ResilienceSettings,
    RetrySettings,
)

# The kinds this package adds, under the names it has always exported; they are
# the LLMErrorKind members themselves, so `exc.kind is BREAKER_OPEN` holds.
BREAKER_OPEN = _Kind.BREAKER_OPEN
THROTTLED = _Kind.THROTTLED
DEADLINE = _Kind.DEADLINE

__all__ = [
    "BREAKER_OPEN",
    "DEADLINE",
    "RETRY_KINDS",
    "THROTTLED",
    "TRIP_KINDS",
    "BreakerMode",
    "BreakerOpenError",
    "BreakerSettings",
    "BreakerState",
    "CircuitBreaker",
    "CompletionClient",
    "RateLimitSettings",
    "RateLimiter",
    "ResilienceSettings",
    "ResilienceStats",
    "ResilientLLM",
    "RetryPolicy",
    "RetrySettings",
    "ThrottledError",
]
