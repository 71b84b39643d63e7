"""The audit log on both backends: each queue action that happens appends its entry,
under its operator, with the same words on SQLite and PostgreSQL; one refused appends
none; the listing (queue actions, saved-reply edits, rule and learned versions) is
filtered by operator, kind and time alike on both."""

from __future__ import annotations

from agentcore.escalation_model import PendingStatus
from agentcore.storage import LearnedRecord, VersionRecord
from tests.agentcore.storage.records import escalated, request

T = 5_000.0  # the stations' clock: every call is told what time it is
LEASE = 60.0


def _item(queue, n: int) -> int:
    return queue.seed(escalated(request(n, at=T - 10)))


def _log(store, since=None, until=None, **filters):
    return [(e.at, e.operator, e.kind, e.item, e.detail)
            for e in store.audit.entries(since, until, **filters)]


def test_each_queue_action_that_happens_is_logged_under_its_operator(queue):
    esc = queue.escalations
    first, second, third = (_item(queue, n) for n in (1, 2, 3))
    a, b, c = (f"escalation {i}" for i in (first, second, third))

    assert esc.claim(first, "ana", T, T + LEASE)
    assert esc.claim(first, "ana", T + 1, T + 1 + LEASE)  # renewed: not a second claim
    assert not esc.claim(first, "ben", T + 1, T + 1 + LEASE)
    assert not esc.release(first, "ben", T + 1)
    assert esc.save_draft(first, "ana", T + 1, "Dear customer", "")  # a draft is no action
    assert esc.start_approval(first, "ana", T + 2, {
        "by": "ana", "override": "a loyal customer", "arguments": {"amount": 7.5}}, T + 32)
    assert not esc.deny(first, "ana", T + 2, {"reason": "changed my mind"})  # being approved
    esc.end_approval(first, PendingStatus.APPROVED, {"by": "ana", "at": T + 3})
    esc.end_approval(first, PendingStatus.FAILED, {"by": "ana", "at": T + 3})  # ended already
    assert esc.reply(esc.get(first, T + 4), "ana", T + 4, "We refunded 7.50.", "refund")
    assert not esc.reply(esc.get(first, T + 4), "ana", T + 4, "again", None)  # resolved

    assert esc.claim(second, "ana", T + 5, T + 5 + LEASE)
    lapsed = T + 5 + LEASE
    assert esc.claim(second, "ben", lapsed, lapsed + LEASE)
    assert esc.deny(second, "ben", lapsed + 1, {"by": "ben", "reason": "already refunded"})
    assert not esc.deny(second, "ben", lapsed + 1, {"by": "ben", "reason": "twice"})
    assert esc.release(second, "ben", lapsed + 2)
    assert esc.claim(third, "ben", lapsed + 3, lapsed + 3 + LEASE)
    assert not esc.hand_back(esc.get(third, lapsed + 3), "ana", lapsed + 3, "not hers", None)
    assert esc.hand_back(esc.get(third, lapsed + 4), "ben", lapsed + 4, "check the order",
                         {"by": "ben", "reason": "handed back"})
    assert esc.claim(second, "ana", lapsed + 5, lapsed + 5 + LEASE)
    assert not esc.resolve(esc.get(second, lapsed + 6), "ben", lapsed + 6)
    assert esc.resolve(esc.get(second, lapsed + 6), "ana", lapsed + 6)

    assert _log(queue.store) == [
        (lapsed + 6, "ana", "resolve", b, "handled outside the console"),
        (lapsed + 5, "ana", "claim", b, ""),
        (lapsed + 4, "ben", "hand_back", c, "check the order (its write denied)"),
        (lapsed + 3, "ben", "claim", c, ""),
        (lapsed + 2, "ben", "release", b, ""),
        (lapsed + 1, "ben", "deny", b, "already refunded"),
        (lapsed, "ben", "claim", b, "after ana's claim lapsed"),
        (T + 5, "ana", "claim", b, ""),
        (T + 4, "ana", "reply", a, "[refund] We refunded 7.50."),
        (T + 3, "ana", "write", a, "approved"),
        (T + 2, "ana", "approve", a,
         'over the policy: a loyal customer; arguments {"amount": 7.5}'),
        (T, "ana", "claim", a, "")]


def test_the_listing_is_filtered_alike_on_both_backends(queue):
    store, esc = queue.store, queue.escalations
    item = _item(queue, 1)
    assert esc.claim(item, "ana", T, T + LEASE)
    assert esc.release(item, "ana", T + 10)
    assert store.replies.add("Courier delay", "Sorry, it is late.", "Ben", T + 10) is not None
    rules = ({"id": "r1", "pattern": "order"},)
    seed = store.rules.add_version(VersionRecord(T + 20, "carol", "seed", "", None, rules, {}))
    undo = store.rules.add_version(VersionRecord(T + 20, "ana", "undo", "back to 1", seed,
                                                 rules, {}))
    whole = store.learned.add(LearnedRecord(T + 30, "ben", "train", 120, 1.0, True),
                              model=b"weights")
    part = store.learned.add(LearnedRecord(T + 40, "ben", "threshold", 120, 0.85, False,
                                           model_of=whole.id))
    r, s = f"escalation {item}", "saved reply 'Courier delay'"

    # One instant's entries in the order they happened: a version after a queue action.
    assert _log(store, T + 10, T + 21) == [
        (T + 20, "ana", "rules", f"rule version {undo}", "undo: back to 1"),
        (T + 20, "carol", "rules", f"rule version {seed}", "seed"),
        (T + 10, "Ben", "saved_reply", s, "added"),
        (T + 10, "ana", "release", r, "")]
    assert _log(store, operator="ben") == [
        (T + 40, "ben", "learned", f"learned version {part.id}",
         "threshold (threshold 0.85, off)"),
        (T + 30, "ben", "learned", f"learned version {whole.id}", "train (threshold 1.0, on)")]
    assert _log(store, kind="claim") == [(T, "ana", "claim", r, "")]
    assert _log(store, None, T + 10) == [(T, "ana", "claim", r, "")]  # until: not inclusive
    assert [e[2] for e in _log(store, T + 30)] == ["learned", "learned"]  # since: inclusive
    assert _log(store, operator="ana", kind="rules") == [
        (T + 20, "ana", "rules", f"rule version {undo}", "undo: back to 1")]
    assert [e[2] for e in _log(store, limit=2)] == ["learned", "learned"]
    assert _log(store, operator="dora") == [] and _log(store, T + 41, None) == []
    assert store.audit.operators() == ["Ben", "ana", "ben", "carol"]  # byte order
