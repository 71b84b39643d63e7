"""Paces submissions over a list of items: the console's demo traffic and `replay`.

A rate (items per second, 0: as fast as the bound allows), a bound on how many
submissions are in flight, a number of laps over the items (None: for ever), a
position that can be saved and resumed from, and pause / resume. Plain Python
with plain callbacks; the console's `TrafficGenerator` adapts it to Qt signals.

One asyncio task sleeps until the next submission is due (no polling). Waiting
for a free slot is the back-pressure: a slow LLM makes the schedule slip rather
than the number of requests in flight grow without bound. After a stall (a
modal dialog, a suspended laptop) the schedule catches up with at most
`max_backlog_s` worth of submissions in one burst. Pausing stops new
submissions; the ones in flight finish, as accepted requests must.

The clock and the sleep are injected, so tests drive time instead of waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger("agentcore.pacer")

T = TypeVar("T")
R = TypeVar("R")
Sleep = Callable[[float], Awaitable[None]]

# A stall's backlog is caught up with at most this much of the schedule at once.
MAX_BACKLOG_S = 0.5


@dataclass(frozen=True, slots=True)
class Position:
    """Where a pacer is: the next item it submits, and the laps it has completed."""

    index: int = 0
    lap: int = 0


def _ignore(*_args: object) -> None:
    return None


def _raise(exc: BaseException) -> None:
    # Raised in a task's done callback: the loop's exception handler reports it
    # (the console's ErrorReporter, asyncio's log in a script).
    raise exc


class Pacer(Generic[T, R]):
    """Submits `items` in order through `submit`, paced; see the module docstring.

    Callbacks (all optional, called on the loop): `on_progress(position)` after each
    submission starts, `on_running(running)` when it starts, pauses or ends by
    itself, `on_result(index, result)` as each submission finishes, `on_error(exc)`
    when a submission (or the pacer itself) raises; without one, the exception goes
    to the loop's exception handler. The first error is also kept in `error`.
    """

    def __init__(self, items: Sequence[T], submit: Callable[[T], Awaitable[R]], *,
                 rate: float = 0.0, concurrency: int = 8, laps: int | None = None,
                 position: Position = Position(), clock: Callable[[], float] | None = None,
                 sleep: Sleep = asyncio.sleep, max_backlog_s: float = MAX_BACKLOG_S,
                 on_progress: Callable[[Position], None] = _ignore,
                 on_running: Callable[[bool], None] = _ignore,
                 on_result: Callable[[int, R], None] = _ignore,
                 on_error: Callable[[BaseException], None] = _raise) -> None:
        self.items = list(items)
        self._submit = submit
        self.rate = max(0.0, rate)
        self.concurrency = max(1, concurrency)
        self.laps = laps
        self.position = self._within(position)
        self.submitted = 0
        self.error: BaseException | None = None
        self._clock = clock
        self._sleep = sleep
        self.max_backlog_s = max_backlog_s
        self._on_progress = on_progress
        self._on_running = on_running
        self._on_result = on_result
        self._on_error = on_error
        self._running = False
        self._runner: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._last_due: float | None = None  # the schedule's slot of the last submission
        self._next_due: float | None = None

    def _within(self, position: Position) -> Position:
        """A saved position for items that have since shrunk starts their next lap."""
        if position.index < 0 or position.lap < 0:
            return Position()
        if self.items and position.index >= len(self.items):
            return Position(0, position.lap + 1)
        return position

    # -- state ---------------------------------------------------------------

    @property
    def running(self) -> bool:
        # A flag, not the task's state: a cancelled task is done only a turn later,
        # and whoever paused must see "paused" at once.
        return self._running

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def finished(self) -> bool:
        """Every lap asked for is submitted (never, with laps None)."""
        return self.laps is not None and self.position.lap >= self.laps

    def set_rate(self, rate: float) -> None:
        """Applies at once: the next submission is due one new interval after the last
        (a runner asleep until the old rate's next one starts again)."""
        self.rate = max(0.0, rate)
        if self._running and self._last_due is not None:
            self._next_due = self._last_due + (1.0 / self.rate if self.rate > 0 else 0.0)
            self._restart()

    def set_concurrency(self, concurrency: int) -> None:
        self.concurrency = max(1, concurrency)
        self._slot_freed.set()  # a waiting runner looks again: a raised bound applies now

    # -- control -------------------------------------------------------------

    def start(self) -> None:
        """Starts (or resumes from `position`); does nothing if running or finished."""
        if self._running or not self.items or self.finished:
            return
        self._running = True
        self._next_due = self._last_due = None  # resumed: due now, no backlog of the pause
        self._restart()
        self._on_running(True)

    def _restart(self) -> None:
        if self._runner is not None:
            self._runner.cancel()  # it waits in a sleep or for a slot: never mid-submission
        self._runner = asyncio.ensure_future(self._run())
        self._runner.add_done_callback(self._runner_done)

    def pause(self) -> None:
        """No new submissions; those in flight finish."""
        if not self._running:
            return
        self._running = False
        if self._runner is not None:
            self._runner.cancel()
        self._on_running(False)

    async def wait(self) -> None:
        """Until the pacer has stopped (finished, paused or failed) and nothing is in
        flight."""
        # A loop: a rate change replaces the runner while this waits on the old one.
        while self._runner is not None and not self._runner.done():
            await asyncio.gather(self._runner, return_exceptions=True)
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def stop(self) -> None:
        """Pauses and waits for what is in flight (shutdown)."""
        self.pause()
        await self.wait()

    # -- the schedule ----------------------------------------------------------

    async def _run(self) -> None:
        clock = self._clock or asyncio.get_running_loop().time
        due = clock() if self._next_due is None else self._next_due
        while not self.finished:
            if self.rate > 0:
                now = clock()
                due = max(due, now - self.max_backlog_s)
                if due > now:
                    await self._sleep(due - now)
            while len(self._in_flight) >= self.concurrency:
                self._slot_freed.clear()
                await self._slot_freed.wait()
            index = self.position.index
            task = asyncio.ensure_future(self._one(index, self.items[index]))
            self._in_flight.add(task)
            task.add_done_callback(self._submitted)
            self.submitted += 1
            index += 1
            self.position = (Position(0, self.position.lap + 1) if index == len(self.items)
                             else Position(index, self.position.lap))
            self._last_due = due
            if self.rate > 0:
                due += 1.0 / self.rate
            self._next_due = due
            self._on_progress(self.position)

    async def _one(self, index: int, item: T) -> None:
        self._on_result(index, await self._submit(item))

    def _submitted(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slot_freed.set()
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._fail(exc)

    def _runner_done(self, task: asyncio.Task[None]) -> None:
        if task is not self._runner or task.cancelled():
            return
        if self._running:  # it ended by itself: every lap done, or a bug in the loop
            self._running = False
            self._on_running(False)
        if (exc := task.exception()) is not None:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self._on_error(exc)
