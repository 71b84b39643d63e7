"""A sample topped up with what was recorded since it was read backtests exactly as the
same traffic read whole now: new requests where their time puts them, re-runs and
operators' labels in place, the oldest beyond the sample's size gone."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agentcore.backtest import Backtester, load_recorded
from agentcore.backtest_sample import plan
from agentcore.demo_shop.domain import RESOURCES
from agentcore.router import Router
from agentcore.rule_scan import TextBlock
from agentcore.storage import SQLiteTraffic
from agentcore.stored_rules import default_rules
from tests.agentcore.test_backtest_routes import EDITS, _edits, _said
from tests.routing import SHOP_HANDLERS

SIZE = 300  # of the recorded corpus's ~400 answered requests: some fall off the end
_COPY = ("INSERT INTO requests (id, text, customer_id, channel, received_at, status, note)"
         " SELECT id || ?, text, customer_id, channel, received_at + ?, status, note"
         " FROM requests WHERE id = ?")
_COPY_OUTCOME = ("INSERT INTO outcomes (request_id, route, status, intent, rule_id, answer,"
                 " prompt_tokens, completion_tokens, dollars, latency_ms, errors,"
                 " escalation_reason, finished_at) SELECT request_id || ?, route, status,"
                 " intent, rule_id, answer, prompt_tokens, completion_tokens, dollars,"
                 " latency_ms, errors, escalation_reason, ? FROM outcomes WHERE request_id = ?")


@pytest.fixture
def live() -> Router:
    rules, fragments = default_rules(RESOURCES)
    return Router(rules, SHOP_HANDLERS, fragments=fragments)


def _newest(db: Path, n: int, route: str | None = None) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute(
            "SELECT r.id FROM requests r JOIN outcomes o ON o.request_id = r.id"
            " WHERE o.route NOT IN ('guard') AND o.status != 'rejected'"
            + (" AND o.route = ?" if route else "") + " ORDER BY r.received_at DESC LIMIT ?",
            (route, n) if route else (n,))]


def _traffic_goes_on(db: Path, later: float) -> None:
    """What happens after the sample was read, every outcome stamped `later`: new
    requests (copies of old texts, received after everything), one received long ago but
    answered only now, a re-run whose outcome changed, an operator's label."""
    newest, oldest_llm = _newest(db, 40), _newest(db, 200, route="llm")[-1]
    with sqlite3.connect(db) as conn:
        span = conn.execute("SELECT MAX(received_at) - MIN(received_at) FROM requests"
                            ).fetchone()[0]
        for n, rid in enumerate(newest):
            conn.execute(_COPY, (f"-new{n}", span + 10 + n, rid))
            conn.execute(_COPY_OUTCOME, (f"-new{n}", later, rid))
        middle = newest[20]
        conn.execute(_COPY, ("-late", -0.0001, middle))  # a straggler, just before it
        conn.execute(_COPY_OUTCOME, ("-late", later, middle))
        conn.execute("UPDATE outcomes SET route = 'rule', rule_id = 'contact-hours',"
                     " intent = 'store_hours', dollars = 0, finished_at = ?"
                     " WHERE request_id = ?", (later, newest[5]))
        conn.execute("INSERT INTO labelled_examples (request_id, text, intent, answer, source,"
                     " operator, created_at) SELECT id, text, 'refund_request', 'done',"
                     " 'human', 'olivia', ? FROM requests WHERE id = ?", (later, oldest_llm))


def test_a_topped_up_sample_backtests_as_the_traffic_read_whole(recorded, live):
    db = recorded.engine_db
    traffic = SQLiteTraffic(db)
    with sqlite3.connect(db) as conn:
        read_at = conn.execute("SELECT MAX(finished_at) FROM outcomes").fetchone()[0] + 1
    loaded = Backtester(load_recorded(db, SIZE))
    # The live routes worked out, and the texts joined for scanning, as a first edit does.
    loaded.run(live, Router(_edits(live)["a wider pattern"], SHOP_HANDLERS,
                            fragments=live.fragments))
    _traffic_goes_on(db, later=read_at + 5)

    fresh = traffic.recorded_since(read_at, SIZE)
    assert len(fresh) == 40 + 1 + 1 + 1  # new, the straggler, the re-run, the labelled one
    topped = loaded.topped_up(fresh, SIZE)
    whole = Backtester(load_recorded(db, SIZE))
    for column in ("ids", "texts", "normalised", "routes", "rule_ids", "known", "dollars",
                   "latency_ms", "received_at"):
        assert getattr(topped.requests, column) == getattr(whole.requests, column), column
    assert topped.costs == whole.costs and topped.span_s == whole.span_s
    for edit in (None, *EDITS):
        edited = live if edit is None else Router(_edits(live)[edit], SHOP_HANDLERS,
                                                   fragments=live.fragments)
        for focus in (None, "contact-hours"):
            assert _said(topped.run(live, edited, focus=focus)) == _said(
                whole.run(live, edited, focus=focus)), (edit, focus)
    # The sample read first still says what it said: results shown index into it.
    assert len(loaded.requests) == SIZE and loaded.requests.ids[0] not in topped.requests.ids[:40]


def test_a_top_up_routes_only_the_fresh_rows(recorded, live, monkeypatch):
    db = recorded.engine_db
    with sqlite3.connect(db) as conn:
        read_at = conn.execute("SELECT MAX(finished_at) FROM outcomes").fetchone()[0] + 1
    loaded = Backtester(load_recorded(db, SIZE))
    loaded.run(live, live)
    _traffic_goes_on(db, later=read_at + 5)
    fresh = SQLiteTraffic(db).recorded_since(read_at, SIZE)
    routed: list[int] = []
    route_all = Router.route_all

    def counting(self, texts, cancelled=lambda: False):
        texts = list(texts)
        routed.append(len(texts))
        return route_all(self, texts, cancelled)

    monkeypatch.setattr(Router, "route_all", counting)
    topped = loaded.topped_up(fresh, SIZE)
    topped.run(live, live)  # warm: the carried routes answer it
    assert routed == [len(fresh)]


def test_nothing_recorded_since_leaves_the_sample_as_it_was(recorded, live):
    db = recorded.engine_db
    loaded = Backtester(load_recorded(db, SIZE))
    with sqlite3.connect(db) as conn:
        after = conn.execute("SELECT MAX(finished_at) FROM outcomes").fetchone()[0] + 1
    topped = loaded.topped_up(SQLiteTraffic(db).recorded_since(after, SIZE), SIZE)
    assert topped.requests.ids == loaded.requests.ids
    assert _said(topped.run(live, live)) == _said(loaded.run(live, live))


def test_fresh_rows_go_where_their_time_puts_them():
    ids, times = ["c", "b2", "b1", "a"], [40.0, 30.0, 30.0, 10.0]  # newest first
    splice = plan(ids, times, ["e", "b1", "x", "y"], [50.0, 30.0, 30.0, 5.0], limit=6)
    assert splice.spliced(ids, ["E", "B1", "X", "Y"]) == ["E", "c", "X", "b2", "B1", "a"]
    # A smaller sample keeps the newest; the oldest fall off.
    assert plan(ids, times, ["e"], [50.0], limit=3).spliced(ids, ["E"]) == ["E", "c", "b2"]
    assert plan([], [], ["e", "d"], [50.0, 45.0], limit=5).spliced([], ["E", "D"]) == ["E", "D"]


@pytest.mark.parametrize("fresh", [
    [("e", 50.0), ("b1", 30.0), ("x", 30.0), ("y", 5.0)],  # new, replaced, straggler, oldest
    [("e", 50.0), ("d", 45.0)],  # only newer
    [],
])
@pytest.mark.parametrize("limit", [3, 6, 100])
def test_the_texts_joined_for_scanning_are_spliced_as_the_texts_are(fresh, limit):
    ids, times = ["c", "b2", "b1", "a"], [40.0, 30.0, 30.0, 10.0]
    texts = ["where is my order", "", "hours?", "é café"]  # an empty one, and not ASCII
    # A replaced row's text is its own (a request's text never changes); the rest are new.
    fresh_texts = [texts[ids.index(rid)] if rid in ids else f"fresh {rid} ü"
                   for rid, _ in fresh]
    splice = plan(ids, times, [r for r, _ in fresh], [t for _, t in fresh], limit)
    joined = TextBlock(texts).spliced(splice, texts, fresh_texts)
    expected = TextBlock(splice.spliced(texts, fresh_texts))
    assert (joined.buffer, list(joined.starts), joined.count, joined.usable) == (
        expected.buffer, list(expected.starts), expected.count, expected.usable)
    assert expected.usable and expected.count == min(limit, 4 + len(splice.inserts))
