"""The PostgreSQL backtest bench's harness, small: it seeds the same recorded traffic
on PostgreSQL and SQLite, and the backtests over both find the same result (which the
bench prints as checked). When the schema or the traffic read moves on, the bench must
still compare like with like, or it lies only when someone runs it at full size."""

from __future__ import annotations

from bench.pg_backtest_bench import measure, summarise


def test_the_same_rows_on_both_backends_backtest_to_the_same_result(pg_url, postgres_server):
    found, topped = measure(pg_url, postgres_server.password, rows=3_000, sqlite_rows=1_000,
                            rounds=1)

    pg, big, small = found["postgresql"], found["sqlite-big"], found["sqlite-small"]
    assert pg.summary[0] == big.summary[0] == 3_000
    assert small.summary[0] == 1_000
    assert pg.summary == big.summary
    assert pg.summary[2] != pg.summary[1] or pg.summary[3]  # the edit changes something
    assert pg.further > 0  # the next edit on the loaded sample was timed
    said = {label.strip().split(",")[0]: against
            for label, _, against in summarise(found, topped)}
    assert "the same result on both" in said["where its time goes"]
    # The console's top-up: the new requests read alone, and the same as a whole read.
    assert topped.new == 1_000 and topped.same
    assert "the same result as a whole read" in said["1"]
