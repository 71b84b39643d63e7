"""A circuit breaker in front of the LLM endpoint.

    closed --(threshold consecutive failures)--> open --(open_s later)--> half-open
    half-open --(every probe succeeded)--> closed;  half-open --(a probe failed)--> open

Consecutive failures, not a failure rate in a rolling window: this breaker
guards one endpoint for one desktop agent, whose traffic is too thin and bursty
for a rate to be meaningful (10 calls a minute make "50 % of the last minute"
noise), and retries already absorb scattered failures. An endpoint that fails
`threshold` times in a row, with nothing succeeding in between, is down.

Only failures that say the endpoint is unwell count (timeout, connection,
5xx, 429). A 400, 401, 404 or a malformed body says nothing about its health:
such results neither count nor reset, and in half-open they free the probe
slot they held. There is no timer: open turns half-open when the breaker is
next asked (`allow()` or `state`). Meant for one event loop; not thread-safe.

`opened_by` keeps what opened it in an operator's words (an `LLMCause`, None when
an operator forced it): its refusals and its `BreakerChanged` say so.

Every move is published as a `BreakerChanged` through the `publish` it was built
with: the engine passes its bus's, so the console hears the breaker on the same
channel as every other event, and can unsubscribe from it like any other.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from enum import StrEnum

from agentcore.clock import Clock
from agentcore.errors import LLMCause, LLMErrorKind
from agentcore.events import BreakerChanged
from agentcore.resilience._settings import BreakerSettings

log = logging.getLogger("agentcore.resilience")

# Kinds of LLMError that mean the endpoint is unwell (see the module docstring).
TRIP_KINDS = frozenset({LLMErrorKind.TIMEOUT, LLMErrorKind.CONNECTION, LLMErrorKind.SERVER,
                        LLMErrorKind.RATE_LIMITED})


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerMode(StrEnum):
    AUTO = "auto"
    FORCED_OPEN = "forced_open"  # an operator shut the LLM off
    FORCED_CLOSED = "forced_closed"  # an operator keeps it on whatever fails


class CircuitBreaker:
    def __init__(self, settings: BreakerSettings, clock: Clock, *,
                 publish: Callable[[BreakerChanged], None] | None = None) -> None:
        """`publish` hears every move, and also a change of mode alone (an operator
        forcing the state it already has), so an event's old may equal its new. It is
        called on the call path: the engine's `EventBus.publish` keeps a failing
        subscriber from failing the request."""
        self.settings = settings
        self._clock = clock
        self._publish = publish
        self._state = BreakerState.CLOSED
        self._mode = BreakerMode.AUTO
        self._failures = 0
        self._opened_at = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0
        self.reason = "closed since start-up"  # why it is in its state, for the console
        # The failure that opened it, in an operator's words; None when an operator did.
        self.opened_by: LLMCause | None = None

    # -- what the engine and the console read --------------------------------

    @property
    def state(self) -> BreakerState:
        self._advance()
        return self._state

    @property
    def mode(self) -> BreakerMode:
        return self._mode

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_in_s(self) -> float:
        """Seconds until a call may go through: 0 unless open, inf when forced open."""
        if self._mode is BreakerMode.FORCED_OPEN:
            return math.inf
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.settings.open_s - self._clock.monotonic())

    # -- the call path --------------------------------------------------------

    def allow(self) -> bool:
        """May a call go out now? In half-open a True takes a probe slot: report
        its result with `record_success` / `record_failure`."""
        self._advance()
        if self._mode is BreakerMode.FORCED_CLOSED or self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            return False
        if self._probes_in_flight + self._probe_successes < self.settings.half_open_probes:
            self._probes_in_flight += 1
            return True
        return False

    def record_success(self) -> None:
        if self._mode is not BreakerMode.AUTO:
            return
        if self._state is BreakerState.CLOSED:
            self._failures = 0
        elif self._state is BreakerState.HALF_OPEN:
            # Any result seen while half-open is evidence about the endpoint, even
            # one from a call let through before the breaker opened.
            self._probes_in_flight = max(0, self._probes_in_flight - 1)
            self._probe_successes += 1
            if self._probe_successes >= self.settings.half_open_probes:
                self._set(BreakerState.CLOSED, f"{self._probe_successes} probe(s) succeeded")
        # A straggler succeeding while open proves little; the probe decides.

    def record_failure(self, kind: LLMErrorKind) -> None:
        """A failed call; `kind` is the LLMError's. Kinds outside TRIP_KINDS are neutral."""
        if kind not in TRIP_KINDS:
            self.probe_abandoned()
            return
        if self._mode is not BreakerMode.AUTO:
            return
        if self._state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self.settings.failure_threshold:
                self._open(f"{self._failures} consecutive failures, the last: {kind}", kind)
        elif self._state is BreakerState.HALF_OPEN:
            self._open(f"the half-open probe failed: {kind}", kind)

    def probe_abandoned(self) -> None:
        """A call let through ended with no verdict on the endpoint (cancelled, a bug
        below, an error about the request itself): a probe slot it held is free again."""
        if self._mode is BreakerMode.AUTO and self._state is BreakerState.HALF_OPEN:
            self._probes_in_flight = max(0, self._probes_in_flight - 1)

    # -- the operator ---------------------------------------------------------

    def force_open(self, reason: str = "forced open by an operator") -> None:
        self._mode = BreakerMode.FORCED_OPEN
        self.opened_by = None
        self._set(BreakerState.OPEN, reason, always_notify=True)

    def force_closed(self, reason: str = "forced closed by an operator") -> None:
        self._mode = BreakerMode.FORCED_CLOSED
        self._failures = 0
        self._set(BreakerState.CLOSED, reason, always_notify=True)

    def release(self, reason: str = "returned to automatic by an operator") -> None:
        """Back to automatic. From forced open the breaker goes half-open, so the
        first call probes the endpoint instead of trusting it blindly."""
        previous, self._mode = self._mode, BreakerMode.AUTO
        if previous is BreakerMode.FORCED_OPEN:
            self._half_open(reason)
        else:
            self._failures = 0
            self._set(self._state, reason, always_notify=previous is not BreakerMode.AUTO)

    # -- transitions ----------------------------------------------------------

    def _advance(self) -> None:
        if (self._mode is BreakerMode.AUTO and self._state is BreakerState.OPEN
                and self._clock.monotonic() - self._opened_at >= self.settings.open_s):
            self._half_open(f"open for {self.settings.open_s:g} s: probing")

    def _open(self, reason: str, kind: LLMErrorKind) -> None:
        self.opened_by = LLMCause.of_kind(kind)
        self._set(BreakerState.OPEN, reason)

    def _half_open(self, reason: str) -> None:
        self._probes_in_flight = 0
        self._probe_successes = 0
        self._set(BreakerState.HALF_OPEN, reason)

    def _set(self, new: BreakerState, reason: str, *, always_notify: bool = False) -> None:
        old = self._state
        if old is new and not always_notify:
            return
        self._state = new
        self.reason = reason
        if new is BreakerState.CLOSED:
            self._failures = 0
        if new is BreakerState.OPEN:
            self._opened_at = self._clock.monotonic()
        level = logging.WARNING if new is BreakerState.OPEN else logging.INFO
        log.log(level, "LLM breaker %s -> %s (%s): %s", old, new, self._mode, reason)
        if self._publish is not None:
            cause = (str(self.opened_by or LLMCause.SWITCHED_OFF)
                     if new is BreakerState.OPEN else None)
            self._publish(BreakerChanged(str(old), str(new), reason, str(self._mode), cause))
