"""Resilience settings, declared once with type, default and description.

Hung on `Settings` as `settings.resilience`; every part takes only its own
section, so a breaker or limiter can be built and tested alone.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BreakerSettings(_Model):
    failure_threshold: int = Field(
        5, ge=1, le=1000,
        description="consecutive failed LLM calls (timeout, connection, 5xx, 429) that open "
                    "the breaker; any success resets the count")
    open_s: float = Field(
        30.0, gt=0, description="seconds the breaker stays open before letting a probe through")
    half_open_probes: int = Field(
        1, ge=1, le=100,
        description="probe calls let through when half-open; all must succeed to close it, "
                    "one failure opens it again")


class RateLimitSettings(_Model):
    requests_per_minute: int | None = Field(
        3000, ge=1, description="LLM calls per minute (token bucket); None: no limit")
    tokens_per_minute: int | None = Field(
        2_000_000, ge=1,
        description="prompt estimate + max_tokens per minute, as providers count it; "
                    "None: no limit")


class RetrySettings(_Model):
    max_attempts: int = Field(4, ge=1, le=20, description="tries per LLM call, the first included")
    base_delay_s: float = Field(0.5, gt=0, description="backoff before the first retry; doubles")
    max_delay_s: float = Field(8.0, gt=0, description="ceiling of one backoff delay")
    jitter: float = Field(
        0.5, ge=0, le=1,
        description="share of each backoff delay randomised away (0 none, 1 full jitter)")
    max_retry_after_s: float = Field(
        30.0, gt=0,
        description="a Retry-After longer than this is not waited for: the call gives up")
    retry_timeouts: bool = Field(
        True, description="retry a call that timed out; off for a local server, which goes "
                          "on working on the abandoned call and would only queue the retry")

    @model_validator(mode="after")
    def _ordered(self) -> RetrySettings:
        if self.max_delay_s < self.base_delay_s:
            raise ValueError("max_delay_s must be at least base_delay_s")
        return self


class ResilienceSettings(_Model):
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    max_in_flight: int | None = Field(
        None, ge=1, le=1024,
        description="LLM calls in flight at once to the endpoint, waiting ones queue; a local "
                    "server with one slot wants 1; None: no limit")
    request_deadline_s: float | None = Field(
        60.0, gt=0,
        description="seconds one request may spend on LLM calls, retries and waits included; "
                    "None: bounded only by the attempts")
