"""The rule book: applied changes are versions with who, when and a diff; undo, redo
and revert change what the running engine answers; YAML goes out and back in."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading

import pytest

from agentcore import Engine, Request, Route, RuleError
from agentcore.errors import EmptyRuleSetError, RulesChangedError
from agentcore.router import Rule
from agentcore.rulebook import RuleBook

HOURS = "when are you open?"
CLOSED = Rule(id="closed", name="closed today", pattern=r"\bopen\b", intent="contact",
              handler="static", template="We are closed today.", priority=99)


@pytest.fixture
async def engine(settings):
    engine = Engine(settings)
    yield engine
    await engine.close()


async def answer(engine: Engine, text: str) -> tuple[Route, str | None, str]:
    outcome = await engine.submit(Request(text))
    return outcome.route, outcome.rule_id, outcome.answer


async def test_apply_swaps_the_live_rules_and_records_who_when_and_what(engine, settings):
    book = RuleBook(engine)
    assert (await answer(engine, HOURS))[1] == "contact-hours"
    version = book.apply([*engine.router.rules, CLOSED], author="ana")
    route, rule_id, text = await answer(engine, HOURS)
    assert (route, rule_id, text) == (Route.RULE, "closed", "We are closed today.")
    assert (version.author, version.action, version.summary) == ("ana", "apply", "added closed")
    assert version.created_at > 0
    assert "+- id: closed" in book.diff(version.id)
    assert [v.action for v in book.versions()] == ["apply", "seed"]
    # The history list's lines: the same versions, without their rule sets.
    assert [(e.id, e.author, e.action, e.summary) for e in book.log()] == [
        (v.id, v.author, v.action, v.summary) for v in book.versions()]


async def test_undo_restores_the_old_route_and_redo_brings_the_change_back(settings):
    engine = Engine(settings)
    try:
        book = RuleBook(engine)
        book.apply([*engine.router.rules, CLOSED], author="ana")
        book.undo(author="ben")
        assert (await answer(engine, HOURS))[1] == "contact-hours"
        assert book.can_redo and not book.can_undo
        book.redo(author="ben")
        assert (await answer(engine, HOURS))[1] == "closed"
        assert [v.action for v in book.versions()][:2] == ["redo", "undo"]
        assert book.versions()[1].author == "ben"
    finally:
        await engine.close()

    # Undo survives a restart: the stacks are rebuilt from the log.
    engine = Engine(settings)
    try:
        book = RuleBook(engine)
        assert engine.router.route(HOURS).rule.id == "closed"
        book.undo(author="cy")
        assert engine.router.route(HOURS).rule.id == "contact-hours"
        # A new change after an undo drops what could have been redone.
        rules = [dataclasses.replace(r, priority=1) if r.id == "hello" else r
                 for r in engine.router.rules]
        book.apply(rules, author="cy")
        assert not book.can_redo
    finally:
        await engine.close()


async def test_a_broken_rule_is_refused_and_nothing_changes(engine):
    book = RuleBook(engine)
    before = engine.router
    broken = dataclasses.replace(CLOSED, pattern="(unclosed")
    with pytest.raises(RuleError, match=r"'closed'.*invalid pattern"):
        book.apply([*engine.router.rules, broken], author="ana")
    assert engine.router is before
    assert len(book.versions()) == 1


async def test_revert_to_any_version_is_itself_undoable(engine):
    book = RuleBook(engine)
    seed = book.current
    book.apply([*engine.router.rules, CLOSED], author="ana")
    book.apply([r for r in engine.router.rules if r.id != "hello"], author="ana")
    book.revert(seed.id, author="ana")
    assert [r.id for r in engine.router.rules] == [r.id for r in seed.rules]
    book.undo(author="ana")
    assert "closed" in {r.id for r in engine.router.rules}
    assert "hello" not in {r.id for r in engine.router.rules}


async def test_yaml_round_trip_and_a_clear_error_for_a_bad_file(engine):
    book = RuleBook(engine)
    text = book.export_yaml()
    book.apply([*engine.router.rules, CLOSED], author="ana")
    book.import_yaml(text, author="ana")
    assert "closed" not in {r.id for r in engine.router.rules}
    assert book.current.action == "import"
    with pytest.raises(RuleError, match="priority"):
        book.import_yaml(text.replace("priority: 60", "priority: high", 1), author="ana")
    with pytest.raises(RuleError, match="not valid YAML"):
        book.import_yaml("rules: [", author="ana")
    # A file that leaves out an intent is refused as the editor would refuse it.
    with pytest.raises(RuleError, match="needs an intent"):
        book.import_yaml(text.replace("intent: refund_status", "intent: ''", 1), author="ana")


async def test_importing_no_enabled_rule_needs_an_explicit_flag(engine):
    book = RuleBook(engine)
    live = engine.router
    disabled = book.export_yaml().replace("enabled: true", "enabled: false")
    for text, why in (("rules: []\n", "it has no rules"),
                      (disabled, f"all {len(live.rules)} of its rules are disabled")):
        with pytest.raises(EmptyRuleSetError) as err:
            book.import_yaml(text, author="ana")
        assert err.value.reason.startswith(f"{why}, so every request would leave the fast path")
        assert "allow_empty=True" in err.value.reason
        assert engine.router is live and len(book.versions()) == 1  # nothing changed
    book.import_yaml(disabled, author="ana", allow_empty=True)
    assert len(engine.router) == 0 and book.current.action == "import"
    assert (await answer(engine, HOURS))[0] is not Route.RULE


async def test_a_catch_all_rule_is_refused_by_apply_import_and_switched_off_at_start(
        settings, caplog):
    engine = Engine(settings)
    try:
        book = RuleBook(engine)
        live = engine.router
        grab = dataclasses.replace(CLOSED, id="grab", pattern="{greeting}")
        with pytest.raises(RuleError, match=r"'grab'.*take over all traffic"):
            book.apply([*live.rules, grab], author="ana")
        text = book.export_yaml().replace(r"pattern: ^{greeting}", "pattern: x*|", 1)
        with pytest.raises(RuleError, match="the pattern 'x\\*\\|"):
            book.import_yaml(text, author="ana")
        assert engine.router is live and len(book.versions()) == 1
        # A database written before the check (or by hand): the engine starts, with the
        # catch-all switched off (said in the log) and left on disk to be mended.
        stored = [r.as_dict() for r in (*live.rules, grab)]
        engine.store.rules.save_rules(stored, dict(live.fragments))
    finally:
        await engine.close()
    with caplog.at_level(logging.ERROR, logger="agentcore.engine"):
        again = Engine(settings)
    try:
        kept = {r.id: r for r in again.router.rules}
        assert kept["grab"].enabled is False and len(again.router) == len(live)
        assert "'grab'" in caplog.text and "switched off until it is fixed" in caplog.text
        assert (await answer(again, "my app keeps crashing and nothing helps"))[0] \
            is not Route.RULE
        assert any(r["id"] == "grab" and r["enabled"] for r in again.store.rules.load_rules())
    finally:
        await again.close()


async def test_a_file_of_rules_without_fragments_keeps_the_live_fragments(engine):
    import yaml

    book = RuleBook(engine)
    fragments = dict(engine.router.fragments)
    rules_only = yaml.safe_load(book.export_yaml())
    del rules_only["fragments"]
    book.import_yaml(yaml.safe_dump(rules_only), author="ana")
    assert engine.router.fragments == fragments and fragments
    assert engine.router.route("hello, where is my order 12345?") is not None


async def test_requests_racing_an_apply_see_the_old_set_or_the_new_never_half(engine):
    book = RuleBook(engine)
    old = engine.router.rules
    hello = next(r for r in old if r.id == "hello")
    # One change that removes a rule and adds its replacement: half of it would leave
    # "hi" to the LLM (removed, not yet added) or answered twice over (added, not removed).
    new = [r for r in old if r.id != "hello"] + [dataclasses.replace(hello, id="hello-v2")]

    async def ask() -> str | None:
        await asyncio.sleep(0)
        return (await engine.submit(Request("hi"))).rule_id

    async def change() -> None:
        await asyncio.sleep(0)
        book.apply(new, author="ana")

    results = await asyncio.gather(*[ask() for _ in range(100)], change(),
                                    *[ask() for _ in range(100)])
    answered = results[:100] + results[101:]
    assert set(answered) == {"hello", "hello-v2"}  # every one by a rule, never the LLM
    assert answered[-1] == "hello-v2"


@pytest.fixture(params=["sqlite", "postgresql"])
def one_database(request):
    """The settings two stations open on one database, on each backend."""
    return request.getfixturevalue("settings" if request.param == "sqlite" else "pg_settings")


async def test_a_change_made_on_a_set_another_station_replaced_is_refused_not_lost(
        one_database):
    """Two stations edit at once: the second's change, made on the set the first
    replaced, is refused (it would have dropped the first's rule), and applied again
    on the new set both rules run. Undo walks the team's history."""
    ann_engine, bob_engine = Engine(one_database), Engine(one_database)
    try:
        ann, bob = RuleBook(ann_engine), RuleBook(bob_engine)
        alpha = dataclasses.replace(CLOSED, id="alpha", pattern=r"\balpha\b")
        bravo = dataclasses.replace(CLOSED, id="bravo", pattern=r"\bbravo\b")
        ann.apply([*ann_engine.router.rules, alpha], author="ann")
        with pytest.raises(RulesChangedError, match="changed elsewhere"):
            bob.apply([*bob_engine.router.rules, bravo], author="bob")  # not yet told
        assert "alpha" in {r.id for r in bob_engine.router.rules}  # bob runs ann's set now
        version = bob.apply([*bob_engine.router.rules, bravo], author="bob")
        assert version.summary == "added bravo"
        assert {"alpha", "bravo"} <= {r.id for r in version.rules}
        assert [v.author for v in bob.versions()][:2] == ["bob", "ann"]

        ann_engine.reload_rules()  # as its store follower does on hearing of it
        ann.undo(author="ann")  # the team's last change: bob's
        ids = {r.id for r in ann_engine.router.rules}
        assert "alpha" in ids and "bravo" not in ids
    finally:
        await ann_engine.close()
        await bob_engine.close()


async def test_engines_starting_at_once_on_a_new_database_share_one_seed(one_database):
    """Services started together on a new database: each runs the one seed version, so
    the first change made at any of them is taken, not refused for a change nobody made."""
    engines: list[Engine] = []
    ready = threading.Barrier(3)

    def start() -> None:
        ready.wait()
        engines.append(Engine(one_database))

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len(engines) == 3
        log = RuleBook(engines[0]).log()
        assert [entry.action for entry in log] == ["seed"]
        assert {engine.rules_version for engine in engines} == {log[0].id}
        for n, engine in enumerate(engines):
            engine.reload_rules()  # as its store follower does on hearing the one before
            added = dataclasses.replace(CLOSED, id=f"rule{n}", pattern=rf"\brule{n}\b")
            RuleBook(engine).apply([*engine.router.rules, added], author=f"op{n}")
    finally:
        for engine in engines:
            await engine.close()


async def test_a_set_emptied_on_purpose_stays_empty_at_the_next_start(one_database):
    """A team that turned the fast path off (every rule deleted, imported with
    allow_empty) must not find the shipped rules answering again after a restart."""
    engine = Engine(one_database)
    try:
        RuleBook(engine).import_yaml("rules: []\n", author="ann", allow_empty=True)
    finally:
        await engine.close()
    again = Engine(one_database)
    try:
        assert len(again.router) == 0
        assert again.store.rules.load_rules() == []
        outcome = await again.submit(Request(text="what are your opening hours?"))
        assert outcome.route is not Route.RULE
        assert [e.action for e in RuleBook(again).log()] == ["import", "seed"]
    finally:
        await again.close()
