"""The learned tier as an engine runs it: versions with undo that outlive the engine,
a model that can't be read turning the tier off (not the engine), training in one
thread while another predicts, and the backtest's figures."""

from __future__ import annotations

import logging
import threading

import pytest

from agentcore import Engine, Settings
from agentcore.errors import LearnedModelError
from agentcore.learned import (
    Example,
    IntentModel,
    LearnedTier,
    Prediction,
    backtest,
    backtest_holdout,
    train,
)
from agentcore.learned._backtest import scored
from agentcore.storage import LearnedRecord

PROBES = ("where is my order 12345", "how do i reset my password", "do you ship abroad")


@pytest.fixture(scope="module")
def trained(recorded_corpus, tmp_path_factory, shop_template) -> tuple[IntentModel, list]:
    """A model of the recorded corpus, and its examples (trained once per module)."""
    import shutil

    from tests.recorded import install_recorded

    data = tmp_path_factory.mktemp("learned")
    shutil.copy(shop_template, data / "shop.sqlite")
    settings = Settings(data_dir=data)
    install_recorded(recorded_corpus.today(), settings)
    from agentcore.learned import training_examples

    examples = training_examples(settings.engine_db, catch_all="other")
    return train(examples), examples


async def test_a_new_engine_on_the_file_runs_the_same_version_and_undo_walks_back(
        recorded, trained):
    model, _examples = trained
    engine = Engine(recorded)
    assert engine.learned.current() is None and engine.learned.predict(PROBES[0]) is None
    first = engine.learned.save(model, 0.9, False, "alice", None)
    assert engine.learned.predict(PROBES[0]) is None  # saved off: answers nobody yet
    on = engine.learned.set_enabled(True, "alice")
    lowered = engine.learned.set_threshold(0.7, "bob")
    assert engine.learned.predict(PROBES[0]) == model.predict(PROBES[0])
    await engine.close()

    again = Engine(recorded)
    try:
        tier = again.learned
        assert tier.current() == lowered
        assert tier.threshold == 0.7 and tier.current().model_of == first.id
        assert tier.predict(PROBES[0]) == model.predict(PROBES[0])  # read from the file
        back = tier.undo("carol")
        assert (back.action, back.restores, back.threshold, back.enabled) == (
            "undo", on.id, 0.9, True)
        back = tier.undo("carol")
        assert (back.restores, back.enabled) == (first.id, False)
        assert tier.predict(PROBES[0]) is None
        assert tier.undo("carol") is None  # nothing before the first version
        # Every version stays listed, the undone ones and the undos, newest first.
        assert [v.action for v in tier.versions()] == [
            "undo", "undo", "threshold", "enable", "train"]
        # A station that was running all along takes up the change when it refreshes.
        station = Engine(recorded)
        try:
            again.learned.set_enabled(True, "carol")
            assert station.learned.predict(PROBES[0]) is None  # still the version it read
            assert station.learned.refresh() == again.learned.current()
            assert station.learned.predict(PROBES[0]) == model.predict(PROBES[0])
        finally:
            await station.close()
    finally:
        await again.close()


async def test_a_stored_model_that_cant_be_read_leaves_the_tier_off_not_the_engine(
        recorded, caplog):
    engine = Engine(recorded)
    engine.store.learned.add(LearnedRecord(1.0, "alice", "train", 100, 0.9, True),
                             b"a model from another release")
    await engine.close()
    with caplog.at_level(logging.ERROR, logger="agentcore.learned"):
        again = Engine(recorded)
    try:
        assert again.learned.current().enabled
        assert again.learned.predict(PROBES[0]) is None
        assert "train the learned tier again" in again.learned.problem
        assert "learned tier off" in caplog.text
        from agentcore.models import Request

        outcome = await again.submit(Request("refund policy?", customer_id=115))
        assert (outcome.status, outcome.route) == ("answered", "rule")  # runs on without it
    finally:
        await again.close()


async def test_it_predicts_on_one_thread_while_another_trains_and_saves(recorded, trained):
    model, examples = trained
    engine = Engine(recorded)
    try:
        tier = engine.learned
        tier.save(model, 0.9, True, "alice", None)
        retrained: list[IntentModel] = []
        errors: list[BaseException] = []
        seen: list[Prediction | None] = []
        done = threading.Event()

        def train_and_save() -> None:
            try:
                new = train(examples[::2], seed=3)
                retrained.append(new)
                tier.save(new, 0.8, True, "bob", None)
                tier.set_threshold(0.85, "bob")
            except BaseException as exc:
                errors.append(exc)
            finally:
                done.set()

        worker = threading.Thread(target=train_and_save)
        worker.start()
        while not done.is_set():
            for text in PROBES:
                seen.append(tier.predict(text))
        worker.join()
        assert errors == []
        (new,) = retrained
        allowed = {text: {model.predict(text), new.predict(text)} for text in PROBES}
        for i, prediction in enumerate(seen):
            assert prediction in allowed[PROBES[i % len(PROBES)]]
        assert tier.predict(PROBES[0]) == new.predict(PROBES[0])
        assert tier.threshold == 0.85
    finally:
        await engine.close()


def test_changing_a_tier_with_no_model_is_refused(tmp_path):
    from agentcore.clock import FakeClock
    from agentcore.storage import SQLiteStorage

    store = SQLiteStorage(tmp_path / "agent.sqlite")
    try:
        tier = LearnedTier(store.learned, FakeClock())
        with pytest.raises(LearnedModelError, match="train it first"):
            tier.set_threshold(0.8, "alice")
        assert tier.undo("alice") is None
        with pytest.raises(LearnedModelError, match="probability"):
            tier.set_threshold(1.5, "alice")
    finally:
        store.close()


# -- backtest figures ------------------------------------------------------------


def test_the_backtest_counts_what_it_would_answer_and_what_it_gets_wrong():
    examples = [Example("a", "order_status", "llm"), Example("b", "order_status", "llm"),
                Example("c", "refund_policy", "llm"), Example("d", "refund_request", "llm"),
                Example("e", "greeting", "rule"), Example("f", "order_status", "label")]
    predictions = [Prediction("order_status", 0.97),  # answered, right
                   Prediction("order_status", 0.6),  # below the threshold
                   Prediction("order_status", 0.95),  # answered, wrong
                   Prediction("refund_request", 0.99),  # right, but not answerable
                   Prediction("greeting", 0.92),  # answered, right
                   None]  # no model for it
    result = scored(examples, predictions, threshold=0.9,
                    answerable={"order_status", "greeting", "refund_policy"}, method="known")
    assert (result.total, result.answered, result.correct) == (6, 3, 2)
    assert result.coverage == pytest.approx(0.5) and result.precision == pytest.approx(2 / 3)
    (wrong,) = result.wrong
    assert (wrong.text, wrong.predicted, wrong.expected) == ("c", "order_status",
                                                             "refund_policy")
    counts = {c.intent: (c.total, c.answered, c.correct) for c in result.per_intent}
    assert counts == {"order_status": (3, 1, 1), "refund_policy": (1, 1, 0),
                      "refund_request": (1, 0, 0), "greeting": (1, 1, 1)}
    curve = {p.threshold: (p.answered, p.precision) for p in result.curve}
    assert curve[0.5] == (4, 0.75) and curve[0.95] == (2, 0.5) and curve[0.99] == (0, None)
    assert "3 of 6" in result.summary()


def test_a_hold_out_is_less_flattering_than_the_training_rows_and_says_which(trained):
    model, examples = trained
    answerable = {ex.intent for ex in examples}
    flattering = backtest(model, examples, threshold=0.9, answerable=answerable)
    honest = backtest_holdout(examples, threshold=0.9, answerable=answerable, folds=3)
    assert "flatters" in flattering.method and honest.method == "hold-out, 3 folds"
    assert honest.total == flattering.total == len(examples)
    assert honest.correct <= flattering.correct
    assert honest.answered > 0.4 * honest.total  # still answers a good share ...
    assert honest.precision is not None and honest.precision > 0.95  # ... and gets it right
    # A backtest saved with a version comes back the same.
    assert type(honest).from_dict(honest.as_dict()) == honest


def test_a_large_set_holds_one_fold_out_and_says_so(trained):
    _model, examples = trained
    result = backtest_holdout(examples, threshold=0.9, answerable={ex.intent for ex in examples},
                              split_above=100)
    assert result.method == "hold-out, 1 in 5 held out"
    assert abs(result.total - len(examples) / 5) <= 15  # a fifth of every intent
    assert result.answered > 0 and result.precision is not None and result.precision > 0.9
