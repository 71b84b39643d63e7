"""The learned fast-path tier: a local intent classifier between the rules and the LLM.

Trained on the engine's own vouched-for traffic (`training_examples`): operators'
labels and replies, the decide model's intents, the rules'. Hashed character
n-grams into a calibrated linear model (scikit-learn, imported only to train), so
a prediction's confidence is a probability the operator's threshold can mean.
`backtest_holdout` says what it would answer before it is switched on;
`LearnedTier` keeps its versions (with undo) in the engine database and predicts
on the loop in microseconds.
"""

from agentcore.learned._backtest import (
    CURVE,
    CurvePoint,
    IntentCounts,
    TierBacktest,
    WrongAnswer,
    backtest,
    backtest_holdout,
)
from agentcore.learned._examples import DEFAULT_LIMIT, SOURCES, training_examples
from agentcore.learned._model import (
    MIN_EXAMPLES,
    MIN_PER_INTENT,
    Example,
    IntentModel,
    Prediction,
    train,
)
from agentcore.learned._tier import LearnedTier, TierVersion

__all__ = [
    "CURVE",
    "DEFAULT_LIMIT",
    "MIN_EXAMPLES",
    "MIN_PER_INTENT",
    "SOURCES",
    "CurvePoint",
    "Example",
    "IntentCounts",
    "IntentModel",
    "LearnedTier",
    "Prediction",
    "TierBacktest",
    "TierVersion",
    "WrongAnswer",
    "backtest",
    "backtest_holdout",
    "train",
    "training_examples",
]
