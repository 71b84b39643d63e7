"""The contested-claims bench's harness, small: its claimant processes race over one
PostgreSQL queue as the bench runs them, and its check counts what it claims to (one
winner per item, by the processes' reports and by claimed_by), or it lies only when
someone runs it at full size."""

from __future__ import annotations

import copy

from bench.pg_claims_bench import contest, summarise


def test_three_claimant_processes_leave_exactly_one_winner_per_item(pg_url, postgres_server):
    race = contest(pg_url, postgres_server.password, items=40, processes=3)

    rows, ok = summarise(race)
    assert ok
    assert len(race["reports"]) == 3
    assert sorted(i for _, won, *_ in race["reports"] for i in won) == sorted(race["ids"])
    assert set(race["holders"].values()) <= {"station-0", "station-1", "station-2"}
    assert "exactly one winner each: 40 of 40" in rows[0][1]
    # The check can fail: a second winner reported for one item is caught.
    doubled = copy.deepcopy(race)
    other = next(r for r in doubled["reports"] if race["ids"][0] not in r[1])
    other[1].append(race["ids"][0])
    assert not summarise(doubled)[1]
    # And so is a holder in the database other than the process that said it won.
    moved = copy.deepcopy(race)
    moved["holders"][race["ids"][0]] = "someone-else"
    assert not summarise(moved)[1]
