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
        conn.executemany("INSERT INTO requests (id, text, customer_id, channel,"
                         " received_at, status, note) VALUES (?, 'old text', 1, 'chat', ?, "
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


def test_a_pruned_request_takes_its_claim_and_settled_deliveries_and_nothing_owed(
        open_backend, clock, tmp_path):
    """The intake keeps each request's text (its claim) and the outbox the answers sent
    (payloads): a pruned request's go with it, and the words leave the file. What is
    still owed stays, and the next start finds nothing to run or call back again."""
    from agentcore.storage import IntakeRecord

    store = open_backend(retention_days=30)
    now = clock.now()
    old = now - 40 * DAY

    def through_intake(n: int, at: float, *, secret: str) -> str:
        req = request(n, at=at)
        req.text = f"my card number is {secret}"
        store.intake.claim(IntakeRecord(req.id, f"key-{n}", "api", "conv", None,
                                        "http://hook", text=req.text, customer_id=7,
                                        received_at=at), at)
        store.requests.accept(req)
        return req.id

    gone = through_intake(1, old, secret="4111-OLD-ANSWERED")
    store.requests.finish(answered(request(1, at=old)))
    sent, _ = store.outbox.enqueue("webhook", "http://hook", {"answer": "PAYLOAD-SENT-4111"},
                                   f"outcome:{gone}", old)
    store.outbox.delivered(sent, old + 1)
    posted, _ = store.outbox.enqueue("chatwoot_message", "http://cw", {"content": "CW-4111"},
                                     f"chatwoot:{gone}:answer:abc", old)
    store.outbox.dead(posted, "HTTP 404", old + 1)
    owed, _ = store.outbox.enqueue("webhook", "http://hook", {"answer": "STILL-OWED-4111"},
                                   f"chatwoot:{gone}:handover", old)  # never sent yet
    # Resolved, then pruned: its request.resolved delivery goes too.
    resolved = through_intake(2, old, secret="4111-OLD-RESOLVED")
    store.requests.finish(escalated(request(2, at=old), pending=False))
    eid = store.escalations.of_request(resolved)
    assert store.escalations.claim(eid, "carol", old, old + 300)
    assert store.escalations.resolve(store.escalations.get(eid, old), "carol", old)
    said, _ = store.outbox.enqueue("webhook", "http://hook", {"answer": "RESOLVED-4111"},
                                   f"resolved:{eid}", old)
    store.outbox.delivered(said, old + 2)
    # Old, but its escalation still waits: the claim and the callback sent stay.
    waiting = through_intake(3, old, secret="4111-STILL-WAITING")
    store.requests.finish(escalated(request(3, at=old)))
    called, _ = store.outbox.enqueue("webhook", "http://hook", {"n": 3}, f"outcome:{waiting}",
                                     old)
    store.outbox.delivered(called, old + 1)
    recent = through_intake(4, now - DAY, secret="4111-RECENT")
    store.requests.finish(answered(request(4, at=now - DAY)))
    late, _ = store.outbox.enqueue("webhook", "http://hook", {"n": 4}, f"outcome:{recent}",
                                   now - DAY)
    store.outbox.delivered(late, now - DAY)
    store.flush()

    store.prune()

    assert store.intake.record(gone) is None and store.intake.record(resolved) is None
    assert store.intake.record(waiting) is not None and store.intake.record(recent) is not None
    assert store.outbox.entry(sent) is None and store.outbox.entry(posted) is None
    assert store.outbox.entry(said) is None
    still = store.outbox.entry(owed)
    assert still is not None and still.state == "pending"  # owed: never pruned
    assert store.outbox.entry(called) is not None  # its request is kept: so is its record
    assert store.outbox.entry(late) is not None
    # What the next start would run or call back again: nothing.
    assert store.intake.unaccepted() == []
    assert store.intake.owed_callbacks() == [] and store.intake.owed_resolutions() == []
    if open_backend.database.kind != "sqlite":
        return  # the words leaving the file: SQLite's secure_delete (a server's files differ)
    pages(tmp_path / "agent.sqlite")  # the WAL checkpointed into the file, truncated
    data = b"".join(p.read_bytes() for p in tmp_path.glob("agent.sqlite*"))
    for words in (b"4111-OLD-ANSWERED", b"4111-OLD-RESOLVED", b"PAYLOAD-SENT-4111",
                  b"CW-4111", b"RESOLVED-4111"):
        assert words not in data, f"{words!r} is still in the file"
    assert b"4111-STILL-WAITING" in data and b"STILL-OWED-4111" in data


def test_settled_deliveries_a_prune_of_an_earlier_release_left_behind_go(
        open_backend, clock):
    store = open_backend(retention_days=30)
    now = clock.now()
    old = now - 40 * DAY
    ids = {}
    for key in ("outcome:req-gone", "resolved:999", "chatwoot:chatwoot-1-2-3:answer:x",
                "custom:thing"):
        ids[key], _ = store.outbox.enqueue("webhook", "http://hook", {"k": key}, key, old)
        store.outbox.delivered(ids[key], old + 1)
    fresh, _ = store.outbox.enqueue("webhook", "http://hook", {}, "outcome:req-late", old)
    store.outbox.delivered(fresh, now - DAY)  # settled within the window: kept
    store.prune()
    left = {key for key, i in ids.items() if store.outbox.entry(i) is not None}
    assert left == {"custom:thing"}  # a key of a shape retention does not know stays
    assert store.outbox.entry(fresh) is not None
