"""Requests and outcomes: accepted durably before any work, finished off the event loop,
and every read sees every outcome already returned."""

from __future__ import annotations

import sqlite3

import pytest

from agentcore.errors import DuplicateRequest
from agentcore.models import EscalationReason, Route, Status
from agentcore.storage import Storage
from tests.agentcore.storage.records import answered, escalated, request


def test_an_accepted_request_is_on_disk_before_its_outcome(backend: Storage):
    req = request(1)
    backend.requests.accept(req)
    assert backend.requests.status(req.id) == "accepted"
    assert [r.id for r in backend.requests.unfinished()] == [req.id]


def test_every_read_sees_the_outcomes_already_returned(backend: Storage):
    reqs = [request(n) for n in range(50)]
    for req in reqs:
        backend.requests.accept(req)
        backend.requests.finish(answered(req))  # queued for the writer thread
    # No flush by the caller: the repository's reads wait for the writer themselves.
    assert backend.requests.counts() == {"answered": 50}
    assert backend.requests.unfinished() == []
    kept = backend.requests.outcome(reqs[7].id)
    assert kept is not None
    assert (kept.route, kept.status, kept.answer) == (
        Route.RULE, Status.ANSWERED, f"order of {reqs[7].id} is on its way")
    assert [s.name for s in backend.requests.spans(reqs[7].id)] == [
        f"stage{i}" for i in range(5)]


def test_a_reused_id_is_refused_and_what_it_had_stays(backend: Storage):
    req = request(1)
    backend.requests.accept(req)
    backend.requests.finish(answered(req))
    other = request(1)
    other.text = "something else entirely"
    with pytest.raises(DuplicateRequest, match="already used"):
        backend.requests.accept(other)
    with pytest.raises(DuplicateRequest):  # nor as a re-run: it is not waiting for one
        backend.requests.accept(req, again=True)
    assert backend.requests.request(req.id).text == req.text
    assert backend.requests.outcome(req.id).answer == f"order of {req.id} is on its way"


def test_an_outcome_not_yet_on_disk_leaves_its_request_for_resume(open_backend, tmp_path):
    """What a crash between 'outcome returned' and 'outcome on disk' leaves: the request,
    accepted, and nothing else; the next process re-runs it."""
    first = open_backend()
    req = request(1)
    first.requests.accept(req)
    # The process dies here, before the writer had the outcome.
    again = open_backend()
    assert [r.id for r in again.requests.unfinished()] == [req.id]
    again.requests.accept(req, again=True)  # the re-run takes it
    again.requests.finish(answered(req))
    assert again.requests.status(req.id) == "answered"


def test_an_escalated_outcome_opens_an_item_with_it(backend: Storage, clock):
    req = request(2)
    backend.requests.accept(req)
    backend.requests.finish(escalated(req))
    item_id = backend.escalations.of_request(req.id)
    assert item_id is not None
    item = backend.escalations.get(item_id, clock.now())
    assert item.reason == "policy violation" and item.pending_action.tool == "issue_refund"


def test_a_customers_waiting_item_is_found_by_reason_until_it_is_resolved(backend: Storage,
                                                                          clock):
    human, policy = EscalationReason.CUSTOMER_ASKED_FOR_HUMAN, EscalationReason.POLICY_VIOLATION
    first, other, theirs = request(3), request(4, customer_id=8), request(5)
    for req, reason in ((first, human), (other, human), (theirs, policy)):
        backend.requests.accept(req)
        backend.requests.finish(escalated(req, reason, pending=False))
    item = backend.escalations.of_request(first.id)
    assert backend.escalations.waiting_of(7, human) == item  # not read back before: waits
    assert backend.escalations.waiting_of(9, human) is None
    assert backend.escalations.claim(item, "alice", clock.now(), clock.now() + 60)
    assert backend.escalations.waiting_of(7, human) == item  # claimed still waits
    backend.escalations.resolve(backend.escalations.get(item, clock.now()), "alice",
                                clock.now())
    assert backend.escalations.waiting_of(7, human) is None


def test_spans_go_in_one_statement_and_a_first_outcome_deletes_nothing(backend, tmp_path):
    statements: list[str] = []
    backend.trace(statements.append)  # type: ignore[attr-defined]
    req = request(3)
    backend.requests.accept(req)
    backend.requests.finish(answered(req, spans=6))
    backend.flush()
    backend.trace(None)  # type: ignore[attr-defined]
    assert not any(s.startswith("DELETE") for s in statements)
    assert sum(s.startswith("INSERT OR REPLACE INTO spans") for s in statements) <= 6
    with sqlite3.connect(tmp_path / "agent.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM spans").fetchone() == (6,)
