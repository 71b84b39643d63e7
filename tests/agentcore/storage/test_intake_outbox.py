"""The intake's claims and the outbox, through their Protocols (IntakeRepository,
OutboxRepository), on both backends; on PostgreSQL also contested by several
processes, as several `agentcore serve` instances on one database contest them."""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcore.clock import SystemClock
from agentcore.intake.outbox import Outbox
from agentcore.models import Request
from agentcore.storage import IntakeRecord, SQLiteStorage
from tests.agentcore.storage.intake_backends import (
    PostgresIntakeBackend,
    SQLiteIntakeBackend,
    claim_key,
    drain_due,
    lease_and_hang,
    open_store,
)
from tests.agentcore.storage.records import answered, escalated, request

Backend = Any  # SQLiteIntakeBackend | PostgresIntakeBackend: intake, outbox, requests, ...


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    made: SQLiteIntakeBackend | PostgresIntakeBackend
    if request.param == "sqlite":
        made = SQLiteIntakeBackend(SQLiteStorage(tmp_path / "agent.sqlite"))
    else:
        url = request.getfixturevalue("pg_url")
        password = request.getfixturevalue("postgres_server").password
        made = PostgresIntakeBackend(url, password, open_store("postgresql", url, password))
    yield made
    made.close()


def claim_of(n: int, key: str | None = None) -> IntakeRecord:
    req = request(n)
    return IntakeRecord(req.id, key, req.channel, None, None, "http://hook", text=req.text,
                        customer_id=req.customer_id, received_at=req.received_at)


def test_a_claim_keeps_its_request_until_the_engine_accepts_it(backend: Backend):
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


def test_a_claim_with_a_nul_in_its_text_is_kept_alike_on_both_backends(backend: Backend):
    """The guard turns such a text away, but its claim must be written first (PostgreSQL's
    text refuses NUL: the intake answered 503 'retry later' to it, every time)."""
    claim = dataclasses.replace(claim_of(1, "k1"), text="hello\x00world")
    assert backend.intake.claim(claim, 10.0) == ("req-1", True)
    kept = backend.intake.record("req-1")
    assert kept is not None and kept.text == "hello\ufffdworld"


def test_a_fixed_id_claimed_again_after_its_key_was_freed_is_that_request(backend: Backend):
    # A channel's ids are its own (chatwoot-<account>-<conversation>-<message>): a
    # redelivery after a rate refusal freed the key finds the id taken, not a holder.
    assert backend.intake.claim(claim_of(1, "k1"), 10.0) == ("req-1", True)
    backend.intake.release("req-1")
    assert backend.intake.claim(claim_of(1, "k1"), 11.0) == ("req-1", False)


def test_a_dead_delivery_is_not_due_counts_apart_and_revives_under_its_id(backend: Backend):
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


def test_a_key_enqueued_twice_is_one_delivery_under_its_first_id(backend: Backend):
    outbox = backend.outbox
    first, new = outbox.enqueue("webhook", "http://hook", {"n": 1}, "outcome:a", 100.0)
    assert new is True
    assert outbox.enqueue("webhook", "http://other", {"n": 2}, "outcome:a", 101.0) == (
        first, False)
    [due] = outbox.due(100.0, 10)
    assert (due.id, due.target, due.payload, due.attempts) == (first, "http://hook",
                                                              {"n": 1}, 0)
    assert outbox.pending() == 1
    assert outbox.state("outcome:a") == (first, 0, None, None)
    assert outbox.state("outcome:nothing") is None


def test_a_failed_delivery_waits_for_its_retry_and_says_why(backend: Backend):
    outbox = backend.outbox
    late, _ = outbox.enqueue("webhook", "http://hook", {}, "outcome:late", 105.0)
    early, _ = outbox.enqueue("webhook", "http://hook", {}, "outcome:early", 100.0)
    sending, _ = outbox.enqueue("webhook", "http://hook", {}, "outcome:sending", 101.0)
    # earliest first, none of what this process has in flight
    assert [d.id for d in outbox.due(110.0, 10, frozenset({sending}))] == [early, late]
    outbox.failed(early, "ConnectionRefusedError: " + "x" * 1000, 200.0)
    assert early not in [d.id for d in outbox.due(199.0, 10)]
    assert outbox.next_due() is not None
    [again] = [d for d in outbox.due(200.0, 10) if d.id == early]
    assert again.attempts == 1
    delivery_id, attempts, delivered_at, error = outbox.state("outcome:early")
    assert (delivery_id, attempts, delivered_at) == (early, 1, None)
    assert error is not None and error.startswith("ConnectionRefusedError") and len(error) == 500
    outbox.delivered(early, 201.0)
    assert outbox.state("outcome:early") == (early, 2, 201.0, None)
    assert [e.key for e in outbox.entries("delivered")] == ["outcome:early"]
    assert [e.key for e in outbox.entries(limit=2)] == ["outcome:late", "outcome:sending"]
    assert outbox.counts() == {"pending": 2, "dead": 0}


def test_what_a_crash_left_owed_is_found_callbacks_and_resolutions(backend: Backend):
    for n in (1, 2, 3):
        backend.intake.claim(claim_of(n, f"k{n}"), 10.0 + n)
        backend.requests.accept(request(n))
    backend.requests.finish(answered(request(1)))
    backend.requests.finish(escalated(request(2, at=1_000.0)))
    backend.settle()
    assert sorted(backend.intake.owed_callbacks()) == ["req-1", "req-2"]
    backend.outbox.enqueue("webhook", "http://hook", {}, "outcome:req-1", 20.0)
    assert backend.intake.owed_callbacks() == ["req-2"]

    item = backend.escalations.of_request("req-2")
    assert backend.intake.owed_resolutions() == []  # not resolved yet
    assert backend.escalations.claim(item, "ana", 2_000.0, 2_060.0)
    assert backend.escalations.resolve(backend.escalations.get(item, 2_000.0), "ana", 2_001.0)
    assert backend.intake.owed_resolutions() == [(item, "req-2")]
    assert backend.intake.owed_resolutions(item) == [(item, "req-2")]
    assert backend.intake.owed_resolutions(item + 1) == []
    assert backend.intake.owed_resolutions(resolved_since=2_001.0) == [(item, "req-2")]
    assert backend.intake.owed_resolutions(resolved_since=2_002.0) == []
    backend.outbox.enqueue("webhook", "http://hook", {}, f"resolved:{item}", 2_002.0)
    assert backend.intake.owed_resolutions() == []


def test_a_channel_learns_what_it_still_owes_with_the_keys_already_queued(backend: Backend):
    def chatwoot(req: Request) -> IntakeRecord:
        return IntakeRecord(req.id, f"cw-{req.id}", "chatwoot", "42", None, None,
                            text=req.text, customer_id=req.customer_id,
                            received_at=req.received_at)

    colon = Request("an id with a colon", customer_id=7, id="req:x", received_at=1_000.0)
    # req-1's keys must not take req-10's, nor req:x's those of req:xy
    for req in (request(1), request(10), colon):
        backend.intake.claim(chatwoot(req), 10.0)
        backend.requests.accept(req)
        backend.requests.finish(answered(req))
    backend.intake.claim(claim_of(3, "api3"), 10.0)  # the API's, not the channel's
    backend.requests.accept(request(3))
    backend.requests.finish(answered(request(3)))
    backend.settle()
    for key in ("cw:req-1:answer", "cw:req-1:handover", "cw:req-10:answer",
                "other:req-1:answer", "cw:req-1", "cw:req:x:answer", "cw:req:xy:answer"):
        backend.outbox.enqueue("chatwoot", "42", {}, key, 20.0)
    rows = backend.intake.channel_outcomes("chatwoot", "cw:", 0.0)
    assert {r.request_id: r.queued for r in rows} == {
        "req-1": frozenset({"cw:req-1:answer", "cw:req-1:handover"}),
        "req-10": frozenset({"cw:req-10:answer"}),
        "req:x": frozenset({"cw:req:x:answer"})}
    first = rows[0]
    assert (first.status, first.route, first.resolution, first.handed_back) == (
        "answered", "rule", None, False)
    assert backend.intake.channel_outcomes("chatwoot", "cw:", 1e9) == []


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


# -- contested: several serve instances on one PostgreSQL database --------------------


def _pg(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.getfixturevalue("pg_url"), request.getfixturevalue("postgres_server").password


def _run(target: Any, args: tuple[Any, ...], processes: int, results_per_process: int
         ) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")  # no forked pool threads or sockets
    start, results = ctx.Barrier(processes), ctx.Queue()
    workers = [ctx.Process(target=target, args=(*args(p), start, results))  # type: ignore[operator]
               for p in range(processes)]
    for worker in workers:
        worker.start()
    got = [results.get(timeout=120) for _ in range(processes * results_per_process)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    return got


def test_twenty_claims_of_one_key_from_four_processes_give_one_request(request):
    url, password = _pg(request)
    open_store("postgresql", url, password).close()  # migrated before the race
    claims = _run(claim_key, lambda p: ("postgresql", url, password, "retry-of-order-7",
                                        [f"req-p{p}-t{t}" for t in range(5)]), 4, 5)
    holders = {holder for _, (holder, _) in claims}
    winners = [name for name, (_, won) in claims if won]
    assert len(claims) == 20 and len(winners) == 1 and holders == set(winners)
    store = open_store("postgresql", url, password)
    try:
        record = store.intake.record(winners[0])
        assert record is not None and record.key == "retry-of-order-7"
        assert [r.request_id for r in store.intake.unaccepted()] == winners  # the one run
    finally:
        store.close()


def test_two_processes_polling_due_at_once_never_get_one_delivery_both(request):
    url, password = _pg(request)
    store = open_store("postgresql", url, password)
    try:
        ids = {store.outbox.enqueue("webhook", "http://hook", {"n": n}, f"outcome:{n}",
                                    float(n))[0] for n in range(300)}
    finally:
        store.close()
    handed = _run(drain_due, lambda p: ("postgresql", url, password, 3, 4, 1_000.0), 2, 1)
    every = [i for got in handed for i in got]
    assert sorted(every) == sorted(ids)  # each handed out once, none twice, none left
    assert all(got for got in handed)  # both processes took part


def test_a_delivery_handed_out_is_anothers_only_once_its_lease_ends(request):
    """A process killed mid-send: what it was handed goes to the next one polling after
    the lease, under the same id, never before."""
    url, password = _pg(request)
    first, second = (open_store("postgresql", url, password) for _ in range(2))
    try:
        delivery_id, _ = first.outbox.enqueue("webhook", "http://hook", {}, "outcome:a", 10.0)
        assert [d.id for d in first.outbox.due(10.0, 5)] == [delivery_id]
        lease = first.outbox.lease_s
        assert second.outbox.due(10.0 + lease - 1, 5) == []
        assert first.outbox.next_due() == 10.0 + lease
        [again] = second.outbox.due(10.0 + lease, 5)
        assert (again.id, again.attempts) == (delivery_id, 0)
        second.outbox.failed(delivery_id, "HTTP 503", 10.0 + lease + 1)  # ends the lease
        assert [d.id for d in first.outbox.due(10.0 + lease + 1, 5)] == [delivery_id]
    finally:
        first.close()
        second.close()


def test_what_a_killed_instance_was_sending_goes_out_from_another_after_its_lease(request):
    url, password = _pg(request)
    store = open_store("postgresql", url, password)
    try:
        ids = sorted(store.outbox.enqueue("webhook", "http://hook", {}, f"outcome:{n}",
                                          10.0)[0] for n in range(3))
        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        sender = ctx.Process(target=lease_and_hang, args=(url, password, 10.0, results))
        sender.start()
        assert sorted(results.get(timeout=60)) == ids
        os.kill(sender.pid, signal.SIGKILL)  # type: ignore[arg-type]
        sender.join(timeout=30)
        assert sender.exitcode == -signal.SIGKILL
        assert store.outbox.due(11.0, 10) == []  # still its lease
        assert store.outbox.counts() == {"pending": 3, "dead": 0}  # owed, not lost
        again = store.outbox.due(10.0 + store.outbox.lease_s, 10)
        assert sorted(d.id for d in again) == ids
    finally:
        store.close()


async def test_two_running_outboxes_on_one_database_send_each_delivery_once(request):
    """Two serve instances' outboxes, their deliverers slow enough that both are sending
    at once: every delivery reaches its receiver once."""
    url, password = _pg(request)
    stores = [open_store("postgresql", url, password) for _ in range(2)]
    sent: list[str] = []

    async def deliver(target: str, payload: dict[str, Any], delivery_id: str) -> None:
        await asyncio.sleep(0.005)
        sent.append(delivery_id)

    outboxes = [Outbox(store.outbox, SystemClock()) for store in stores]
    try:
        for outbox in outboxes:
            outbox.register("webhook", deliver)
        ids = {outboxes[n % 2].enqueue("webhook", "http://hook", {"n": n}, f"outcome:{n}")
               for n in range(80)}
        for outbox in outboxes:
            outbox.start()
        for _ in range(2_000):
            if stores[0].outbox.counts()["pending"] == 0:
                break
            await asyncio.sleep(0.01)
        assert stores[0].outbox.counts() == {"pending": 0, "dead": 0}
        assert sorted(sent) == sorted(ids)
        assert sum(outbox.delivered for outbox in outboxes) == 80
    finally:
        for outbox in outboxes:
            await outbox.close()
        for store in stores:
            store.close()
