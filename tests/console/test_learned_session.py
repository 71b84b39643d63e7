"""The learned tier's session, headless: what each operator action does to the running
version and what the operator is told (refusals told, never raised). A real engine
over the recorded corpus, trained for real."""

from __future__ import annotations

import pytest

from agentcore import Engine
from console.learned_session import LearnedSession


@pytest.fixture
async def engine(recorded):
    engine = Engine(recorded)
    yield engine
    await engine.close()


def session_of(engine: Engine, operator: str = "ana") -> LearnedSession:
    return LearnedSession(engine.learned, engine.store.traffic, operator=lambda: operator,
                          answerable=lambda: engine.router.answerable_intents(),
                          settings=lambda: engine.settings.learned, now=engine.clock.now)


@pytest.fixture
def session(engine):
    session = session_of(engine)
    yield session
    session.close()


async def test_a_retrained_candidate_waits_beside_the_running_version(engine, session):
    assert (await session.train(0.9)).done
    first = session.use_candidate(0.9)
    assert first.done and first.text == "Learned tier version 1 is on at threshold 0.90."
    running = engine.learned.current()
    assert running.enabled and running.operator == "ana" and running.backtest is not None

    told = await session.train(0.9)
    assert told.done and told.text.endswith("The running model is unchanged until you use it.")
    assert engine.learned.current() == running  # retraining replaced nothing
    assert session.shown(0.9).title == "Candidate, not running"
    # A threshold the candidate has no backtest at: previewed from its curve, not used.
    assert session.preview_text(0.8).endswith("(its curve).")
    refused = session.use_candidate(0.8)
    assert not refused.done and "no backtest at 0.80" in refused.text
    assert engine.learned.current() == running

    assert (await session.backtest_at(0.8)).done
    assert session.preview_text(0.8).endswith("(its backtest).")
    used = session.use_candidate(0.8)
    assert used.done and engine.learned.current().id == 2
    assert engine.learned.current().threshold == pytest.approx(0.8)
    assert session.candidate is None


async def test_the_running_threshold_moves_only_to_a_point_its_backtest_has(engine, session):
    await session.train(0.9)
    session.use_candidate(0.9)

    assert not session.can_apply_threshold(0.83)
    assert "choose one of 0.50, 0.60" in session.preview_text(0.83)
    assert not session.apply_threshold(0.83).done
    assert session.preview_text(0.7).startswith("At 0.70 the running model would answer")
    told = session.apply_threshold(0.7)
    assert told.done and told.text == "Learned tier version 2: threshold 0.70."
    assert engine.learned.current().threshold == pytest.approx(0.7)
    assert session.running_text().startswith("On: version 2, trained ")


async def test_switch_off_even_with_a_candidate_and_undo_back_to_the_first_version(
        engine, session):
    await session.train(0.9)
    session.use_candidate(0.9)
    await session.train(0.9)  # a candidate waits

    assert session.can_switch()
    assert session.switch(False).text == "Learned tier switched off (version 2)."
    assert not engine.learned.current().enabled
    assert engine.learned.predict("where is my order 5?") is None  # off means off
    assert session.can_undo()
    told = session.undo()
    assert told.done and told.text.startswith("Undone: version 3 restores version 1 (on,")
    assert engine.learned.current().enabled
    assert not session.can_undo()  # back at the first version: nothing before it
    assert session.undo() == type(told)(False, "Nothing to undo.")


async def test_too_few_examples_are_refused_in_a_sentence(settings):
    engine = Engine(settings)  # has answered nothing
    session = session_of(engine)
    try:
        told = await session.train(0.9)
        assert not told.done
        assert told.text.startswith("Not trained: the learned tier needs at least 30 "
                                    "labelled requests")
        assert session.candidate is None and engine.learned.current() is None
        assert not session.switch(True).done
        assert session.preview_text(0.9) == ("Train a candidate to see what a threshold "
                                              "would answer.")
    finally:
        session.close()
        await engine.close()


async def test_a_version_another_station_saved_is_taken_up_and_said(recorded, engine,
                                                                     session):
    await session.train(0.9)
    session.use_candidate(0.9)
    other = Engine(recorded)
    try:
        other.learned.set_threshold(0.8, "lee")
    finally:
        await other.close()

    told = session.take_up()
    assert told == type(told)(True, "Learned tier version 2 (by lee) is the current one now.")
    assert engine.learned.current().threshold == pytest.approx(0.8)
    assert session.take_up().text == ""  # nothing new since
