"""The second domain, headless: a library's loans held to their policy at the write.

Its store is tested the way its promises break: a waiver above the per-loan limit,
the same request retried, and many requests waiving one loan at once from two
connections (two processes' worth) never waive past the limit. Then the domain
through agentcore's own seams: the Protocol, its tools in a registry, and an
engine answering with it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from library_loans import create
from library_loans._policy import WAIVE_LIMIT_CENTS
from library_loans._store import LoanStore

from agentcore.errors import RecordNotFound, StorageError, ToolError, WriteRefused
from agentcore.models import PolicyOverride
from agentcore.settings import Settings

MEMBER = 1
ON_TIME, TOO_LATE, NO_RENEWALS = 1001, 1031, 1021  # member 1's loans in the seed data


@pytest.fixture
def store(tmp_path: Path):
    store = LoanStore(tmp_path / "library.sqlite")
    yield store
    store.close()


def waived(path: Path, loan_id: int) -> list[tuple[str, int]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT request_id, amount_cents FROM waivers WHERE loan_id = ?"
                            " ORDER BY id", (loan_id,)).fetchall()


def test_the_seed_is_the_same_everywhere(tmp_path):
    first, second = LoanStore(tmp_path / "a.sqlite"), LoanStore(tmp_path / "b.sqlite")
    try:
        assert first.loans_of(MEMBER) == second.loans_of(MEMBER)
        loans = {loan["id"]: loan for loan in first.loans_of(MEMBER)}
        assert loans[TOO_LATE]["fine_cents"] > WAIVE_LIMIT_CENTS  # the tests rely on these
        assert loans[ON_TIME]["fine_cents"] == 0 and loans[ON_TIME]["renewals_left"] == 2
        assert loans[NO_RENEWALS]["renewals_left"] == 0
    finally:
        first.close()
        second.close()


def test_a_renewal_is_held_to_its_policy_and_done_once_per_request(store):
    done = store.renew("r1", ON_TIME)
    assert done == {"loan_id": ON_TIME, "status": "renewed", "due_on": "2026-03-26",
                    "renewals_left": 1}
    assert store.renew("r1", ON_TIME) == done | {"replayed": True, "as_asked": True}
    assert store.loan(ON_TIME)["renewals_left"] == 1  # a retry renewed nothing more
    with pytest.raises(WriteRefused, match="20 days overdue") as refused:
        store.renew("r2", TOO_LATE)
    assert refused.value.limits["overdue_days"] == 20
    with pytest.raises(WriteRefused, match="renewed 2 times already"):
        store.renew("r3", NO_RENEWALS)
    # An operator's override lifts the policy; a refusal left nothing behind.
    lifted = store.renew("r2", TOO_LATE, override=PolicyOverride("alice", "in hospital"))
    assert lifted["override"] == {"by": "alice", "reason": "in hospital"}


def test_a_waiver_above_the_limit_is_refused_and_an_override_stops_at_the_fine(store):
    fine = store.loan(TOO_LATE)["fine_cents"]
    with pytest.raises(WriteRefused, match="above the policy") as refused:
        store.waive("r1", TOO_LATE, fine)
    assert refused.value.limits == {"loan_id": TOO_LATE, "fine_cents": fine, "waived_cents": 0,
                                    "limit_cents": WAIVE_LIMIT_CENTS,
                                    "allowed_cents": WAIVE_LIMIT_CENTS}
    assert waived(store.path, TOO_LATE) == []
    assert store.waive("r1", TOO_LATE, 300)["fine_left_cents"] == fine - 300
    with pytest.raises(WriteRefused, match=r"\$3.00 waived already"):  # the limit is per loan
        store.waive("r2", TOO_LATE, 300)
    over = PolicyOverride("alice", "the book was damaged when lent")
    with pytest.raises(WriteRefused, match="can't be waived"):  # never past what is owed
        store.waive("r3", TOO_LATE, fine, override=over)
    assert store.waive("r3", TOO_LATE, fine - 300, override=over)["fine_left_cents"] == 0
    assert waived(store.path, TOO_LATE) == [("r1", 300), ("r3", fine - 300)]


def test_many_waivers_of_one_loan_from_two_connections_stay_under_the_limit(tmp_path):
    """Two stores (as two processes would have) waive $1 each from 16 threads at once."""
    path = tmp_path / "library.sqlite"
    stores = [LoanStore(path), LoanStore(path)]
    start = threading.Barrier(16)
    results: list[str] = []

    def waive(n: int) -> None:
        store = stores[n % 2]
        start.wait()
        try:
            store.waive(f"request-{n // 2}", TOO_LATE, 100)  # pairs share a request id
            results.append("done")
        except WriteRefused:
            results.append("refused")
        except StorageError as exc:  # would mean the lock was not waited for
            results.append(str(exc))

    threads = [threading.Thread(target=waive, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    rows = waived(path, TOO_LATE)
    assert sum(amount for _, amount in rows) == WAIVE_LIMIT_CENTS
    assert len({request for request, _ in rows}) == len(rows) == 5  # one per request, at most
    assert set(results) <= {"done", "refused"}


def test_other_processes_changes_reach_the_cache_and_own_ones_the_listeners(tmp_path):
    path = tmp_path / "library.sqlite"
    here, there = LoanStore(path), LoanStore(path)
    heard: list[list[str]] = []
    try:
        stop = here.watch(heard.append)
        here.renew("r1", ON_TIME)
        assert heard == [[f"loan:{ON_TIME}", f"member:{MEMBER}"]]
        here.changed()  # read: the next call says whether anything moved since
        assert not here.changed()  # nobody else wrote
        at = here.head()
        there.waive("r2", TOO_LATE, 100)
        assert here.changed()
        assert f"loan:{TOO_LATE}" in [tag for _, tag in here.since(at, 100)]
        assert here.head() == at + 1 and not here.changed()
        stop()
        here.renew("r3", ON_TIME)
        assert len(heard) == 1
    finally:
        here.close()
        there.close()


# -- through agentcore's seams ---------------------------------------------------------


@pytest.fixture
def library_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", domain="library_loans:create")


def test_the_library_is_a_domain_chosen_by_the_settings(library_settings):
    from agentcore.domain import Domain, load_domain

    domain = load_domain(library_settings)
    try:
        assert isinstance(domain, Domain) and domain.name == "library_loans"
        assert set(domain.tools.names) == {"get_loan", "renew_loan", "waive_fine"}
        assert set(domain.handlers) == {"static", "loan_status"}
        assert domain.intents[-1] == "other"
        assert (library_settings.data_dir / "library.sqlite").exists()
    finally:
        domain.close()


async def test_its_tools_show_a_member_only_their_own_loans_and_offer_the_limit(
        library_settings):
    from agentcore.tools import ToolContext

    domain = create(library_settings)
    tools = domain.tools

    async def call(name: str, arguments: dict, customer: int | None, request: str = "r1"):
        context = ToolContext(request_id=request, customer_id=customer)
        return await tools.call(name, arguments, context, 5.0)

    try:
        loan = await call("get_loan", {"loan_id": TOO_LATE}, MEMBER)
        assert loan["overdue_days"] == 20 and loan["fine_cents"] == 600
        with pytest.raises(RecordNotFound):
            await call("get_loan", {"loan_id": TOO_LATE}, 2)  # another member's
        with pytest.raises(ToolError):
            await call("get_loan", {"loan_id": TOO_LATE}, None)
        with pytest.raises(WriteRefused) as refused:
            await call("waive_fine", {"loan_id": TOO_LATE, "amount": 6.0}, MEMBER)
        assert refused.value.offer == {"loan_id": TOO_LATE, "amount": 5.0}
        both = await asyncio.gather(*(call("waive_fine", {"loan_id": TOO_LATE, "amount": 5.0},
                                           MEMBER, "r2") for _ in range(3)))
        assert [b.get("replayed", False) for b in both].count(False) == 1
        assert waived(library_settings.data_dir / "library.sqlite", TOO_LATE) == [("r2", 500)]
    finally:
        domain.close()


def test_the_operator_sees_the_member_the_stake_and_the_figures_of_a_waiver(
        library_settings):
    from agentcore.escalation_model import Escalation, EscalationState
    from agentcore.models import PendingAction, Request

    domain = create(library_settings)
    try:
        context = domain.customer_context(MEMBER)
        assert context is not None and context.title == "Member 1: Ada Byron"
        assert context.facts["fines owed"] == "$7.50"
        assert TOO_LATE in [loan["id"] for loan in context.records]
        assert domain.customer_context(999) is None

        pending = PendingAction("waive_fine", {"loan_id": TOO_LATE, "amount": 5.0},
                                requested={"loan_id": TOO_LATE, "amount": 6.0})
        item = Escalation(1, Request("waive it", customer_id=MEMBER), "policy violation",
                          EscalationState.OPEN, 0.0, pending_action=pending)
        assert domain.at_stake(item).label == "$6.00 waiver asked"
        limits = domain.write_limits("waive_fine", {"loan_id": TOO_LATE, "amount": "5.00"})
        assert limits is not None
        assert (limits.allowed_cents, limits.ceiling_cents, limits.approving_cents) == (
            500, 600, 500)
        assert limits.figure("Owed") == 600 and limits.verb == "waive"
        assert domain.write_limits("waive_fine", {"loan_id": "x"}) is None

        assert domain.recorded_write("waive_fine", {"loan_id": TOO_LATE}, "r1") is None
        domain.store.waive("r1", TOO_LATE, 200)
        assert domain.recorded_write("waive_fine", {"loan_id": TOO_LATE}, "r1")[
            "waived_cents"] == 200
        assert [e["tool"] for e in domain.effects_of("r1")] == ["waive_fine"]
    finally:
        domain.close()
