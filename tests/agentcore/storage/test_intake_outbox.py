"""The intake's claims and the outbox, through their Protocols (IntakeRepository,
OutboxRepository): what a second backend must keep too."""

from __future__ import annotations

import sqlite3

from agentcore.storage import IntakeRecord, SQLiteStorage, Storage
from tests.agentcore.storage.records import answered, request


def claim_of(n: int, key: str | None = None) -> IntakeRecord:
    req = request(n)
    return IntakeRecord(req.id, key, req.channel, None, None, "http://hook", text=req.text,
                        customer_id=req.customer_id, received_at=req.received_at)


def test_a_claim_keeps_its_request_until_the_engine_accepts_it(backend: Storage):
    for n in (1, 2, 3):
        backend.intake.claim(claim_of(n, f"k{n}"), 10.0 + n)
    assert backend.intake.claim(claim_of(9, "k1"), 20.0) == ("req-1", False)
    backend.requests.accept(request(1))
    backend.requests.accept(request(2))
    backend.requests.finish(answered(request(2)))
    [left] = backend.intake.unaccepted()
    kept = left.request()
    assert kept is not None
    assert (kept.id, kept.text, kept.customer_id, kept.received_at) == (
        "req-3", request(3).text, 7, request(3).received_at)


def test_a_fixed_id_claimed_again_after_its_key_was_freed_is_that_request(backend: Storage):
    # A channel's ids are its own (chatwoot-<account>-<conversation>-<message>): a
    # redelivery after a rate refusal freed the key finds the id taken, not a holder.
    assert backend.intake.claim(claim_of(1, "k1"), 10.0) == ("req-1", True)
    backend.intake.release("req-1")
    assert backend.intake.claim(claim_of(1, "k1"), 11.0) == ("req-1", False)


def test_a_dead_delivery_is_not_due_counts_apart_and_revives_under_its_id(backend: Storage):
    outbox = backend.outbox
    first, _ = outbox.enqueue("webhook", "http://hook", {"n": 1}, "outcome:a", 100.0)
    outbox.enqueue("webhook", "http://hook", {"n": 2}, "outcome:b", 100.0)
    outbox.dead(first, "Undeliverable: HTTP 410", 101.0)
    assert [d.key for d in outbox.due(1e9, 10)] == ["outcome:b"]
    assert outbox.counts() == {"pending": 1, "dead": 1}
    assert [e.key for e in outbox.entries("dead")] == ["outcome:a"]
    assert outbox.revive("outcome:a", 200.0) is False  # by id, not key
    assert outbox.revive(first, 200.0) is True
    assert outbox.revive(first, 200.0) is False  # owed now, not dead
    [again] = [d for d in outbox.due(200.0, 10) if d.key == "outcome:a"]
    assert (again.id, again.attempts, again.owed_since) == (first, 0, 200.0)
    outbox.delivered(first, 201.0)
    outbox.dead(first, "too late", 202.0)  # a delivered one stays delivered
    entry = outbox.entry("outcome:a")
    assert entry is not None and entry.state == "delivered"
    assert outbox.revive_dead(300.0) == 0


def test_a_file_of_the_release_before_keeps_its_claims_and_deliveries(tmp_path):
    path = tmp_path / "agent.sqlite"
    SQLiteStorage(path).close()
    with sqlite3.connect(path) as conn:  # as migration 6 left it
        conn.execute("DROP INDEX outbox_owed")
        conn.execute("DROP INDEX outbox_dead")
        for table, column in (("intake_requests", "text"), ("intake_requests", "customer_id"),
                              ("intake_requests", "received_at"), ("outbox", "dead_at"),
                              ("outbox", "retried_at")):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute("CREATE INDEX outbox_due ON outbox(delivered_at, next_at)")
        conn.execute("INSERT INTO intake_requests (request_id, key, channel, created_at)"
                     " VALUES ('old', 'k', 'api', 1)")
        conn.execute("INSERT INTO outbox (id, key, kind, target, payload, created_at, next_at)"
                     " VALUES ('d1', 'outcome:old', 'webhook', 'http://hook', '{}', 1, 1)")
        conn.execute("PRAGMA user_version=6")
    conn.close()
    store = SQLiteStorage(path)
    try:
        record = store.intake.record("old")
        assert record is not None and record.request() is None  # kept nothing to run
        assert store.intake.unaccepted() == []
        assert [d.id for d in store.outbox.due(10.0, 5)] == ["d1"]
        assert store.outbox.counts() == {"pending": 1, "dead": 0}
    finally:
        store.close()
