"""The learned tier's model: what it predicts, how far its confidence can be trusted,
and what happens to a stored model this release can't read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import StratifiedKFold

from agentcore.errors import LearnedModelError, UserFacingError
from agentcore.guard import normalise
from agentcore.learned import MIN_EXAMPLES, Example, IntentModel, backtest_holdout, train
from agentcore.learned._features import N_FEATURES, NGRAMS, char_wb_ngrams, column
from agentcore.learned._model import ALPHA, MAX_EPOCHS, features

CORPUS = Path(__file__).resolve().parents[2] / "data" / "requests.jsonl"


def corpus_examples() -> list[Example]:
    """The shipped corpus's labelled lines, one per distinct text."""
    with CORPUS.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    unique = {normalise(r["text"]): r["expected_intent"] for r in rows
              if r.get("expected_intent")}
    return [Example(text, intent, "llm") for text, intent in unique.items()]


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return corpus_examples()


@pytest.fixture(scope="module")
def model(examples: list[Example]) -> IntentModel:
    return train(examples)


def test_it_names_the_intent_of_text_it_has_not_seen(model: IntentModel):
    for text, intent in [("where is my parcel, order 88123?", "order_status"),
                         ("how do i reset my password", "password_reset"),
                         ("do you ship to canada", "shipping_info")]:
        prediction = model.predict(normalise(text))
        assert prediction.intent == intent, (text, prediction)
        assert 0.5 < prediction.confidence <= 1.0


def test_the_labels_and_examples_are_those_it_was_trained_on(model, examples):
    assert model.examples == len(examples)
    assert set(model.labels) == {ex.intent for ex in examples}
    assert model.left_out == {}


def test_its_probabilities_are_the_calibrated_pipelines(model, examples):
    """The numpy replay of predict_proba is the scikit-learn pipeline's, to rounding."""
    texts, intents = [ex.text for ex in examples], np.array([ex.intent for ex in examples])
    pipeline = CalibratedClassifierCV(
        SGDClassifier(loss="log_loss", alpha=ALPHA, max_iter=MAX_EPOCHS, tol=1e-4,
                      random_state=0),
        method="temperature", ensemble=False,
        cv=StratifiedKFold(n_splits=3, shuffle=True, random_state=0))
    pipeline.fit(features(texts), intents)
    unseen = ["my refund never arrived, order 4411", "hello!!", "qzx", "commande 123 où est-elle"]
    expected = pipeline.predict_proba(features(unseen))
    for text, row in zip(unseen, expected, strict=True):
        assert list(pipeline.classes_) == list(model.labels)
        np.testing.assert_allclose(model.probabilities(text), row, atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_its_columns_are_the_hashing_vectorizers(text: str):
    text = normalise(text)
    vectorizer = HashingVectorizer(analyzer="char_wb", ngram_range=NGRAMS,
                                   n_features=N_FEATURES, alternate_sign=False,
                                   lowercase=False, norm=None)
    assert char_wb_ngrams(text) == vectorizer.build_analyzer()(text)
    row = vectorizer.transform([text])
    counts: dict[int, float] = {}
    for gram in char_wb_ngrams(text):
        counts[column(gram)] = counts.get(column(gram), 0.0) + 1.0
    assert dict(zip(row.indices.tolist(), row.data.tolist(), strict=True)) == counts


def test_held_out_confidence_means_what_it_says(examples):
    """Of held-out predictions made with confidence c, about c are right: the
    operator's threshold is a probability. Checked in buckets, each big enough."""
    result = backtest_holdout(examples, threshold=0.0, answerable={ex.intent for ex in examples})
    # The curve is cumulative: precision at threshold t is the accuracy of what the
    # tier answers at t or above; a calibrated model is never far below t.
    for point in result.curve:
        if point.answered >= 50:
            assert point.precision is not None
            assert point.precision >= point.threshold - 0.05, point
    # And not wildly under-confident either: at 0.5 it answers most of the corpus.
    assert result.curve[0].coverage > 0.8


def test_bucketed_confidence_matches_accuracy_on_a_held_out_split(examples):
    rows = sorted(examples, key=lambda ex: ex.text)  # a fixed split, every fifth held out
    held = rows[::5]
    trained = [ex for i, ex in enumerate(rows) if i % 5]
    model = train(trained)
    buckets: dict[int, list[tuple[float, bool]]] = {}
    for ex in held:
        if ex.intent not in model.labels:
            continue
        p = model.predict(ex.text)
        buckets.setdefault(min(int(p.confidence * 5), 4), []).append(
            (p.confidence, p.intent == ex.intent))
    weighted_gap = 0.0
    for pairs in buckets.values():
        confidence = sum(c for c, _ in pairs) / len(pairs)
        accuracy = sum(ok for _, ok in pairs) / len(pairs)
        weighted_gap += len(pairs) * abs(confidence - accuracy)
    assert weighted_gap / sum(len(p) for p in buckets.values()) < 0.08


def test_a_model_comes_back_from_its_bytes_predicting_the_same(model, examples):
    again = IntentModel.from_bytes(model.to_bytes())
    assert again.labels == model.labels and again.examples == model.examples
    for ex in examples[:50]:
        assert again.predict(ex.text) == model.predict(ex.text)


def test_a_blob_of_another_format_is_refused_in_words_an_operator_can_act_on(model):
    blob = model.to_bytes()
    magic = blob.split(b"\n", 1)[0] + b"\n"
    header, body = blob[len(magic):].split(b"\n", 1)
    older = json.dumps({**json.loads(header), "format": 1}).encode()
    with pytest.raises(LearnedModelError, match=r"format 1.*train the learned tier again"):
        IntentModel.from_bytes(magic + older + b"\n" + body)
    other_sklearn = json.dumps({**json.loads(header), "scikit_learn": "0.24.2"}).encode()
    with pytest.raises(LearnedModelError, match=r"scikit-learn 0\.24\.2"):
        IntentModel.from_bytes(magic + other_sklearn + b"\n" + body)
    for junk in (b"", b"\x80\x04\x95 a pickle", magic + b"{not json\n", blob[:len(blob) // 2]):
        with pytest.raises(LearnedModelError) as caught:
            IntentModel.from_bytes(junk)
        assert isinstance(caught.value, UserFacingError)


def test_too_few_examples_or_intents_are_refused_with_what_is_missing(examples):
    with pytest.raises(LearnedModelError, match=f"at least {MIN_EXAMPLES} labelled"):
        train(examples[:MIN_EXAMPLES - 1])
    one_intent = [ex for ex in examples if ex.intent == "order_status"][:40]
    with pytest.raises(LearnedModelError, match=r"two intents.*40 order_status"):
        train(one_intent)


def test_an_intent_too_rare_to_learn_is_left_out_and_said(examples):
    rare = [Example("please pass my compliments to the chef", "compliment", "label"),
            Example("compliments to your whole team", "compliment", "label")]
    model = train([*examples, *rare])
    assert model.left_out == {"compliment": 2}
    assert "compliment" not in model.labels


def test_two_intents_make_a_binary_model_with_sensible_probabilities():
    greetings = [Example(f"hello there number {i}", "greeting", "rule") for i in range(20)]
    orders = [Example(f"where is my order {1000 + i}", "order_status", "rule")
              for i in range(20)]
    model = train([*greetings, *orders])
    assert model.labels == ("greeting", "order_status")
    p = model.probabilities("where is order 5555")
    assert p.sum() == pytest.approx(1.0)
    assert model.predict("where is order 5555").intent == "order_status"
    assert model.predict("hello there").intent == "greeting"
    again = IntentModel.from_bytes(model.to_bytes())
    np.testing.assert_allclose(again.probabilities("hello"), model.probabilities("hello"))


@pytest.mark.parametrize("spoil", ["nan weights", "negative temperature", "column out of range"])
def test_a_blob_whose_numbers_would_answer_everything_is_refused(model, spoil):
    # NaN confidence clears any threshold by comparison, a negative temperature ranks
    # the least likely intent first: the tier would answer with the wrong template.
    columns, weights, beta = model._columns.copy(), model._weights.copy(), model._beta
    if spoil == "nan weights":
        weights[0, 0] = np.nan
    elif spoil == "negative temperature":
        beta = -beta
    else:
        columns[-1] = -1
    spoiled = IntentModel(model.labels, model.examples, columns, weights, model._intercept,
                          beta, trained_with=model.trained_with)
    with pytest.raises(LearnedModelError, match="damaged"):
        IntentModel.from_bytes(spoiled.to_bytes())
