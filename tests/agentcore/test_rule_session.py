"""An operator's rule-tuning session, headless: what each action does to the draft and the
live rules, and what the operator is told (refusals told, never raised)."""

from __future__ import annotations

import dataclasses

import pytest

from agentcore import EmptyRuleSetError, Engine, Request, Route, RuleSession
from agentcore.backtest import Backtester, load_recorded
from agentcore.router import Rule
from agentcore.rulebook import RuleBook
from agentcore.suggest import RejectedSuggestions, suggest_rules

HOURS = "when are you open?"
CLOSED = Rule(id="closed", name="closed today", pattern=r"\bopen\b", intent="contact",
              handler="static", template="We are closed today.", priority=99)


@pytest.fixture
async def engine(recorded):
    engine = Engine(recorded)
    yield engine
    await engine.close()


@pytest.fixture
def session(engine) -> RuleSession:
    return RuleSession(RuleBook(engine), RejectedSuggestions(engine.store.rules),
                       now=lambda: 1_700_000_000.0, operator="ana")


async def rule_for(engine: Engine, text: str) -> str | None:
    return (await engine.submit(Request(text))).rule_id


async def test_undo_discards_unapplied_edits_first_then_undoes_the_applied_change(
        engine, session):
    draft = session.draft
    draft.add(CLOSED)
    told = session.apply()
    assert told.done and told.text == "Applied version 2: added closed"
    assert await rule_for(engine, HOURS) == "closed"
    assert session.state().text.startswith("Live: version 2, ")

    draft.toggle(draft.index_of("hello"))
    assert session.state().can_apply and not session.state().can_redo
    assert session.undo() == dataclasses.replace(told, text="Unapplied edits discarded")
    assert not draft.dirty and await rule_for(engine, HOURS) == "closed"

    told = session.undo()
    assert (told.done, told.text) == (True, "Undone: undo: back to version 1")
    assert await rule_for(engine, HOURS) == "contact-hours"
    assert draft.index_of("closed") < 0  # the draft follows the live rules
    assert session.redo().text == "Redone: redo: version 2 again"
    assert await rule_for(engine, HOURS) == "closed"
    assert session.book.versions()[0].author == "ana"


async def test_an_answer_to_a_question_counts_only_for_what_was_asked(engine, session):
    session.draft.add(CLOSED)
    asked = session.asked()
    session.draft.toggle(session.draft.index_of("closed"))  # typed on while asked
    told = session.apply(asked)
    assert not told.done and "changed while you were asked" in told.text
    assert await rule_for(engine, HOURS) == "contact-hours"

    asked = session.asked()
    other = RuleSession(session.book, session.rejected, now=lambda: 0.0, operator="ben")
    other.draft.toggle(other.draft.index_of("hello"))
    assert other.apply().done  # another change went live meanwhile
    assert not session.apply(asked).done


async def test_refusals_are_told_not_raised(engine, session):
    broken = dataclasses.replace(CLOSED, pattern="(open")
    session.draft.add(broken)
    told = session.apply()
    assert not told.done and told.text.startswith("Cannot apply: rule 'closed': invalid")
    assert session.state().text.startswith("Cannot apply: closed: invalid pattern: missing )")
    assert not session.state().can_apply
    told = session.revert(1)
    assert (told.done, told.text) == (False, "Apply or discard (Undo) the unapplied edits "
                                             "first.")
    session.reset()
    assert not session.redo().done and session.redo().text == "Nothing to redo"
    assert not session.import_text("bad.yaml", "rules: [").done
    assert await rule_for(engine, HOURS) == "contact-hours"


async def test_an_apply_over_a_set_another_station_saved_is_told_and_the_edits_kept(
        engine, session, recorded):
    other = Engine(recorded)  # a second station on the same database
    try:
        RuleBook(other).apply([*other.router.rules, dataclasses.replace(CLOSED, id="theirs")],
                              author="ben")
        session.draft.add(CLOSED)
        told = session.apply()
        assert not told.done and "the live rules changed elsewhere" in told.text
        assert session.draft.dirty and session.draft.index_of("closed") >= 0  # kept
        assert "theirs" in {r.id for r in session.live.rules}  # now runs ben's set
        assert await rule_for(engine, HOURS) == "theirs"
    finally:
        await other.close()


async def test_an_import_that_leaves_no_rule_enabled_is_a_question(engine, session):
    with pytest.raises(EmptyRuleSetError):
        session.import_text("empty.yaml", "rules: []\n")
    assert await rule_for(engine, HOURS) == "contact-hours"
    told = session.import_text("empty.yaml", "rules: []\n", allow_empty=True)
    assert told.done and told.text == "Imported empty.yaml as version 2"
    assert (await engine.submit(Request(HOURS))).route is not Route.RULE
    assert session.state().text == "Live: version 2, 0 rules."


def mine(engine: Engine) -> list:
    found = suggest_rules(Backtester(load_recorded(engine.store.traffic)), engine.router)
    assert found  # the recorded corpus has a recurring slow-path shape
    return found


async def test_accepting_a_suggestion_keeps_unapplied_edits(engine, session):
    top = mine(engine)[0]
    session.draft.toggle(session.draft.index_of("hello"))  # an edit not applied yet
    told = session.accept(top)
    assert told.done and told.text.endswith(f"accepted suggestion {top.rule.id}")
    assert top.rule.id in {r.id for r in engine.router.rules}
    assert session.draft.dirty  # the edit is still there, over the new live rules
    assert session.draft.index_of(top.rule.id) >= 0
    assert not session.draft.rules[session.draft.index_of("hello")].enabled


async def test_a_suggestion_rejected_while_a_search_ran_is_not_shown_from_it(engine, session):
    found = mine(engine)  # a search that began before the rejection
    top = found[0]
    told = session.reject(top)
    assert told.done and "not offered again" in told.text
    assert top.key in session.rejected_keys()
    assert top not in session.not_rejected(found)
    assert session.not_rejected(found) == found[1:]
