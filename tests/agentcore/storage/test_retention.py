"""Retention: old finished requests go with their outcomes and spans, and the space
comes back; what the queue or the classifier still needs is never pruned."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agentcore.models import EscalationReason
from agentcore.storage import Storage
from tests.agentcore.storage.records import answered, escalated, request

DAY = 86_400.0


def pages(path: Path) -> tuple[int, int]:
    """(pages in the file, of them free), as another process sees it."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        found = (conn.execute("PRAGMA page_count").fetchone()[0],
                 conn.execute("PRAGMA freelist_count").fetchone()[0])
    conn.close()
    return found


def fill(store: Storage, first: int, n: int, at: float) -> list[str]:
    ids = []
    for i in range(first, first + n):
        req = request(i, at=at + i)  # one a second
        store.requests.accept(req)
        store.requests.finish(answered(req, spans=6))
        ids.append(req.id)
    store.flush()
    return ids


def test_prune_removes_old_finished_requests_and_keeps_what_is_still_needed(
        open_backend, clock, tmp_path):
    on_sqlite = open_backend.database.kind == "sqlite"
    store = open_backend(retention_days=30)
    now = clock.now()
    old = fill(store, 0, 2000, at=now - 40 * DAY)
    recent = fill(store, 5000, 10, at=now - DAY)
    # Old too, but the queue still needs them: open, claimed, handed back ...
    waiting = {}
    for n, reason in ((9001, EscalationReason.POLICY_VIOLATION),
                      (9002, EscalationReason.LOW_CONFIDENCE),
                      (9003, EscalationReason.DOLLAR_CEILING)):
        req = request(n, at=now - 40 * DAY)
        store.requests.accept(req)
        store.requests.finish(escalated(req, reason))
        waiting[n] = store.escalations.of_request(req.id)
    items = store.escalations
    assert items.claim(waiting[9002], "alice", now, now + 300)
    assert items.claim(waiting[9003], "bob", now, now + 300)
    assert items.hand_back(items.get(waiting[9003], now), "bob", now, "try again", None)
    # ... and one an operator answered: a labelled example for the classifier.
    labelled = request(9004, at=now - 40 * DAY)
    store.requests.accept(labelled)
    store.requests.finish(escalated(labelled, pending=False))
    item_id = items.of_request(labelled.id)
    assert items.claim(item_id, "carol", now, now + 300)
    assert items.reply(items.get(item_id, now), "carol", now, "Here you go.", "order_status")
    never_finished = request(9005, at=now - 40 * DAY)
    store.requests.accept(never_finished)  # a crash left it: resume still needs it
    before = pages(tmp_path / "agent.sqlite") if on_sqlite else None

    report = store.prune()

    assert report.requests == len(old)
    assert all(store.requests.status(rid) is None for rid in old[:50])
    assert all(store.requests.status(rid) == "answered" for rid in recent)
    assert items.count(now) == 4  # the three waiting and the answered one
    assert store.requests.status("req-9003") == "accepted"  # handed back, being re-run
    assert store.requests.outcome(labelled.id).answer == "Here you go."
    assert {r.id for r in store.requests.unfinished()} == {"req-9003", "req-9005"}
    assert open_backend.database.rows("SELECT COUNT(*) FROM spans WHERE request_id IN (?, ?)",
                                      (old[0], old[-1])) == [(0,)]
    assert open_backend.database.rows("SELECT COUNT(*) FROM outcomes") == [(len(recent) + 4,)]
    if on_sqlite:  # PostgreSQL's files keep their size: VACUUM makes the space reusable
        after = pages(tmp_path / "agent.sqlite")
        assert after[0] < before[0] / 2, "the file gave the space back"
        assert after[1] == 0


def test_the_oldest_spans_go_beyond_the_cap_and_their_outcomes_stay(open_backend, clock):
    store = open_backend(spans_max_mb=0.25)
    now = clock.now()
    ids = fill(store, 0, 1500, at=now - DAY)
    report = store.prune()
    assert report.requests == 0 and report.span_requests > 0
    assert store.requests.counts() == {"answered": 1500}  # every outcome kept
    assert store.requests.spans(ids[0]) == []  # the oldest lost their spans
    assert len(store.requests.spans(ids[-1])) == 6  # the newest kept theirs


def test_no_retention_keeps_everything(open_backend, clock):
    store = open_backend()
    fill(store, 0, 20, at=clock.now() - 400 * DAY)
    assert store.prune().requests == 0
    assert store.requests.counts() == {"answered": 20}


def test_a_file_made_before_auto_vacuum_is_converted_when_pruned(tmp_path, clock):
    from agentcore.storage import SQLiteStorage

    path = tmp_path / "agent.sqlite"
    with sqlite3.connect(path) as conn:  # tables first: auto_vacuum stays off
        conn.execute("CREATE TABLE requests (id TEXT PRIMARY KEY, text TEXT NOT NULL,"
                     " customer_id INTEGER, channel TEXT NOT NULL, received_at REAL NOT NULL,"
                     " status TEXT NOT NULL, note TEXT)")
    conn.close()
    store = SQLiteStorage(path, retention_days=1, now=clock.now)
    try:
        fill(store, 0, 300, at=clock.now() - 10 * DAY)
        store.prune()
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone() == (2,)
        assert conn.execute("PRAGMA freelist_count").fetchone() == (0,)
    conn.close()


def test_a_long_prune_lets_the_engines_writes_in_between_its_chunks(open_backend, clock,
                                                                     tmp_path):
    """The promise: chunks of short transactions, so a writer (accepting a request, a
    claim) waits milliseconds, never the whole prune. Here a prune of 60,000 old
    requests runs in a thread while the engine's connection accepts requests."""
    import threading
    import time

    import pytest

    if open_backend.database.kind != "sqlite":
        pytest.skip("SQLite's lock: PostgreSQL's writers take row locks only")
    store = open_backend(retention_days=30)
    old = clock.now() - 40 * DAY
    with sqlite3.connect(tmp_path / "agent.sqlite", isolation_level=None) as conn:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO requests VALUES (?, 'old text', 1, 'chat', ?, "
                         "'answered', NULL)", [(f"old-{i}", old) for i in range(60_000)])
        conn.execute("INSERT INTO outcomes (request_id, route, status, answer, prompt_tokens,"
                     " completion_tokens, dollars, latency_ms, errors, finished_at)"
                     " SELECT id, 'rule', 'answered', 'an answer', 0, 0, 0, 1, '[]', ?"
                     " FROM requests", (old,))
        conn.execute("INSERT INTO spans SELECT r.id, s.value, 'span', NULL, 0, 1,"
                     " '{\"attribute\": \"' || printf('%.300c', 'x') || '\"}', NULL"
                     " FROM requests r, json_each('[0,1,2,3,4,5,6,7]') s")
        conn.execute("COMMIT")
    conn.close()

    waits: list[float] = []
    pruning = threading.Thread(target=store.prune)
    began = time.perf_counter()
    pruning.start()
    n = 0
    while pruning.is_alive():
        start = time.perf_counter()
        store.requests.accept(request(100_000 + n, at=clock.now()))
        waits.append(time.perf_counter() - start)
        n += 1
        time.sleep(0.01)
    took = time.perf_counter() - began
    pruning.join()
    assert store.requests.status("old-1") is None  # it did prune
    assert took > 0.5, "the prune was too quick to tell"
    assert max(waits) < max(0.25, took / 4), (
        f"a write waited {max(waits):.2f} s of a {took:.2f} s prune ({len(waits)} writes)")
