"""One operator tending the learned tier: train a candidate on the recorded traffic
(off the GUI thread), read its hold-out backtest, choose a threshold, use the
candidate as a new version; switch the running one on or off, change its
threshold, undo.

Plain Python, no Qt (tested headless): the panel (`console.learned_panel`) shows
this. Every action returns a `Told`, as `RuleSession`'s do: done or not, and the
sentence for the operator. A candidate never replaces the running model by
itself: it waits here until "Use this version", and a new training replaces only
the candidate.

Thresholds: a hold-out backtest carries its figures at one threshold (per intent,
the wrong answers) and coverage and precision along a curve of thresholds. The
curve previews a threshold at once; the candidate is used at a threshold only once
a backtest *at* that threshold exists (`backtest_at`, another hold-out run, off
the GUI thread). The running model keeps no training rows, so its threshold moves
only to a point its saved backtest's curve has figures for.

Training runs on an executor of the session's own, one thread, never the loop's
default: the console runs on qasync, whose default executor is a pool of QThreads
that outlive a closed loop (one per test), and such a pool once crashed the suite.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from agentcore import (
    AgentError,
    CurvePoint,
    Example,
    IntentModel,
    LearnedSettings,
    LearnedTier,
    TierBacktest,
    TierVersion,
    Told,
    TrafficRepository,
    backtest_holdout,
    train,
    training_examples,
)

log = logging.getLogger("console.learned")
T = TypeVar("T")
_CLOSE = 0.005  # thresholds this near are the same (the spin box has two decimals)


@dataclass(slots=True)
class Candidate:
    """A model trained here and not yet running: what the operator judges it by. Its
    examples stay, to backtest it at another threshold."""

    model: IntentModel
    examples: Sequence[Example]
    trained_at: float
    backtests: dict[float, TierBacktest] = field(default_factory=dict)  # by threshold

    def backtest_at(self, threshold: float) -> TierBacktest | None:
        return self.backtests.get(_key(threshold))


@dataclass(frozen=True, slots=True)
class Shown:
    """The backtest the panel's figures are, and what it is of."""

    backtest: TierBacktest
    title: str


@dataclass(frozen=True, slots=True)
class Figures:
    """Coverage and precision at one threshold, and where they come from."""

    threshold: float
    answered: int
    total: int
    coverage: float
    precision: float | None
    exact: bool  # a backtest at this threshold (not a point of another's curve)


class LearnedSession:
    def __init__(self, tier: LearnedTier, traffic: TrafficRepository, *,
                 operator: Callable[[], str], answerable: Callable[[], Collection[str]],
                 settings: Callable[[], LearnedSettings],
                 now: Callable[[], float]) -> None:
        """`tier`: the engine's learned tier (its versions, on disk); `traffic`: the
        recorded requests (`store.traffic`, read on the worker's own connection);
        `answerable`: the intents the domain answers without the LLM; `operator`
        and `settings` are read at each use (the settings dialog may change them)."""
        self.tier = tier
        self.traffic = traffic
        self.operator = operator
        self.answerable = answerable
        self.settings = settings
        self.now = now
        self.candidate: Candidate | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="learned-train")
        self._closed = False

    # -- off the GUI thread -------------------------------------------------------------

    async def train(self, threshold: float) -> Told:
        """A new candidate from the recorded traffic with its hold-out backtest at
        `threshold`; the running model is untouched. Refusals (too few examples, an
        unreadable database) are told."""
        settings, answerable = self.settings(), frozenset(self.answerable())
        catch_all = self.tier.catch_all

        def learn() -> Candidate:
            examples = training_examples(self.traffic, limit=settings.training_limit,
                                         catch_all=catch_all)
            model = train(examples)  # refuses too few examples before the folds run
            candidate = Candidate(model, examples, self.now())
            if self._closed:  # the window closed: its close waits for no k-fold backtest
                raise _Closed
            candidate.backtests[_key(threshold)] = backtest_holdout(
                examples, threshold=threshold, answerable=answerable,
                folds=settings.holdout_folds)
            return candidate

        started = time.perf_counter()
        told, candidate = await self._off_thread(learn, "Not trained")
        if candidate is None:
            return told
        self.candidate = candidate
        b = candidate.backtests[_key(threshold)]
        log.info("trained a candidate on %d examples in %.1f s", len(candidate.examples),
                 time.perf_counter() - started)
        return Told(True, f"Trained a candidate on {len(candidate.examples):,} examples: on "
                          f"{b.total:,} requests held out from its training it answers "
                          f"{b.coverage:.1%} at {threshold:.2f}, {_percent(b.precision)} of "
                          f"them right. The running model is unchanged until you use it.")

    async def backtest_at(self, threshold: float) -> Told:
        """The candidate's hold-out backtest at `threshold` (kept: asked again, it is
        there at once)."""
        candidate = self.candidate
        if candidate is None:
            return Told(False, "Train a candidate first.")
        if candidate.backtest_at(threshold) is not None:
            return Told(True, f"Backtested at {threshold:.2f}.")
        settings, answerable = self.settings(), frozenset(self.answerable())

        def run() -> TierBacktest:
            return backtest_holdout(candidate.examples, threshold=threshold,
                                    answerable=answerable, folds=settings.holdout_folds)

        told, result = await self._off_thread(run, "Not backtested")
        if result is None:
            return told
        candidate.backtests[_key(threshold)] = result
        return Told(True, f"Backtested the candidate {result.summary()}.")

    async def _off_thread(self, work: Callable[[], T], refused: str) -> tuple[Told, T | None]:
        if self._closed:
            return Told(False, f"{refused}: the console is closing."), None
        try:
            return Told(True, ""), await asyncio.get_running_loop().run_in_executor(
                self._executor, work)
        except AgentError as exc:  # too few examples, a locked or unreadable database
            return Told(False, f"{refused}: {exc}."), None
        except (_Closed, RuntimeError):
            if self._closed:  # the window closed (the executor shut down) meanwhile
                return Told(False, f"{refused}: the console is closing."), None
            raise

    def close(self) -> None:
        """Stops the worker; a training under way finishes first (it reads the engine's
        database, which closes next)."""
        self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)

    # -- what runs --------------------------------------------------------------------

    def running(self) -> TierVersion | None:
        return self.tier.current()

    def take_up(self) -> Told:
        """Takes up a version another station or the CLI saved on the same database
        since (the panel does when it is shown)."""
        before = self.tier.current()
        try:
            now = self.tier.refresh()
        except AgentError as exc:  # a locked or unreadable database: the old one runs on
            return Told(False, f"The learned tier's versions could not be read: {exc}.")
        if now is None or (before is not None and before.id == now.id):
            return Told(False, "")
        return Told(True, f"Learned tier version {now.id} (by {now.operator}) is the "
                          f"current one now.")

    def versions(self) -> list[TierVersion]:
        """Every version, newest first."""
        return self.tier.versions()

    def running_text(self) -> str:
        current = self.running()
        if current is None:
            return "Off: no model trained yet. Train learns one from the recorded traffic."
        trained = next((v.created_at for v in self.versions() if v.id == current.model_of),
                       current.created_at)
        figures = version_figures(current, current.threshold)
        judged = ("" if figures is None else f" Its backtest: answers {figures.coverage:.1%}, "
                  f"{_percent(figures.precision)} of them right.")
        problem = self.tier.problem  # on, but its model can't be read: retrain
        broken = f" It does not answer: {problem}." if problem else ""
        return (f"{'On' if current.enabled else 'Off'}: version {current.id}, trained "
                f"{when(trained)} on {current.examples:,} examples, threshold "
                f"{current.threshold:.2f}.{broken}{judged}")

    def default_threshold(self) -> float:
        """Where the threshold control starts: the running version's, else the setting."""
        current = self.running()
        return current.threshold if current is not None else self.settings().threshold

    def can_undo(self) -> bool:
        return len(_undoable(self.versions())) >= 2

    # -- figures ------------------------------------------------------------------------

    def shown(self, threshold: float) -> Shown | None:
        """What the figures show: the candidate's backtest at `threshold` (else its
        first one) while there is a candidate, else the running version's."""
        candidate = self.candidate
        if candidate is not None:
            backtest = candidate.backtest_at(threshold) or next(iter(
                candidate.backtests.values()))
            return Shown(backtest, "Candidate, not running")
        current = self.running()
        if current is not None and current.backtest is not None:
            return Shown(current.backtest, f"Version {current.id}, running")
        return None

    def figures_at(self, threshold: float) -> Figures | None:
        """Coverage and precision at `threshold`: the candidate's (a backtest at it, else
        its curve), else the running version's saved backtest (at it, else its curve)."""
        candidate = self.candidate
        if candidate is not None:
            exact = candidate.backtest_at(threshold)
            if exact is not None:
                return _exact(exact)
            return next((f for b in candidate.backtests.values()
                         if (f := _on_curve(b, threshold)) is not None), None)
        current = self.running()
        return None if current is None else version_figures(current, threshold)

    def preview_text(self, threshold: float) -> str:
        figures = self.figures_at(threshold)
        of = "the candidate" if self.candidate is not None else "the running model"
        if self.candidate is None and self.running() is None:
            return "Train a candidate to see what a threshold would answer."
        if figures is None:
            return (f"No backtest of {of} at {threshold:.2f} yet." if self.candidate
                    else f"The running model's backtest has no figures at {threshold:.2f}: "
                    f"choose one of {_curve_points(self.running())}.")
        source = "backtest" if figures.exact else "curve"
        return (f"At {threshold:.2f} {of} would answer {figures.coverage:.1%} of "
                f"{figures.total:,} recorded requests ({figures.answered:,}), "
                f"{_percent(figures.precision)} of them right (its {source}).")

    def can_use_candidate(self, threshold: float) -> bool:
        return self.candidate is not None and self.candidate.backtest_at(threshold) is not None

    def can_apply_threshold(self, threshold: float) -> bool:
        current = self.running()
        return (self.candidate is None and current is not None
                and abs(current.threshold - threshold) >= _CLOSE
                and version_figures(current, threshold) is not None)

    def can_switch(self) -> bool:
        """Off -> on needs a backtest to judge by; on -> off never waits."""
        current = self.running()
        return current is not None and (current.enabled or current.backtest is not None)

    # -- the operator's actions -------------------------------------------------------

    def use_candidate(self, threshold: float) -> Told:
        candidate = self.candidate
        backtest = None if candidate is None else candidate.backtest_at(threshold)
        if candidate is None or backtest is None:
            return Told(False, f"Not used: the candidate has no backtest at {threshold:.2f} "
                               "yet.")
        try:
            version = self.tier.save(candidate.model, threshold, True, self.operator(),
                                     backtest)
        except AgentError as exc:
            return Told(False, f"Not used: {exc}.")
        self.candidate = None
        return Told(True, f"Learned tier version {version.id} is on at threshold "
                          f"{threshold:.2f}.")

    def discard_candidate(self) -> Told:
        if self.candidate is None:
            return Told(False, "No candidate to discard.")
        self.candidate = None
        return Told(True, "Candidate discarded: the running model is unchanged.")

    def apply_threshold(self, threshold: float) -> Told:
        if not self.can_apply_threshold(threshold):
            return Told(False, f"Threshold not changed: no backtest of the running model "
                               f"at {threshold:.2f}, or it is its threshold already.")
        try:
            version = self.tier.set_threshold(threshold, self.operator())
        except AgentError as exc:
            return Told(False, f"Threshold not changed: {exc}.")
        return Told(True, f"Learned tier version {version.id}: threshold {threshold:.2f}.")

    def switch(self, enabled: bool) -> Told:
        word = "on" if enabled else "off"
        if enabled and not self.can_switch():
            return Told(False, "Not switched on: train a model and read its backtest first.")
        try:
            version = self.tier.set_enabled(enabled, self.operator())
        except AgentError as exc:
            return Told(False, f"Not switched {word}: {exc}.")
        return Told(True, f"Learned tier switched {word} (version {version.id}).")

    def undo(self) -> Told:
        try:
            version = self.tier.undo(self.operator())
        except AgentError as exc:
            return Told(False, f"Cannot undo: {exc}.")
        if version is None:
            return Told(False, "Nothing to undo.")
        return Told(True, f"Undone: version {version.id} restores version {version.restores}"
                          f" ({'on' if version.enabled else 'off'}, threshold "
                          f"{version.threshold:.2f}).")


class _Closed(Exception):
    """The session closed while its worker ran: the rest of the work is dropped."""


def version_figures(version: TierVersion, threshold: float) -> Figures | None:
    """A version's figures at `threshold`, from the backtest it was saved with."""
    backtest = version.backtest
    if backtest is None:
        return None
    if abs(backtest.threshold - threshold) < _CLOSE:
        return _exact(backtest)
    return _on_curve(backtest, threshold)


def _exact(b: TierBacktest) -> Figures:
    return Figures(b.threshold, b.answered, b.total, b.coverage, b.precision, exact=True)


def _on_curve(b: TierBacktest, threshold: float) -> Figures | None:
    point: CurvePoint | None = next(
        (p for p in b.curve if abs(p.threshold - threshold) < _CLOSE), None)
    if point is None:
        return None
    return Figures(point.threshold, point.answered, b.total, point.coverage,
                   point.precision, exact=False)


def _curve_points(version: TierVersion | None) -> str:
    if version is None or version.backtest is None:
        return "none"
    return ", ".join(f"{p.threshold:.2f}" for p in version.backtest.curve)


def _undoable(versions: Sequence[TierVersion]) -> list[TierVersion]:
    """The versions an undo can go back through (newest first in, oldest first out):
    each undo takes the change it undid off the stack, as `LearnedTier.undo` does."""
    past: list[TierVersion] = []
    for version in reversed(versions):
        if version.action == "undo" and len(past) > 1:
            past.pop()
        else:
            past.append(version)
    return past


def _key(threshold: float) -> float:
    return round(threshold, 2)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def when(timestamp: float, *, short: bool = False) -> str:
    """`2026-12-01 17:50`; `short`: `12-01 17:50` (a list's column)."""
    return datetime.fromtimestamp(timestamp).strftime("%m-%d %H:%M" if short
                                                      else "%Y-%m-%d %H:%M")
