"""The rule set, its versions and the rejected suggestions, on both backends: what is
saved reads back the same (to another station too); a save is all or nothing; stations
saving at once never mix their sets, and each version gets an id of its own."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from agentcore.errors import StorageError
from agentcore.storage import VersionRecord
from tests.agentcore.storage.stations import (
    run_stations,
    save_on_top,
    save_rule_sets,
    seed_at_once,
)


def rule(rule_id: str, *, enabled: bool = True, priority: int = 10) -> dict[str, Any]:
    return {"id": rule_id, "name": f"rule {rule_id}", "pattern": rf"\b{rule_id}\b",
            "intent": "order_status", "handler": "order_status", "template": "Hi {name}",
            "priority": priority, "enabled": enabled, "cache": "per-customer"}


def rule_set(name: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    return ([rule(f"{name}-a"), rule(f"{name}-b", enabled=False)],
            {f"{name}_frag": r"(?:order|parcel)"})


def version_of(rules: list[dict[str, Any]], fragments: dict[str, str], author: str,
               n: int, *, action: str = "apply", restores: int | None = None) -> VersionRecord:
    return VersionRecord(1_000.0 + n, author, action, f"change {n}", restores,
                         tuple(rules), fragments)


def test_a_saved_set_reads_back_the_same_at_another_station(open_store):
    here = open_store()
    rules = [rule("late", priority=5), rule("refund", enabled=False), rule("cancel")]
    fragments = {"order": r"(?:order|parcel)", "money": r"(?:refund|money back)"}
    here.rules.save_rules(rules, fragments, version_of(rules, fragments, "ana", 1))
    there = open_store()
    assert there.rules.load_rules() == rules  # in order, `enabled` a bool again
    assert all(type(r["enabled"]) is bool for r in there.rules.load_rules())
    assert there.rules.load_fragments() == fragments
    (logged,) = there.rules.version_log()
    assert logged[1:] == (1_001.0, "ana", "apply", "change 1", None)
    stored = there.rules.version(logged[0])
    assert (list(stored.rules), stored.fragments) == (rules, fragments)


def test_the_history_is_kept_in_order_and_found_by_id(open_store):
    rules = open_store().rules
    assert rules.latest_version_id() is None and rules.versions() == []
    one, frag = rule_set("one")
    two, frag2 = rule_set("two")
    seed = rules.add_version(version_of(one, frag, "seed", 0, action="seed"))
    assert rules.load_rules() == []  # a bare version changes nothing that runs
    rules.save_rules(two, frag2, version_of(two, frag2, "ana", 1))
    rules.save_rules(one, frag, version_of(one, frag, "ben", 2, action="undo", restores=seed))
    newest = rules.latest_version_id()
    assert [v.id for v in rules.versions()] == [newest, *[v[0] for v in
                                                          rules.version_log()][-2::-1]]
    undo = rules.version(newest)
    assert (undo.action, undo.restores, undo.author) == ("undo", seed, "ben")
    assert rules.version_before(newest).author == "ana"
    assert rules.version_before(seed) is None
    assert rules.version(newest + 1000) is None
    assert [v[5] for v in rules.version_log()] == [None, None, seed]


def test_a_failed_save_changes_nothing(open_store):
    rules = open_store().rules
    good, fragments = rule_set("good")
    rules.save_rules(good, fragments, version_of(good, fragments, "ana", 1))
    twice = [rule("same"), rule("same")]  # two rules of one id: the second insert fails
    with pytest.raises(StorageError, match="saving the rules"):
        rules.save_rules(twice, {"x": "y"}, version_of(twice, {"x": "y"}, "ben", 2))
    assert rules.load_rules() == good
    assert rules.load_fragments() == fragments
    assert [v[2] for v in rules.version_log()] == ["ana"]  # nor a version of it


def test_a_rejected_suggestion_is_kept_once_for_every_station(open_store):
    here = open_store()
    here.rules.reject_suggestion("k1", r"\bwhere\b", "order_status", author="ana", at=1.0)
    here.rules.reject_suggestion("k1", r"\bwhere\b", "order_status", author="ben", at=2.0)
    here.rules.reject_suggestion("k2", r"\brefund\b", "refund_status", author="ben", at=3.0)
    assert open_store().rules.rejected_keys() == {"k1", "k2"}


def test_stations_saving_at_once_never_mix_their_sets_and_get_distinct_version_ids(
        open_store):
    open_store()  # migrated before the stations race
    stations, threads, rounds = 3, 2, 6
    got = run_stations(save_rule_sets, (open_store.kind, open_store.location,
                                        open_store.password), stations, threads, rounds)
    ids = [i for station in got for i in station]
    assert len(ids) == len(set(ids)) == stations * threads * rounds
    rules = open_store().rules
    assert len(rules.version_log()) == 2 * stations * threads * rounds
    running = rules.load_rules()
    # One station's whole set runs, not a mix, and it is what the newest version says.
    owners = {r["id"].rsplit("-", 1)[0] for r in running}
    assert len(owners) == 1 and len(running) == 2
    (owner,) = owners
    assert (running, rules.load_fragments()) == rule_set(owner)
    # The newest version a save recorded (a bare version recorded after another
    # station's save changes no rules: it may name any station's set).
    saved = [v for v in rules.versions() if v.action == "apply"]
    newest = max(saved, key=lambda v: v.id)
    assert (list(newest.rules), newest.fragments) == rule_set(owner)


def test_saves_on_top_of_a_version_race_and_each_version_has_one_successor(open_store):
    """Stations each saving on top of the newest version they read, at once: of those
    that read the same version, one save is taken and the others refused, so the
    history is one chain and no station's set was replaced unseen."""
    open_store()
    got = run_stations(save_on_top, (open_store.kind, open_store.location,
                                     open_store.password), 3, 2, 8)
    taken = sorted(t for station, _ in got for t in station)
    refused = sum(r for _, r in got)
    assert len(taken) + refused == 3 * 2 * 8 and taken
    bases = [base for base, _ in taken]
    assert len(bases) == len(set(bases))  # never two saves on one version
    for (_, saved), (base, _) in pairwise(taken):
        assert base == saved  # each on the one before it
    assert open_store().rules.latest_version_id() == taken[-1][1]


def test_of_first_starts_at_once_on_an_empty_database_one_seeds_the_history(open_store):
    """Two services started together on a new database: a second seed would leave one
    of them a version behind, its first apply refused for a change nobody made."""
    open_store()
    got = run_stations(seed_at_once, (open_store.kind, open_store.location,
                                      open_store.password), 3, 2)
    given = [g for station in got for g in station]
    seeded = [g for g in given if g is not None]
    assert len(given) == 6 and len(seeded) == 1
    rules = open_store().rules
    assert [v[0] for v in rules.version_log()] == seeded
    assert rules.seed_version(version_of(*rule_set("late"), "system", 1)) is None
