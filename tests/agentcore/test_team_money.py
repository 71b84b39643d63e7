"""The money path with a team on one PostgreSQL database: stations in processes of
their own (one machine each, as far as the queue can tell), racing to approve, deny
and reply, starting while another's approval runs, killed in the middle of one, and
with clocks that disagree. Every refund stays one write within the write's policy."""

from __future__ import annotations

import os
import signal
import time

import pytest

from agentcore import Request
from agentcore.escalations import PendingStatus
from tests.agentcore.desk import Desk
from tests.agentcore.team_stations import Team

LEASE = 300.0


@pytest.fixture
def settings(settings):
    settings.llm.classify = None
    settings.guard.rate_per_minute = 10_000
    return settings


@pytest.fixture
async def desk(pg_settings):
    desk = Desk(pg_settings)
    yield desk
    await desk.engine.close()


@pytest.fixture
def keyring_file(tmp_path):
    return str(tmp_path / "keyring.json")


def within_policy(order: dict) -> dict:
    return {"order_id": order["id"], "amount": order["allowed_cents"] / 100,
            "reason": "arrived damaged"}


def refunds_on(desk: Desk, order_id: int) -> list[tuple[str, int]]:
    return desk.engine.domain.shop.conn.execute(
        "SELECT request_id, amount_cents FROM refunds WHERE order_id = ? ORDER BY id",
        (order_id,)).fetchall()


async def test_one_operator_approving_one_refund_from_two_machines_writes_it_once(
        desk, pg_settings, keyring_file):
    item, order = await desk.refund_injection()
    before = refunds_on(desk, order["id"])
    team = Team(pg_settings, keyring_file, 2)
    for _ in range(2):  # ana at her desk and at the laptop: the same claim, renewed
        team.start([("claim", item, "ana", LEASE), ("wait",),
                    ("approve", item, "ana", within_policy(order))])
    outs = [out[-1] for out in team.results()]
    approved = [o for o in outs if o[0] == "approved" and not o[1].get("replayed")]
    assert len(approved) == 1, outs
    other = next(o for o in outs if o is not approved[0])
    # The other is told it is being approved, or gets the first's result, marked so.
    assert (other[0] == "refused" and "being approved now by ana" in other[1]) or \
        other[1].get("replayed"), other
    assert len(refunds_on(desk, order["id"])) == len(before) + 1
    assert (await desk.engine.escalations.get(item)).pending_status is PendingStatus.APPROVED


async def test_approve_and_deny_at_once_from_two_machines_agree_with_the_shop(
        desk, pg_settings, keyring_file):
    item, order = await desk.refund_injection()
    before = refunds_on(desk, order["id"])
    team = Team(pg_settings, keyring_file, 2)
    team.start([("claim", item, "ana", LEASE), ("wait",),
                ("approve", item, "ana", within_policy(order))])
    team.start([("claim", item, "ana", LEASE), ("wait",), ("deny", item, "ana", "no")])
    (approve, deny) = [out[-1] for out in team.results()]
    status = (await desk.engine.escalations.get(item)).pending_status
    written = len(refunds_on(desk, order["id"])) - len(before)
    if approve[0] == "approved":
        assert deny[0] == "refused" and (
            "already approved" in deny[1] or "being approved" in deny[1]), deny
        assert (status, written) == (PendingStatus.APPROVED, 1)
    else:
        assert approve[0] == "refused" and "was denied" in approve[1], approve
        assert (status, written) == (PendingStatus.DENIED, 0)


async def test_two_machines_replying_at_once_send_one_reply(desk, pg_settings, keyring_file):
    item = await desk.over_budget()
    team = Team(pg_settings, keyring_file, 2)
    for text in ("first", "second"):
        team.start([("claim", item, "ana", LEASE), ("wait",), ("reply", item, "ana", text)])
    outs = [out[-1] for out in team.results()]
    assert sorted(o[0] for o in outs) == ["refused", "replied"], outs
    assert "already resolved (by ana)" in next(o[1] for o in outs if o[0] == "refused")
    replies = [e for e in desk.engine.store.audit.entries(None, None)
               if e.kind == "reply" and e.item == f"escalation {item}"]
    assert len(replies) == 1


async def test_several_refunds_of_one_order_approved_at_once_stay_within_its_policy(
        desk, pg_settings, keyring_file):
    order = desk.refundable_order()
    before = sum(a for _, a in refunds_on(desk, order["id"]))
    items = [(await desk.refund_injection(order))[0] for _ in range(3)]
    team = Team(pg_settings, keyring_file, 3)
    for n, item in enumerate(items):  # three operators, three machines, the whole quote each
        team.start([("claim", item, f"op{n}", LEASE), ("wait",),
                    ("approve", item, f"op{n}", within_policy(order))])
    outs = [out[-1] for out in team.results()]
    assert sorted(o[0] for o in outs) == ["approved", "refused", "refused"], outs
    assert all("exceeds what the policy allows" in o[1] or "more than is left" in o[1]
               for o in outs if o[0] == "refused"), outs
    refunded = sum(a for _, a in refunds_on(desk, order["id"])) - before
    assert refunded == order["allowed_cents"]


async def test_overrides_of_one_order_approved_at_once_never_refund_more_than_was_paid(
        desk, pg_settings, keyring_file):
    order = desk.order_with_a_fee()
    limits = desk.engine.domain.shop.refund_limits(order["id"])
    items = [(await desk.refund_injection(order))[0] for _ in range(2)]
    team = Team(pg_settings, keyring_file, 2)
    everything = {"order_id": order["id"], "amount": limits.left_cents / 100,
                  "reason": "the customer was wronged"}
    for n, item in enumerate(items):  # above the policy, each the whole of what is left
        team.start([("claim", item, f"op{n}", LEASE), ("wait",),
                    ("approve", item, f"op{n}", everything, "our courier broke it")])
    outs = [out[-1] for out in team.results()]
    assert sorted(o[0] for o in outs) == ["approved", "refused"], outs
    assert "more than is left of what was paid" in next(o[1] for o in outs
                                                        if o[0] == "refused")
    after = desk.engine.domain.shop.refund_limits(order["id"])
    assert (after.refunded_cents - limits.refunded_cents, after.left_cents) == (
        limits.left_cents, 0)


async def test_a_machine_whose_clock_runs_ahead_does_not_take_a_live_claim(
        desk, pg_settings, keyring_file):
    item = await desk.over_budget()
    team = Team(pg_settings, keyring_file, 0)
    team.start([("claim", item, "ana", 60.0)])
    team.results()
    late = Team(pg_settings, keyring_file, 0)
    late.start([("claim", item, "ben", 60.0)], skew_s=120.0)  # two minutes fast
    (out,) = late.results()
    assert out[0][0] == "refused" and "claimed by ana" in out[0][1], out


@pytest.mark.parametrize(("approver_skew", "starter_skew"), [(0.0, 60.0), (-120.0, 0.0)],
                         ids=["starter-fast", "approver-slow"])
async def test_a_station_starting_while_another_approves_leaves_that_approval_alone(
        desk, pg_settings, keyring_file, approver_skew, starter_skew):
    item, order = await desk.refund_injection()
    before = refunds_on(desk, order["id"])
    slow = pg_settings.model_copy(deep=True)
    slow.shop_latency_ms = 3000  # the write's round trip: the approval is under way a while
    team = Team(pg_settings, keyring_file, 0)
    team.start([("claim", item, "ana", LEASE), ("approve", item, "ana", within_policy(order))],
               settings=slow, skew_s=approver_skew)
    await wait_for(desk, item, PendingStatus.APPROVING)
    # A station starts (its recover() runs) while ana's write is on its way, and the two
    # machines' clocks disagree by more than her approval window (a minute fast here,
    # two minutes slow there).
    team.start([("status", item)], skew_s=starter_skew)
    ana, starter = team.results()
    assert starter[0][1] == "approving", starter
    assert ana[-1][0] == "approved", ana
    assert len(refunds_on(desk, order["id"])) == len(before) + 1
    write_entries = [e for e in desk.engine.store.audit.entries(None, None)
                     if e.kind == "write" and e.item == f"escalation {item}"]
    assert [e.detail for e in write_entries] == ["approved"]


async def test_a_station_killed_mid_approval_is_settled_by_another_only_after_its_window(
        desk, pg_settings, keyring_file):
    item, order = await desk.refund_injection()
    before = refunds_on(desk, order["id"])
    slow = pg_settings.model_copy(deep=True)
    slow.shop_latency_ms = 4000
    team = Team(pg_settings, keyring_file, 0)
    killed = team.start([("claim", item, "ana", LEASE),
                         ("approve", item, "ana", within_policy(order))], settings=slow)
    await wait_for(desk, item, PendingStatus.APPROVING)
    os.kill(killed.pid, signal.SIGKILL)  # the machine dies while its write waits on the shop
    killed.join(timeout=30)
    team.start([("status", item)])  # a station starting now: the window is still running
    assert team.results(killed=(killed,))[1][0][1] == "approving"
    # Past the window (by the database's clock, which the desk's queue is told here):
    # settled as failed with nothing written, and approvable again.
    stored = desk.engine.store.escalations.get(item, time.time())
    desk.clock._now = stored.approving_until + 1
    assert desk.queue.recover() == 1
    settled = await desk.queue.get(item)
    assert settled.pending_status is PendingStatus.FAILED
    assert settled.pending_result["interrupted"] is True
    assert refunds_on(desk, order["id"]) == before


async def test_a_claim_lapsing_while_its_approval_runs_leaves_the_next_claimant_nothing_to_redo(
        desk, pg_settings, keyring_file):
    item, order = await desk.refund_injection()
    before = refunds_on(desk, order["id"])
    slow = pg_settings.model_copy(deep=True)
    slow.shop_latency_ms = 5000
    slow.loop.tool_timeout_s = 10  # the write's round trip, inside its timeout
    team = Team(pg_settings, keyring_file, 2)
    # ana's 10 s lease ends while her refund is on its way (started at 7 s, done at 12 s);
    # ben takes the lapsed claim at 11 s and tries everything that would act on it.
    team.start([("wait",), ("claim", item, "ana", 10.0), ("sleep", 7.0),
                ("approve", item, "ana", within_policy(order))], settings=slow)
    team.start([("wait",), ("sleep", 11.0), ("claim", item, "ben", LEASE),
                ("approve", item, "ben", within_policy(order)), ("deny", item, "ben", "no"),
                ("reply", item, "ben", "done"), ("sleep", 4.0),
                ("reply", item, "ben", "refunded, sorry")])
    ana, ben = team.results()
    assert ana[-1][0] == "approved", ana
    assert ben[2] == ("claimed", "ben"), ben
    assert all(out[0] == "refused" and "being approved now by ana" in out[1]
               for out in ben[3:6]), ben
    assert ben[-1] == ("replied", "ben"), ben
    assert len(refunds_on(desk, order["id"])) == len(before) + 1
    done = await desk.engine.escalations.get(item)
    assert (done.pending_status, done.resolved_by) == (PendingStatus.APPROVED, "ben")


async def test_a_station_reading_an_approval_that_can_only_replay_another_refund_not_done(
        desk, pg_settings, keyring_file):
    from tests.agentcore.scripted_llm import tool_call

    order = desk.refundable_order()
    desk.script.steps.append({"tool_calls": [  # one turn: $5,000 refused, and $1 done
        tool_call("issue_refund", {"order_id": order["id"], "amount": 5000, "reason": "a"},
                  "c1"),
        tool_call("issue_refund", {"order_id": order["id"], "amount": 1, "reason": "b"},
                  "c2")]})
    outcome = await desk.engine.submit(Request(f"refund order {order['id']}, it arrived damaged",
                                               customer_id=order["customer_id"]))
    item = desk.escalation_of(outcome.request_id)
    slow = pg_settings.model_copy(deep=True)
    slow.shop_latency_ms = 3000
    team = Team(pg_settings, keyring_file, 0)
    team.start([("claim", item, "ana", LEASE), ("approve", item, "ana", None)], settings=slow)
    await wait_for(desk, item, PendingStatus.APPROVING)
    seen = await desk.engine.escalations.get(item)  # ben's view opens it meanwhile
    (ana,) = team.results()
    assert ana[-1][0] == "refused" and "nothing more was done" in ana[-1][1], ana
    assert seen.pending_status is not PendingStatus.APPROVED
    shown = await desk.engine.escalations.get(item)
    assert shown.pending_status is PendingStatus.FAILED  # not "approved" for $5,000
    assert desk.refunds_of(outcome.request_id) == [{"order_id": order["id"],
                                                    "amount_cents": 100}]


async def wait_for(desk: Desk, item: int, status: PendingStatus) -> None:
    import asyncio

    for _ in range(300):
        stored = desk.engine.store.escalations.get(item, time.time())
        if stored.pending_status is status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"escalation {item} never became {status}")


def test_the_server_clock_follows_a_stepped_machine_clock_and_keeps_a_fakes_advance():
    from agentcore.clock import FakeClock, ServerClock

    server, machine = [1_000.0], FakeClock(500.0)
    clock = ServerClock(machine, lambda: server[0])
    assert clock.now() == 1_000.0
    machine.advance(30)  # time passing, on both
    server[0] += 30
    assert clock.now() == 1_030.0
    machine._now += 3_600  # this machine's clock stepped an hour: measured again
    assert clock.now() == 1_030.0
