"""The learned tier as the engine runs it: the current version, its model in memory,
and the operator's changes (train, threshold, switch, undo), each a new version.

A change of threshold or switch is a cheap version: it names the model of the
version before instead of copying it. Undo goes back one change (as the rule
book's undo does) and is recorded as a version itself, so the one undone stays
listed. The versions live in the engine database: another engine on the same file
starts with the same current version.

Threads: the console trains in a worker thread and saves from the GUI thread while
the engine predicts on the loop. Saves take a lock; the live state (a version and
its loaded model) is one immutable pair swapped in at once, so `predict` reads it
without a lock and never sees a threshold of one version with another's model.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentcore.clock import Clock
from agentcore.errors import LearnedModelError
from agentcore.learned._backtest import TierBacktest
from agentcore.learned._examples import DEFAULT_LIMIT, training_examples
from agentcore.learned._model import Example, IntentModel, Prediction
from agentcore.storage import LearnedRecord, StoredLearned

if TYPE_CHECKING:
    from agentcore.storage import LearnedRepository, TrafficRepository

log = logging.getLogger("agentcore.learned")

ACTIONS = ("train", "threshold", "enable", "disable", "undo")


@dataclass(frozen=True, slots=True)
class TierVersion:
    """One version of the tier: who made it and when, what it runs with, and the
    backtest it was saved with (None: saved without one)."""

    id: int
    created_at: float
    operator: str
    action: str  # train, threshold, enable, disable, undo
    examples: int
    threshold: float
    enabled: bool
    model_of: int  # the version that trained the model this one runs
    restores: int | None  # undo: the version whose state came back
    backtest: TierBacktest | None

    @classmethod
    def of(cls, stored: StoredLearned) -> TierVersion:
        assert stored.model_of is not None  # every stored version runs a model
        return cls(stored.id, stored.created_at, stored.operator, stored.action,
                   stored.examples, stored.threshold, stored.enabled, stored.model_of,
                   stored.restores,
                   None if stored.backtest is None else TierBacktest.from_dict(stored.backtest))


@dataclass(frozen=True, slots=True)
class _Live:
    version: TierVersion
    model: IntentModel | None  # None: switched off, or its model could not be read
    problem: str | None = None  # why an enabled version's model could not be read


class LearnedTier:
    """The engine's learned intent tier. `catch_all`: the domain's catch-all intent,
    left out of training unless labelled; `traffic`: where `training_examples` reads."""

    def __init__(self, repository: LearnedRepository, clock: Clock, *,
                 traffic: TrafficRepository | None = None, catch_all: str | None = None,
                 default_threshold: float = 0.9) -> None:
        self._repo = repository
        self._clock = clock
        self._traffic = traffic
        self.catch_all = catch_all
        self.default_threshold = default_threshold
        self._lock = threading.Lock()
        self._models: dict[int, IntentModel] = {}  # by the version that trained it
        self._live: _Live | None = None
        latest = repository.latest()
        if latest is not None:
            self._live = self._loaded(TierVersion.of(latest))

    # -- the engine's side -----------------------------------------------------

    def predict(self, text: str) -> Prediction | None:
        """The top intent of a normalised text and its calibrated confidence, whatever
        the threshold (below it the intent still spares the LLM its classify call);
        None when the tier is off or has no model."""
        live = self._live
        if live is None or live.model is None:
            return None
        return live.model.predict(text)

    @property
    def threshold(self) -> float | None:
        """The current version's threshold; None without a version."""
        live = self._live
        return None if live is None else live.version.threshold

    def current(self) -> TierVersion | None:
        live = self._live
        return None if live is None else live.version

    @property
    def problem(self) -> str | None:
        """Why the current version, though switched on, does not answer (its model can't
        be read: another format, another scikit-learn); None when nothing is wrong."""
        live = self._live
        return None if live is None else live.problem

    def model(self) -> IntentModel | None:
        """The current version's model (also when switched off: to backtest it)."""
        live = self._live
        if live is None:
            return None
        if live.model is not None:
            return live.model
        try:
            return self._model_of(live.version)
        except LearnedModelError:
            return None

    def refresh(self) -> TierVersion | None:
        """Takes up a version another process saved on the same file (a second station,
        the CLI); the current version, as before when nothing changed."""
        latest = self._repo.latest()
        with self._lock:
            live = self._live
            if latest is not None and (live is None or live.version.id != latest.id):
                self._swap(TierVersion.of(latest))
        return self.current()

    # -- the operator's side ---------------------------------------------------

    def training_examples(self, limit: int = DEFAULT_LIMIT) -> list[Example]:
        """Training examples from the engine's recorded traffic (on the caller's thread,
        a worker's: a read of up to `limit` rows)."""
        if self._traffic is None:
            raise LearnedModelError("this tier was built without recorded traffic to read")
        return training_examples(self._traffic, limit=limit, catch_all=self.catch_all)

    def save(self, model: IntentModel, threshold: float, enabled: bool, operator: str,
             backtest: TierBacktest | None) -> TierVersion:
        """A new version running `model` (trained off the loop); current at once."""
        _check_threshold(threshold)
        record = LearnedRecord(self._clock.now(), operator, "train", model.examples,
                               threshold, enabled,
                               backtest=None if backtest is None else backtest.as_dict())
        with self._lock:
            stored = TierVersion.of(self._repo.add(record, model.to_bytes()))
            self._models = {stored.id: model}  # keep one: models are megabytes
            self._swap(stored)
        log.info("learned tier version %d by %s: %d examples, threshold %.2f, %s",
                 stored.id, operator, model.examples, threshold, "on" if enabled else "off")
        return stored

    def set_threshold(self, threshold: float, operator: str,
                      backtest: TierBacktest | None = None) -> TierVersion:
        """A new version: the current model at `threshold` (with the backtest the
        operator chose it by, if given)."""
        _check_threshold(threshold)
        return self._change("threshold", operator, threshold=threshold, backtest=backtest)

    def set_enabled(self, enabled: bool, operator: str) -> TierVersion:
        return self._change("enable" if enabled else "disable", operator, enabled=enabled)

    def versions(self) -> list[TierVersion]:
        """Every version, newest first."""
        return [TierVersion.of(s) for s in reversed(self._repo.log())]

    def undo(self, operator: str) -> TierVersion | None:
        """Back to the state before the last change not yet undone (a new version
        restoring it); None when there is nothing to go back to."""
        with self._lock:
            past = _past(self._repo.log())
            if len(past) < 2:
                return None
            target = past[-2]
            record = LearnedRecord(self._clock.now(), operator, "undo", target.examples,
                                   target.threshold, target.enabled, restores=target.id,
                                   model_of=target.model_of, backtest=target.backtest)
            stored = TierVersion.of(self._repo.add(record))
            self._swap(stored)
        log.info("learned tier undo by %s: back to version %d", operator, target.id)
        return stored

    # -- inside ----------------------------------------------------------------

    def _change(self, action: str, operator: str, *, threshold: float | None = None,
                enabled: bool | None = None,
                backtest: TierBacktest | None = None) -> TierVersion:
        with self._lock:
            latest = self._repo.latest()
            if latest is None:
                raise LearnedModelError("the learned tier has no model yet: train it first")
            record = LearnedRecord(
                self._clock.now(), operator, action, latest.examples,
                latest.threshold if threshold is None else threshold,
                latest.enabled if enabled is None else enabled, model_of=latest.model_of,
                backtest=latest.backtest if backtest is None else backtest.as_dict())
            stored = TierVersion.of(self._repo.add(record))
            self._swap(stored)
        log.info("learned tier version %d by %s: %s", stored.id, operator, action)
        return stored

    def _swap(self, version: TierVersion) -> None:
        self._live = self._loaded(version)

    def _loaded(self, version: TierVersion) -> _Live:
        """The live pair for `version`; a model that can't be read leaves the tier off,
        said in the log, never raised: the engine runs on without it."""
        if not version.enabled:
            return _Live(version, None)
        try:
            return _Live(version, self._model_of(version))
        except LearnedModelError as exc:
            log.error("learned tier off: version %d's model can't be used: %s", version.id,
                      exc)
            return _Live(version, None, str(exc))

    def _model_of(self, version: TierVersion) -> IntentModel:
        model = self._models.get(version.model_of)
        if model is None:
            blob = self._repo.model(version.id)
            if blob is None:
                raise LearnedModelError(f"version {version.id} has no stored model")
            model = IntentModel.from_bytes(blob)
            self._models = {version.model_of: model}  # keep one: models are megabytes
        return model


def _past(log_: list[StoredLearned]) -> list[StoredLearned]:
    """The versions an undo can go back through, oldest first: each undo took the
    change it undid off the stack (as the rule book replays its history)."""
    past: list[StoredLearned] = []
    for stored in log_:
        if stored.action == "undo" and len(past) > 1:
            past.pop()
        else:
            past.append(stored)
    return past


def _check_threshold(threshold: float) -> None:
    if not 0.0 < threshold <= 1.0:
        raise LearnedModelError(f"the threshold is a probability above 0 and at most 1, "
                                f"not {threshold}")

