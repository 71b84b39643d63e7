"""`make bench` builds its 100,000 recorded requests from the engine's own tables:
when the schema moves on (a new outcome column), it must still write rows the
backtest reads, or the bench breaks only when someone runs it."""

from __future__ import annotations

from agentcore.backtest import load_recorded
from bench.rules_bench import _multiply


def test_the_rule_bench_multiplies_recorded_traffic_the_backtest_reads(recorded):
    db = recorded.engine_db
    before = len(load_recorded(db))
    _multiply(db, before + 1_000)
    traffic = load_recorded(db, limit=100_000)
    assert len(traffic) == before + 1_000
    assert traffic.texts.count(traffic.texts[0]) > 1  # copies of the answered corpus
