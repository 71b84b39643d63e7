"""What the learned tier would answer, before an operator switches it on.

Of the examples (requests with a vouched-for intent, `training_examples`), the
tier answers those whose top intent the domain can answer deterministically
(`answerable`) with a confidence at or above the threshold: coverage is the share
answered, precision the share of those answered right. A backtest over the
model's own training rows flatters it (it has seen each text); `backtest_holdout`
predicts each example with a model that never saw it (k folds), and every result
says which it is (`method`).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from agentcore.learned._model import Example, IntentModel, Prediction, _trainable, features, fit

CURVE = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.98, 0.99)
MAX_WRONG = 100  # wrong answers listed for the operator to read
DEFAULT_FOLDS = 5
SPLIT_ABOVE = 20_000  # examples above which one fold is held out, not each in turn


@dataclass(frozen=True, slots=True)
class IntentCounts:
    intent: str  # the expected intent
    total: int
    answered: int
    correct: int


@dataclass(frozen=True, slots=True)
class WrongAnswer:
    text: str
    predicted: str
    expected: str
    confidence: float


@dataclass(frozen=True, slots=True)
class CurvePoint:
    threshold: float
    answered: int
    coverage: float
    precision: float | None  # None: nothing answered at this threshold


@dataclass(frozen=True, slots=True)
class TierBacktest:
    """Coverage and precision at `threshold`, per expected intent, the wrong answers
    (most confident first, at most MAX_WRONG) and the curve over CURVE's thresholds.
    `method`: "hold-out, 5 folds" or "training rows (flatters the model)"."""

    method: str
    threshold: float
    total: int
    answered: int
    correct: int
    per_intent: tuple[IntentCounts, ...]
    wrong: tuple[WrongAnswer, ...]
    curve: tuple[CurvePoint, ...]

    @property
    def coverage(self) -> float:
        return self.answered / self.total if self.total else 0.0

    @property
    def precision(self) -> float | None:
        return self.correct / self.answered if self.answered else None

    def summary(self) -> str:
        precision = "-" if self.precision is None else f"{self.precision:.1%}"
        return (f"at {self.threshold:.2f}: answers {self.answered} of {self.total} "
                f"({self.coverage:.1%}), {precision} right ({self.method})")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "coverage": self.coverage, "precision": self.precision}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TierBacktest:
        return cls(data["method"], float(data["threshold"]), int(data["total"]),
                   int(data["answered"]), int(data["correct"]),
                   tuple(IntentCounts(**c) for c in data["per_intent"]),
                   tuple(WrongAnswer(**w) for w in data["wrong"]),
                   tuple(CurvePoint(**p) for p in data["curve"]))


def backtest(model: IntentModel, examples: Sequence[Example], *, threshold: float,
             answerable: Collection[str],
             method: str = "training rows (flatters the model)") -> TierBacktest:
    """`model` over `examples` as they are: on its own training rows it flatters, and
    `method` says what they are."""
    predictions = [model.predict(ex.text) for ex in examples]
    return scored(examples, predictions, threshold=threshold, answerable=answerable,
                  method=method)


def backtest_holdout(examples: Sequence[Example], *, threshold: float,
                     answerable: Collection[str], seed: int = 0, folds: int = DEFAULT_FOLDS,
                     split_above: int = SPLIT_ABOVE) -> TierBacktest:
    """Each example predicted by a model trained on the other folds (stratified by
    intent, shuffled by `seed`): what the tier would do on text it has not seen.
    Above `split_above` examples one fold is held out, not each in turn: a fifth of
    20,000 is plenty to count on, and each turn is a training of seconds. Examples
    of intents too rare to train on (`IntentModel.left_out`) count as unanswered.
    CPU-bound: run it off the loop."""
    texts, intents, left_out = _trainable(examples)
    matrix = features(texts)
    assignment = _folds(intents, folds, seed)
    rounds = 1 if len(texts) > split_above else folds
    tested: list[Example] = []
    predictions: list[Prediction | None] = []
    for fold in range(rounds):
        train_rows = [i for i, f in enumerate(assignment) if f != fold]
        model = fit(matrix[train_rows], [intents[i] for i in train_rows], seed=seed)
        for i, f in enumerate(assignment):
            if f == fold:
                tested.append(Example(texts[i], intents[i], ""))
                predictions.append(model.predict(texts[i]))
    rare = [ex for ex in examples if ex.intent in left_out]
    if rounds == 1:  # the rare ones are sampled as the others are
        rare = rare[::folds]
    method = (f"hold-out, {folds} folds" if rounds == folds
              else f"hold-out, 1 in {folds} held out")
    return scored([*tested, *rare], [*predictions, *[None] * len(rare)],
                  threshold=threshold, answerable=answerable, method=method)


def _folds(intents: Sequence[str], folds: int, seed: int) -> list[int]:
    """A fold for each row: every intent dealt round-robin after a shuffle, so each
    fold holds its share of every intent (and training always sees each of them)."""
    rng = random.Random(seed)
    by_intent: dict[str, list[int]] = {}
    for i, intent in enumerate(intents):
        by_intent.setdefault(intent, []).append(i)
    assignment = [0] * len(intents)
    for intent in sorted(by_intent):
        rows = by_intent[intent]
        rng.shuffle(rows)
        for k, i in enumerate(rows):
            assignment[i] = k % folds
    return assignment


def scored(examples: Sequence[Example], predictions: Sequence[Prediction | None], *,
           threshold: float, answerable: Collection[str], method: str) -> TierBacktest:
    """The figures of `predictions` (None: the tier had no model for it) against the
    examples' intents."""
    answerable = frozenset(answerable)
    per_intent: dict[str, list[int]] = {}
    wrong: list[WrongAnswer] = []
    answered = correct = 0
    curve_answered = [0] * len(CURVE)
    curve_correct = [0] * len(CURVE)
    for ex, p in zip(examples, predictions, strict=True):
        counts = per_intent.setdefault(ex.intent, [0, 0, 0])
        counts[0] += 1
        if p is None or p.intent not in answerable:
            continue
        right = p.intent == ex.intent
        for k, t in enumerate(CURVE):
            if p.confidence >= t:
                curve_answered[k] += 1
                curve_correct[k] += right
        if p.confidence < threshold:
            continue
        answered += 1
        counts[1] += 1
        if right:
            correct += 1
            counts[2] += 1
        else:
            wrong.append(WrongAnswer(ex.text, p.intent, ex.intent, p.confidence))
    wrong.sort(key=lambda w: -w.confidence)
    total = len(examples)
    curve = tuple(CurvePoint(t, n, n / total if total else 0.0, c / n if n else None)
                  for t, n, c in zip(CURVE, curve_answered, curve_correct, strict=True))
    return TierBacktest(method, threshold, total, answered, correct,
                        tuple(IntentCounts(i, *c) for i, c in sorted(per_intent.items())),
                        tuple(wrong[:MAX_WRONG]), curve)
