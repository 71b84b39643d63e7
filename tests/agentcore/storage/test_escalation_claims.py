"""The escalation queue's claims, leases and resolutions, on both backends: exactly one
of many operators claiming at once (from several processes) wins; a lapsed lease is
anyone's; only the holder of a live claim ends an item, with its outcome and request
in the same transaction."""

from __future__ import annotations

import multiprocessing

from agentcore.escalation_model import EscalationState, PendingStatus
from agentcore.models import EscalationReason
from tests.agentcore.storage.claimants import claim_each
from tests.agentcore.storage.records import escalated, request

T = 5_000.0  # the stations' clock: every call is told what time it is
LEASE = 60.0


def _item(queue, n: int, **kwargs):
    return queue.seed(escalated(request(n, at=T - 10), **kwargs))


def test_a_claimed_item_is_refused_to_another_until_released(queue):
    item = _item(queue, 1)
    esc = queue.escalations
    assert esc.claim(item, "ana", T, T + LEASE)
    assert not esc.claim(item, "ben", T + 1, T + 1 + LEASE)
    got = esc.get(item, T + 1)
    assert (got.state, got.claimed_by, got.lease_expires_at) == (
        EscalationState.CLAIMED, "ana", T + LEASE)
    assert esc.claim(item, "ana", T + 2, T + 2 + LEASE)  # one's own claim, renewed
    assert not esc.release(item, "ben", T + 2)
    assert esc.release(item, "ana", T + 2)
    assert esc.get(item, T + 3).state is EscalationState.OPEN
    assert esc.claim(item, "ben", T + 3, T + 3 + LEASE)


def test_a_lapsed_lease_reads_as_open_and_is_anyones(queue):
    item, other = _item(queue, 1), _item(queue, 2)
    esc = queue.escalations
    assert esc.claim(item, "ana", T, T + LEASE)
    later = T + LEASE  # the lease ends at its expiry, not a moment after
    got = esc.get(item, later)
    assert (got.state, got.claimed_by) == (EscalationState.OPEN, None)
    assert esc.count(later, EscalationState.OPEN) == 2
    assert esc.count(later, EscalationState.CLAIMED) == 0
    assert [e.id for e in esc.list(later, EscalationState.OPEN)] == [item, other]
    assert esc.lapsed_claims(later) == ((item, T + LEASE),)
    assert not esc.save_draft(item, "ana", later, "half a reply", "")  # hers no longer
    assert esc.claim(item, "ben", later, later + LEASE)
    assert esc.get(item, later).claimed_by == "ben"
    assert esc.lapsed_claims(later) == ()


def test_only_the_holder_of_a_live_claim_resolves_and_the_outcome_becomes_theirs(queue):
    item = _item(queue, 1)
    esc = queue.escalations
    assert esc.claim(item, "ana", T, T + LEASE)
    got = esc.get(item, T)
    assert not esc.resolve(got, "ben", T + 1)
    assert not esc.resolve(got, "ana", T + LEASE + 1)  # her lease lapsed first
    assert esc.claim(item, "ana", T + LEASE + 1, T + 2 * LEASE)
    assert esc.resolve(got, "ana", T + LEASE + 2)
    done = esc.get(item, T + LEASE + 3)
    assert (done.state, done.resolved_by, done.resolution) == (
        EscalationState.RESOLVED, "ana", "resolved")
    assert queue.one("SELECT route, operator FROM outcomes WHERE request_id = ?",
                     (done.request_id,)) == ("human", "ana")
    assert queue.one("SELECT status FROM requests WHERE id = ?", (done.request_id,)) == (
        "answered",)
    assert not esc.claim(item, "ben", T + LEASE + 3, T + 3 * LEASE)  # resolved is final
    assert esc.resolved_among([item, item + 1000]) == (item,)


def test_a_reply_resolves_the_item_and_keeps_the_pair_as_a_labelled_example(queue):
    item = _item(queue, 1)
    esc = queue.escalations
    esc.claim(item, "ana", T, T + LEASE)
    assert esc.save_draft(item, "ana", T + 1, "Dear customer", "")
    assert esc.get(item, T + 1).reply_draft == "Dear customer"
    assert esc.reply(esc.get(item, T + 1), "ana", T + 2, "Refunded, sorry!", "refund_request")
    done = esc.get(item, T + 3)
    assert (done.resolution, done.reply_draft) == ("replied", None)
    assert queue.one("SELECT answer, intent, operator FROM outcomes WHERE request_id = ?",
                     (done.request_id,)) == ("Refunded, sorry!", "refund_request", "ana")
    assert queue.one("SELECT answer, source, operator FROM labelled_examples"
                     " WHERE request_id = ?", (done.request_id,)) == (
        "Refunded, sorry!", "human", "ana")


def test_a_hand_back_denies_the_pending_write_and_reopens_the_request(queue):
    item = _item(queue, 1)
    esc = queue.escalations
    esc.claim(item, "ana", T, T + LEASE)
    assert esc.get(item, T).pending_status is PendingStatus.WAITING
    assert esc.hand_back(esc.get(item, T), "ana", T + 1, "check the order first",
                         {"denied_by": "ana"})
    back = esc.get(item, T + 2)
    assert (back.state, back.note, back.pending_status) == (
        EscalationState.HANDED_BACK, "check the order first", PendingStatus.DENIED)
    assert queue.one("SELECT status, note FROM requests WHERE id = ?",
                     (back.request_id,)) == ("accepted", "check the order first")


def test_a_hand_back_denying_a_write_read_as_waiting_is_refused_once_it_is_being_approved(
        queue):
    """The operator at two machines: one read the write as waiting and hands back
    (denying it), while the other's approval of it started in between. The hand-back
    must not mark a write that is being done as denied and re-run the request."""
    item = _item(queue, 1)
    esc = queue.escalations
    esc.claim(item, "ana", T, T + LEASE)
    read = esc.get(item, T)  # the hand-back's station: the write waits
    assert read.pending_status is PendingStatus.WAITING
    assert esc.start_approval(item, "ana", T + 1, {"by": "ana"}, T + 31)  # the other's
    assert not esc.hand_back(read, "ana", T + 2, "check the order first",
                             {"reason": "handed back to the agent"})
    got = esc.get(item, T + 2)
    assert (got.state, got.pending_status) == (EscalationState.CLAIMED,
                                               PendingStatus.APPROVING)
    assert queue.one("SELECT status FROM requests WHERE id = ?",
                     (got.request_id,)) != ("accepted",)


def test_an_approval_runs_once_and_ends_as_the_domain_says(queue):
    item = _item(queue, 1)
    esc = queue.escalations
    esc.claim(item, "ana", T, T + LEASE)
    assert esc.start_approval(item, "ana", T + 1, {"by": "ana"}, T + 31)
    assert not esc.start_approval(item, "ana", T + 2, {"by": "ana"}, T + 32)  # one at a time
    assert not esc.deny(item, "ana", T + 2, {"by": "ana"})  # being approved: not deniable
    assert [e.id for e in esc.list(T + 2, approving=True)] == [item]
    esc.end_approval(item, PendingStatus.APPROVED, {"refund_id": 9})
    got = esc.get(item, T + 3)
    assert (got.pending_status, got.pending_result) == (PendingStatus.APPROVED,
                                                        {"refund_id": 9})


def test_the_queue_reads_the_same_on_both_backends(queue):
    first = _item(queue, 1, reason=EscalationReason.CUSTOMER_ASKED_FOR_HUMAN, pending=False)
    second = _item(queue, 2)
    esc = queue.escalations
    assert esc.newest_id() == second
    assert esc.of_request("req-1") == first and esc.of_request("nope") is None
    assert esc.waiting_of(7, EscalationReason.POLICY_VIOLATION) == second
    assert esc.count(T, reason=EscalationReason.CUSTOMER_ASKED_FOR_HUMAN) == 1
    assert [e.id for e in esc.list(T, after_id=first, limit=5)] == [second]
    got = esc.get(second, T)
    assert (got.pending_action.tool, got.pending_action.arguments) == (
        "issue_refund", {"order_id": 1, "amount": 5.0})
    assert got.request.customer_id == 7 and got.request.text == "where is my order 2"
    assert esc.get(first, T).pending_status is None


def _race(queue, kind, location, password, ids, processes, threads, now, prefix):
    """Every claimant process and thread claims every item, all starting at one barrier
    (how the wins spread among them is up to the scheduler): who won what."""
    ctx = multiprocessing.get_context("spawn")  # no forked pool threads or sockets
    start, results = ctx.Barrier(processes), ctx.Queue()
    workers = [ctx.Process(target=claim_each, args=(
        kind, location, password, ids, f"{prefix}{p}", threads, now, now + LEASE, start,
        results)) for p in range(processes)]
    for worker in workers:
        worker.start()
    won = dict(results.get(timeout=120) for _ in range(processes * threads))
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    return won


def test_of_many_claimants_in_several_processes_exactly_one_wins_each_item(queue, request):
    """Stations on different machines claiming the same items at the same moment; then,
    past the leases, others claiming the lapsed items: each time one winner per item,
    and the database names that winner."""
    kind = request.node.callspec.params["queue"]
    ids = [_item(queue, n) for n in range(1, 31)]
    location = str(queue.path) if kind == "sqlite" else queue.url
    password = None if kind == "sqlite" else queue.password
    # SQLite's connection serves one thread at a time (the engine's loop): processes only.
    threads = 1 if kind == "sqlite" else 3
    first: dict[int, str] = {}
    for round_, now in (("a", T), ("b", T + LEASE)):  # round b: every lease just lapsed
        won = _race(queue, kind, location, password, ids, 3, threads, now, f"op{round_}")
        winners = {i: [who for who, got in won.items() if i in got] for i in ids}
        assert all(len(w) == 1 for w in winners.values()), winners
        for i, (who,) in winners.items():
            assert queue.escalations.get(i, now).claimed_by == who
        # The audit log names each winner once, and whose lapsed claim they took.
        claims = queue.store.audit.entries(now, now + 1, kind="claim")
        assert sorted((e.item, e.operator, e.detail) for e in claims) == sorted(
            (f"escalation {i}", who,
             f"after {first[i]}'s claim lapsed" if first else "")
            for i, (who,) in winners.items())
        first = first or {i: who for i, (who,) in winners.items()}
