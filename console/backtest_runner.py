"""Runs backtests and rule mining off the GUI thread, debounced, newest wins.

The operator types; each keystroke schedules a backtest and bumps a generation
number at once. After `debounce_ms` of quiet the newest draft goes to a single
worker thread (RE2 releases no GIL, but the thread yields it every few
milliseconds: the loop lag is measured in bench/rules_bench.py). A running
backtest polls the generation and stops when superseded; a result that
arrives for an older generation is dropped, so what is shown always belongs
to the text in the fields.

The recorded traffic is loaded in the worker (the engine's `store.traffic`, read
on the worker's own read-only connection once the outcomes already returned are
on disk) on first use, after `refresh()` and when the sample's size is changed.
Traffic keeps arriving while the operator edits: a sample older than
`TOP_UP_AFTER_S` is topped up with what was answered, re-run or labelled since it was
read (`Backtester.topped_up`), which costs the size of the change, not of the
sample (a million requests take seconds to read and route again). What leaves the
recorded traffic meanwhile (a request pruned by retention, a re-run turned away by
the guard) stays in the sample until the next whole read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QTimer, Signal

from agentcore import (
    DEFAULT_SAMPLE,
    BacktestCancelled,
    Backtester,
    BacktestResult,
    Router,
    Rule,
    RuleError,
    TrafficRepository,
    backtest_rules,
    hits_since,
    load_recorded,
    suggest_rules,
)

log = logging.getLogger("console.backtest")
T = TypeVar("T")
TOP_UP_AFTER_S = 30.0
# How far before the last read the next top-up looks: an outcome is stamped when it is
# made and committed a moment later, and other stations' and services' clocks may be a
# little off. Rows read twice are replaced, not doubled.
LATE_WRITE_S = 120.0


@dataclass(frozen=True, slots=True)
class RuleStats:
    """What the rules table shows beside each live rule."""

    hits_today: dict[str, int]
    baseline: BacktestResult  # the live rules over the sample: their precision


class BacktestRunner(QObject):
    started = Signal(int)  # a backtest set off; > 0: the requests it first reads whole
    finished = Signal(object)  # BacktestResult of the newest draft
    failed = Signal(str)  # the draft can't be compiled (or the backtest broke)
    stats_ready = Signal(object)  # RuleStats
    suggestions_ready = Signal(object)  # list[Suggestion]
    suggestions_failed = Signal(str)  # why mining stopped

    def __init__(self, live: Callable[[], Router], traffic: TrafficRepository, *,
                 now: Callable[[], float],
                 sample_size: int | Callable[[], int] = DEFAULT_SAMPLE,
                 debounce_ms: int = 250, parent: QObject | None = None) -> None:
        """`live` reads the router running now (a draft is compared with it);
        `traffic` is the engine's recorded traffic (`store.traffic`: read on the
        worker's own connection, after every outcome already returned is on disk, so
        a request answered just before Refresh is counted); `now` the engine's clock
        (where "today" starts for the hits per rule); `sample_size` the newest requests
        replayed, or what reads it at each load (the settings may change it)."""
        super().__init__(parent)
        self._live = live
        self.traffic = traffic
        self._now = now
        self._sample_size = sample_size if callable(sample_size) else lambda: sample_size
        self.result: BacktestResult | None = None
        # What `result` backtested: the draft's rules and fragments, and the live router.
        self._result_of: tuple[tuple[Rule, ...], dict[str, str], object] | None = None
        self.completed = 0  # backtests shown so far (tests wait on it)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backtest")
        self._generation = 0
        self._pending: tuple[tuple[Rule, ...], dict[str, str], str | None] | None = None
        self._backtester: Backtester | None = None
        self._stale = True
        self._loaded_at = 0.0  # perf_counter at the last read, whole or top-up
        self._read_since = 0.0  # the engine's clock as that read began
        self._loaded_size = 0  # the sample size it was read for
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._started: tuple[int, object] | None = None  # generation and live router
        self._backtest: asyncio.Task[Any] | None = None  # the draft's, when one runs
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self._start)

    @property
    def busy(self) -> bool:
        return self._timer.isActive() or any(not t.done() for t in self._tasks)

    # -- requests from the view ---------------------------------------------------

    def schedule(self, rules: Sequence[Rule], fragments: Mapping[str, str],
                 focus: str | None = None) -> None:
        """Backtests this draft once typing pauses; supersedes any earlier one now."""
        if self._closed:
            return
        self._generation += 1
        self._pending = (tuple(rules), dict(fragments), focus)
        self._timer.start()

    def result_for(self, rules: Sequence[Rule],
                   fragments: Mapping[str, str]) -> BacktestResult | None:
        """The finished backtest of exactly this draft against the rules live now, or
        None (not run yet, superseded, or the live rules changed since)."""
        if self._result_of is None or self.result is None:
            return None
        of_rules, of_fragments, live = self._result_of
        if live is not self._live() or of_rules != tuple(rules) \
                or of_fragments != dict(fragments):
            return None
        return self.result

    def run_now(self, rules: Sequence[Rule], fragments: Mapping[str, str],
                focus: str | None = None) -> None:
        """This draft's backtest without waiting for typing to pause (Apply waits on
        it); one already running for it against the same live rules is left to finish."""
        pending = self._pending
        running = (pending is not None and pending[:2] == (tuple(rules), dict(fragments))
                   and self._started == (self._generation, self._live())
                   and self._backtest is not None and not self._backtest.done())
        if not running:
            self.schedule(rules, fragments, focus)
            self._timer.stop()
            self._start()

    def refresh(self) -> None:
        """Reload the recorded traffic before the next run (new requests were answered)."""
        self._stale = True

    def request_stats(self) -> None:
        live = self._live()
        since = datetime.fromtimestamp(self._now()).replace(
            hour=0, minute=0, second=0, microsecond=0).timestamp()
        traffic = self.traffic

        def work() -> RuleStats:
            backtester = self._sample()
            return RuleStats(hits_since(traffic, since),
                             backtester.run(live, live, cancelled=lambda: self._closed))

        self._spawn(work, self.stats_ready.emit)

    def request_suggestions(self, rejected: set[str]) -> None:
        live = self._live()
        self._spawn(lambda: suggest_rules(self._sample(), live, rejected=rejected,
                                    cancelled=lambda: self._closed),
                    self.suggestions_ready.emit, failed=self.suggestions_failed.emit)

    def close(self) -> None:
        """Stops what runs (it polls the generation) and the worker thread."""
        self._closed = True
        self._generation += 1
        self._timer.stop()
        self._executor.shutdown(wait=True, cancel_futures=True)

    # -- the worker side ------------------------------------------------------------

    @property
    def sample_size(self) -> int:
        return self._sample_size()

    def _reads_whole(self) -> bool:
        """Whether the next backtest reads the recorded traffic whole first (seconds, for
        a million): the first, after Refresh, or for a new sample size."""
        return self._backtester is None or self._stale or self.sample_size != self._loaded_size

    def _sample(self) -> Backtester:
        # Worker thread only: one thread, so the sample and its caches need no lock.
        started = time.perf_counter()
        size = self.sample_size
        since = self._read_since
        backtester = self._backtester
        if backtester is None or self._reads_whole():
            self._stale = False
            self._loaded_at, self._read_since, self._loaded_size = started, self._now(), size
            backtester = self._backtester = Backtester(load_recorded(self.traffic, size))
            log.info("loaded %d recorded requests in %.0f ms", len(backtester.requests),
                     (time.perf_counter() - started) * 1000)
        elif started - self._loaded_at > TOP_UP_AFTER_S:
            self._loaded_at, self._read_since = started, self._now()
            fresh = self.traffic.recorded_since(since - LATE_WRITE_S, size)
            backtester = self._backtester = backtester.topped_up(
                fresh, size, cancelled=lambda: self._closed)
            log.info("topped up the sample with %d recorded requests in %.0f ms", len(fresh),
                     (time.perf_counter() - started) * 1000)
        return backtester

    def _start(self) -> None:
        if self._pending is None or self._closed:
            return
        generation = self._generation
        rules, fragments, focus = self._pending
        live = self._live()  # the router the draft is compared with, read once
        self._started = (generation, live)

        def cancelled() -> bool:
            return generation != self._generation

        def work() -> BacktestResult:
            return backtest_rules(self._sample(), live, rules, fragments, focus=focus,
                                  cancelled=cancelled)

        def done(result: BacktestResult) -> None:
            if cancelled():  # typing went on while it ran: not this text's result
                return
            self.result = result
            self._result_of = (rules, fragments, live)
            self.completed += 1
            self.finished.emit(result)

        self.started.emit(self.sample_size if self._reads_whole() else 0)
        self._backtest = self._spawn(work, done, stale=cancelled)

    def _spawn(self, work: Callable[[], T], done: Callable[[T], None], *,
               stale: Callable[[], bool] = lambda: False,
               failed: Callable[[str], None] | None = None) -> asyncio.Task[Any] | None:
        if self._closed:
            return None
        task = asyncio.ensure_future(self._run(work, done, stale, failed or self.failed.emit))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, work: Callable[[], T], done: Callable[[T], None],
                   stale: Callable[[], bool], failed: Callable[[str], None]) -> None:
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._executor, work)
        except BacktestCancelled:
            return
        except RuleError as exc:  # the draft does not compile: the editor says why
            if not stale():
                failed(str(exc))
            return
        except Exception as exc:
            if isinstance(exc, RuntimeError) and self._closed:  # the executor is shut down
                log.debug("backtest dropped at close: %s", exc)
                return
            # A locked database, or a bug: said beside the results, never a panel left
            # waiting for ever; the log has the traceback.
            log.exception("backtest failed")
            if not stale():
                failed(f"The backtest failed: {exc} (details in the console log)")
            return
        if self._closed:  # finished as the window closed: the engine may be gone
            return
        done(result)
