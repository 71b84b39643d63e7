"""The rules view's one way of wording counts and cost changes (headless)."""

from __future__ import annotations

from console.rules_wording import money, plural, waiting


def test_counts_are_pluralised_as_a_person_writes_them():
    assert plural(1, "suggestion") == "1 suggestion"
    assert plural(0, "suggestion") == "0 suggestions"
    assert plural(2, "rule") == "2 rules"
    assert plural(12_500, "recorded request") == "12,500 recorded requests"
    assert plural(3, "match", "matches") == "3 matches"


def test_a_saving_and_a_cost_are_said_with_a_verb_never_a_bare_sign():
    # The core's deltas are negative when a change saves.
    assert money(-0.1234, per="a day") == "saves $0.12 a day"
    assert money(2.5, per="a day") == "adds $2.50 a day"
    assert money(-0.00012, places=4) == "saves $0.0001"
    assert money(0.001) == "no change in cost"
    assert "-" not in money(-3.0) and "+" not in money(3.0)
    assert waiting(-192.0, per="a day") == "saves 3.2 min of waiting a day"
    assert waiting(7200.0) == "adds 2.0 h of waiting"
    assert waiting(0.0) == "no change in waiting"
