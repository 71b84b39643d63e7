"""The intent model: trained with scikit-learn, predicted with a few numpy operations.

Training (`train`) is scikit-learn's: the hashed character n-grams of `_features`
into `SGDClassifier(loss="log_loss")`, one-vs-rest, wrapped in
`CalibratedClassifierCV(method="temperature", cv=3, ensemble=False)`. Calibrated,
because the operator's threshold is a probability: at 0.9, nine in ten of the
answers the tier gives should be right, and a raw linear model's scores do not
promise that. Temperature scaling, not sigmoid or isotonic: those calibrate each
intent's one-vs-rest score alone and then renormalise, which on the shipped
corpus's 5-fold hold-out left the confidences off their accuracy by 0.13 on
average (sigmoid; isotonic 0.05), where one temperature over all intents' scores
is off by 0.016. `ensemble=False`: one linear model (its temperature fitted on
cross-validated scores), not three, so a prediction costs one dot product.

What is kept (`IntentModel`) is the fitted model's numbers, not the pickled
pipeline: the weights of the columns training saw, the intercepts and the
temperature. A blob in the engine database is data then, not code a shared file
could run when unpickled, and loading it needs neither scikit-learn (a second of
import on the engine's start) nor the same scikit-learn release. `predict`
replays `CalibratedClassifierCV.predict_proba` on those numbers (a test holds the
two together) in tens of microseconds instead of 2.8 ms.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, cast

from agentcore.errors import LearnedModelError
from agentcore.guard import normalise
from agentcore.learned._features import N_FEATURES, NGRAMS, char_wb_ngrams, column

if TYPE_CHECKING:
    import numpy
    import numpy.typing as npt

    Floats = npt.NDArray[numpy.float64]

FORMAT_VERSION = 2  # 1: sigmoid calibrators (before temperature scaling)
_MAGIC = b"agentcore-learned-intents\n"
MIN_EXAMPLES = 30  # fewer: a backtest of it would say nothing
MIN_PER_INTENT = 6  # fewer: the hold-out's and calibration's folds can't all hold it
_MEMO_MAX = 200_000  # word -> its columns; cleared when full (some 60 MB at most)

# The linear model's settings. alpha: the L2 penalty, light because hashed n-gram
# features are many and each text sets few; chosen on the shipped corpus's
# hold-out (never on the independent set).
ALPHA = 1e-5
# SGD stops once an epoch improves the loss by less than its tol (10 epochs on 65,000
# texts, fewer on a corpus); the cap only bounds a pathological set.
MAX_EPOCHS = 200


@dataclass(frozen=True, slots=True)
class Prediction:
    """The most likely intent and its calibrated probability (0..1)."""

    intent: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text to train on. `text` is normalised as the guard does;
    `source` says who named the intent: "label" (an operator's label), "resolution"
    (an operator replied to the escalated request), "llm" (the decide model, on an
    answered request) or "rule" (the rule that answered it)."""

    text: str
    intent: str
    source: str


def scikit_learn_version() -> str:
    try:
        return version("scikit-learn")
    except PackageNotFoundError:  # not installed: training says so, loading needs none
        return "none"


class IntentModel:
    """A trained intent classifier; immutable (its word memo is a private cache)."""

    def __init__(self, labels: Sequence[str], examples: int, columns: npt.NDArray[Any],
                 weights: npt.NDArray[Any], intercept: npt.NDArray[Any], beta: float, *,
                 left_out: dict[str, int] | None = None,
                 trained_with: str | None = None) -> None:
        import numpy as np

        self._np = np
        self.labels: tuple[str, ...] = tuple(labels)
        self.examples = examples
        # Intents with too few examples to learn, left out of training: intent -> count.
        self.left_out: dict[str, int] = dict(left_out or {})
        self.trained_with = trained_with or scikit_learn_version()
        self._columns = np.asarray(columns, dtype=np.int64)
        self._weights = np.ascontiguousarray(weights, dtype=np.float64)  # (columns, scores)
        self._intercept = np.asarray(intercept, dtype=np.float64)
        self._beta = float(beta)  # the inverse temperature
        self._slots = np.full(N_FEATURES, -1, dtype=np.int64)  # column -> row of weights
        self._slots[self._columns] = np.arange(len(self._columns))
        self._memo: dict[str, tuple[tuple[int, ...], Floats]] = {}
        self._blob: bytes | None = None  # `to_bytes`, made once

    # -- predicting ------------------------------------------------------------

    def predict(self, text: str) -> Prediction:
        """The top intent of a normalised text and its calibrated probability."""
        proba = self.probabilities(text)
        best = int(proba.argmax())
        return Prediction(self.labels[best], float(proba[best]))

    def probabilities(self, text: str) -> Floats:
        """Each label's calibrated probability, in `labels`' order."""
        np = self._np
        columns: list[int] = []
        words = []
        for word in text.split():
            known = self._word(word)
            columns.extend(known[0])
            words.append(known[1])
        scores = self._intercept
        if columns:
            # The vectorizer's row is l2-normalised: a scalar for the whole text, so the
            # score is the sum of the words' weights over the norm of the column counts.
            counts = np.fromiter(Counter(columns).values(), dtype=np.float64)
            scores = scores + np.add.reduce(words) / math.sqrt(float(counts @ counts))
        if len(self.labels) == 2:  # one score, for labels[1]: the logits are (-s, s)
            scores = np.array([-scores[0], scores[0]])
        logits = self._beta * scores
        exp = np.exp(logits - logits.max())
        return cast("Floats", exp / exp.sum())

    def _word(self, word: str) -> tuple[tuple[int, ...], Floats]:
        """A word's n-gram columns and the sum of their weights. A char_wb n-gram never
        crosses a word, and a support desk's words recur: a known word costs a dict
        lookup instead of some twenty n-grams cut and hashed in Python."""
        known = self._memo.get(word)
        if known is None:
            columns = tuple(column(gram) for gram in char_wb_ngrams(word))
            slots = self._slots[list(columns)]
            weights = self._weights[slots[slots >= 0]].sum(axis=0)
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()  # a flood of new words can't grow it without bound
            known = self._memo[word] = (columns, weights)
        return known

    # -- storing ---------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The model as a blob: a header line (format version, labels, who trained it)
        and the numbers as a numpy .npz (no pickles: loading runs no code). Made once:
        `train` makes it in its own (worker) thread, so saving on the GUI thread only
        writes it (compressing 100,000 requests' model takes half a second)."""
        if self._blob is None:
            self._blob = self._packed()
        return self._blob

    def _packed(self) -> bytes:
        np = self._np
        header = json.dumps({"format": FORMAT_VERSION, "labels": list(self.labels),
                             "examples": self.examples, "left_out": self.left_out,
                             "scikit_learn": self.trained_with, "ngrams": list(NGRAMS),
                             "n_features": N_FEATURES}).encode("utf-8")
        body = io.BytesIO()
        np.savez_compressed(body, columns=self._columns, weights=self._weights,
                            intercept=self._intercept, beta=np.array([self._beta]))
        return _MAGIC + header + b"\n" + body.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> IntentModel:
        """A model `to_bytes` made; LearnedModelError for anything else (another format
        version, another scikit-learn major, a damaged blob): retrain to mend it."""
        import numpy as np

        if not data.startswith(_MAGIC):
            raise LearnedModelError("the stored intent model is not one this release can "
                                    "read: train the learned tier again")
        head, _, body = data[len(_MAGIC):].partition(b"\n")
        try:
            header = json.loads(head)
        except ValueError as exc:
            raise LearnedModelError(f"the stored intent model is damaged ({exc}): train "
                                    "the learned tier again") from exc
        found = header.get("format")
        if found != FORMAT_VERSION:
            raise LearnedModelError(
                f"the stored intent model is of format {found}, this release reads format "
                f"{FORMAT_VERSION}: train the learned tier again")
        trained, running = str(header.get("scikit_learn")), scikit_learn_version()
        if running != "none" and _major(trained) != _major(running):
            raise LearnedModelError(
                f"the stored intent model was trained with scikit-learn {trained}, this "
                f"installation has {running}: train the learned tier again")
        if (list(header.get("ngrams", ())) != list(NGRAMS)
                or header.get("n_features") != N_FEATURES):
            raise LearnedModelError("the stored intent model hashes its features in "
                                    "another way: train the learned tier again")
        try:
            with np.load(io.BytesIO(body), allow_pickle=False) as arrays:
                model = cls(header["labels"], int(header["examples"]), arrays["columns"],
                            arrays["weights"], arrays["intercept"],
                            float(arrays["beta"][0]), left_out=header.get("left_out"),
                            trained_with=trained)
        except (ValueError, KeyError, IndexError, TypeError, OSError, EOFError,
                zipfile.BadZipFile) as exc:
            raise LearnedModelError(f"the stored intent model is damaged ({exc}): train "
                                    "the learned tier again") from exc
        model._check_shapes()
        return model

    def _check_shapes(self) -> None:
        # A blob that reads but doesn't fit together would fail at the first prediction,
        # on the loop: refused here instead, where the engine turns the tier off.
        np = self._np
        scores = 1 if len(self.labels) == 2 else len(self.labels)
        if (len(self.labels) < 2 or self._weights.shape != (len(self._columns), scores)
                or self._intercept.shape != (scores,)):
            raise LearnedModelError("the stored intent model is damaged (its parts don't "
                                    "fit together): train the learned tier again")
        # A NaN confidence passes no threshold test by comparison (NaN < t is false), and
        # a negative temperature ranks the least likely intent first: either would answer
        # everything the rules don't, with the first label or the wrong one.
        if (not np.isfinite(self._weights).all() or not np.isfinite(self._intercept).all()
                or not math.isfinite(self._beta) or self._beta <= 0
                or (len(self._columns) and (self._columns.min() < 0
                                            or self._columns.max() >= N_FEATURES))):
            raise LearnedModelError("the stored intent model is damaged (numbers out of "
                                    "range): train the learned tier again")

    def __repr__(self) -> str:
        return (f"IntentModel({len(self.labels)} intents, {self.examples} examples, "
                f"{len(self._columns)} n-gram columns)")


def _major(release: str) -> str:
    return release.split(".", 1)[0]


# -- training ------------------------------------------------------------------


def train(examples: Sequence[Example], *, seed: int = 0) -> IntentModel:
    """A model of `examples`. CPU-bound and pure (seconds for 100,000 examples): run it
    off the event loop and the GUI thread. LearnedModelError, in an operator's words,
    with fewer than MIN_EXAMPLES examples or fewer than two intents to tell apart;
    intents with fewer than MIN_PER_INTENT examples are left out (`left_out`)."""
    texts, intents, left_out = _trainable(examples)
    model = fit(features(texts), intents, seed=seed, left_out=left_out)
    model.to_bytes()  # here, off the GUI thread, not in `LearnedTier.save`
    return model


def _trainable(examples: Sequence[Example]) -> tuple[list[str], list[str], dict[str, int]]:
    if len(examples) < MIN_EXAMPLES:
        raise LearnedModelError(
            f"the learned tier needs at least {MIN_EXAMPLES} labelled requests to learn "
            f"from; the recorded traffic has {len(examples)}. Let more traffic through, "
            "or label some requests")
    counts: dict[str, int] = {}
    for ex in examples:
        counts[ex.intent] = counts.get(ex.intent, 0) + 1
    left_out = {intent: n for intent, n in counts.items() if n < MIN_PER_INTENT}
    kept = [ex for ex in examples if ex.intent not in left_out]
    if len(counts) - len(left_out) < 2:
        raise LearnedModelError(
            "the learned tier needs at least two intents with "
            f"{MIN_PER_INTENT} labelled requests each to tell apart; the recorded traffic "
            f"has {_listed(counts)}")
    return [normalise(ex.text) for ex in kept], [ex.intent for ex in kept], left_out


def _listed(counts: dict[str, int]) -> str:
    if not counts:
        return "none"
    return ", ".join(f"{n} {intent}" for intent, n in sorted(counts.items()))


def features(texts: Sequence[str]) -> Any:
    """The hashed n-grams of normalised texts, as the scipy sparse matrix training takes."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vectorizer = HashingVectorizer(analyzer="char_wb", ngram_range=NGRAMS,
                                   n_features=N_FEATURES, alternate_sign=False, norm="l2",
                                   lowercase=False)  # lowercased by the guard already
    return vectorizer.transform(texts)


def fit(matrix: Any, intents: Sequence[str], *, seed: int = 0,
        left_out: dict[str, int] | None = None) -> IntentModel:
    """The calibrated model of feature rows `matrix` (from `features`) and their intents;
    each intent needs MIN_PER_INTENT rows or more."""
    import numpy as np
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import StratifiedKFold

    linear = SGDClassifier(loss="log_loss", alpha=ALPHA, max_iter=MAX_EPOCHS, tol=1e-4,
                           random_state=seed)
    calibrated = CalibratedClassifierCV(
        linear, method="temperature", ensemble=False,
        cv=StratifiedKFold(n_splits=3, shuffle=True, random_state=seed))
    calibrated.fit(matrix, np.asarray(intents))
    (member,) = calibrated.calibrated_classifiers_
    coef = member.estimator.coef_  # (scores, N_FEATURES): one row per class, or one
    columns = np.flatnonzero(np.any(coef != 0, axis=0))
    (temperature,) = member.calibrators
    return IntentModel([str(c) for c in calibrated.classes_], len(intents), columns,
                       coef[:, columns].T, member.estimator.intercept_,
                       float(temperature.beta_), left_out=left_out)

