"""Time behind an interface, so tests and demos control 'now'."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from agentcore.errors import StorageError

log = logging.getLogger("agentcore.clock")


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; for durations."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.perf_counter()


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self._now = start
        self._mono = 0.0

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._mono += seconds


class ServerClock:
    """`base` read as the shared database server's clock: what a team's stations decide
    by (a claim's lease, an approval's window) must not depend on whose machine's clock
    is right. The offset to the server is measured at start, and again whenever `base`
    is seen to jump against its own monotonic clock (a clock stepped, a laptop woken):
    a clock that only advances, a test's fake one too, keeps the offset it started
    with. A server that can't be read for a new measurement leaves the last one."""

    def __init__(self, base: Clock, server_now: Callable[[], float | None], *,
                 step_s: float = 1.0) -> None:
        self._base = base
        self._server_now = server_now
        self._step_s = step_s
        self._offset = 0.0
        self._anchor = 0.0
        self._measure()

    @property
    def offset_s(self) -> float:
        """How far the server's clock is ahead of `base` (negative: behind)."""
        return self._offset

    def _measure(self) -> None:
        before = self._base.now()
        server = self._server_now()
        after = self._base.now()
        if server is None:  # no server clock after all: this machine's own
            raise StorageError("the database has no server clock to read")
        self._offset = server - (before + after) / 2  # the server read half-way, roughly
        self._anchor = after - self._base.monotonic()

    def now(self) -> float:
        here = self._base.now()
        if abs(here - self._base.monotonic() - self._anchor) > self._step_s:
            try:
                self._measure()
            except StorageError:
                log.warning("the database server's clock could not be read again; keeping "
                            "the last offset to it (%+.3f s)", self._offset)
                self._anchor = here - self._base.monotonic()
            here = self._base.now()
        return here + self._offset

    def monotonic(self) -> float:
        return self._base.monotonic()
