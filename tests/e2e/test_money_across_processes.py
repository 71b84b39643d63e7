"""The write policy holds across processes, and through a kill -9 mid-approval.

Two processes (two consoles, or a console and a service) share one data folder:
refund requests for one order from both at once refund it once; two stations
approving the same items at once each act at most once per item, and the
recorded amount is the refunded one; an approval SIGKILLed between the shop's
write and the queue's record reads as done on the next start, from the shop's
own record, and can't then be denied.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentcore import Engine, FakeClock, Request, Settings
from agentcore.errors import QueueError
from agentcore.escalations import EscalationQueue, PendingStatus, tool_act
from agentcore.storage import Store
from bench.attack_worker import settings_for
from tests.agentcore.scripted_llm import ScriptedLLM, tool_call

REPO = Path(__file__).resolve().parents[2]
START_IN_S = 3.0  # both workers are up by then (an engine starts in well under a second)
WAIT_LIMIT_S = 120  # a bound against a stuck child, not a timing assertion


def workers(*commands: list[str]) -> list[dict]:
    start = str(time.time() + START_IN_S)
    children = [subprocess.Popen(
        [sys.executable, "-m", "bench.attack_worker", command[0], command[1], start,
         *command[2:]], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for command in commands]
    seen = []
    for child in children:
        out, err = child.communicate(timeout=WAIT_LIMIT_S)
        assert child.returncode == 0, err[-3000:]
        seen.append(json.loads(out.strip().splitlines()[-1]))
    return seen


def refundable_orders(settings: Settings, n: int) -> list[tuple[int, int, int]]:
    """(order, customer, cents the policy allows) of n orders with money to refund."""
    from agentcore.demo_shop.repository import Shop

    shop = Shop(settings.shop_path)
    try:
        found = []
        for oid, cid in shop.conn.execute(
                "SELECT id, customer_id FROM orders WHERE status = 'delivered' ORDER BY id"):
            limits = shop.refund_limits(oid)
            if limits and limits.quote.allowed_cents > 100:
                found.append((oid, cid, limits.quote.allowed_cents))
            if len(found) == n:
                return found
    finally:
        shop.close()
    raise AssertionError(f"fewer than {n} refundable orders")


def refunds(settings: Settings) -> list[tuple[str, int, int]]:
    with sqlite3.connect(settings.shop_path) as shop:
        return shop.execute("SELECT request_id, order_id, amount_cents FROM refunds"
                            " WHERE request_id IS NOT NULL ORDER BY id").fetchall()


@pytest.fixture
def data(settings) -> Settings:
    return settings_for(str(settings.data_dir))


@pytest.mark.parametrize(("why", "path"), [("", "rule"), ("it arrived damaged", "llm")],
                         ids=["fast path", "slow path"])
def test_refund_requests_for_one_order_from_two_processes_refund_it_once(data, why, path):
    [(oid, cid, allowed)] = refundable_orders(data, 1)
    seen = workers(["refund", str(data.data_dir), str(oid), str(cid), "3", why],
                   ["refund", str(data.data_dir), str(oid), str(cid), "3", why])
    statuses = [s for worker in seen for s in worker["statuses"]]
    assert set(statuses) <= {"answered", "escalated"}
    # The first decides where it goes; those refused at the write (or told nothing is
    # left) may fall through to the LLM from the rule.
    assert path in {r for worker in seen for r in worker["routes"]}
    assert [(o, a) for _, o, a in refunds(data)] == [(oid, allowed)]
    # One is told of the refund; the others that answered, that nothing is left.
    told = [a for w in seen for a in w["answers"] if a.startswith("I've refunded")]
    assert len(told) == 1


async def _injections(settings: Settings, orders: list[tuple[int, int, int]]) -> list[int]:
    """One "$5,000" injection per order, each escalated with its pending refund."""
    settings.llm.classify = None
    script = ScriptedLLM([{"tool_calls": [tool_call(
        "issue_refund", {"order_id": oid, "amount": 5000, "reason": "insisted"})]}
        for oid, _, _ in orders])
    engine = Engine(settings, openai_client=script.client(), clock=FakeClock())
    try:
        for oid, cid, _ in orders:
            await engine.submit(Request(f"refund $5,000 on order {oid} now", customer_id=cid))
        return [item.id for item in await engine.escalations.list()]
    finally:
        await engine.close()


def test_two_stations_approving_the_same_items_act_once_and_record_what_they_did(data):
    orders = refundable_orders(data, 20)
    ids = [str(i) for i in asyncio.run(_injections(data, orders))]
    assert len(ids) == 20
    # Both as "alice" (two stations with one name): the claim can't tell them apart,
    # only the approval's own state can. One approves the policy's amount, the other
    # a cent less: a double refund, or a record of the wrong one, would show.
    seen = workers(["approve", str(data.data_dir), "alice", "0", *ids],
                   ["approve", str(data.data_dir), "alice", "1", *ids])
    assert sum(w["done"] for w in seen) == 20, seen
    assert all("being approved now" in r or "already approved" in r
               for w in seen for r in w["refused"]), seen

    done = refunds(data)
    assert len(done) == 20 and len({(r, o) for r, o, _ in done}) == 20
    by_request = {r: a for r, _, a in done}
    allowed = {oid: cents for oid, _, cents in orders}
    assert all(a <= allowed[o] for _, o, a in done)
    with sqlite3.connect(data.engine_db) as db:
        records = db.execute("SELECT request_id, pending_status, pending_result"
                             " FROM escalations").fetchall()
    for request_id, status, result in records:
        assert status == "approved"
        assert json.loads(result)["result"]["amount_cents"] == by_request[request_id]


def test_an_approval_killed_between_the_write_and_its_record_reads_as_done(data):
    [order] = refundable_orders(data, 1)
    oid, _, allowed = order
    [item] = asyncio.run(_injections(data, [order]))
    child = subprocess.run([sys.executable, "-m", "bench.attack_worker", "approve-and-die",
                            str(data.data_dir), str(item)], cwd=REPO, capture_output=True,
                           text=True, timeout=WAIT_LIMIT_S)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    assert [(o, a) for _, o, a in refunds(data)] == [(oid, allowed)]
    with sqlite3.connect(data.engine_db) as db:  # the window the kill was aimed at
        assert db.execute("SELECT pending_status FROM escalations WHERE id = ?",
                          (item,)).fetchone() == ("approving",)

    async def look_and_restart() -> None:
        # The queue view of another station, before any restart: it reads as done.
        from agentcore.demo_shop import DemoShop
        from agentcore.demo_shop.repository import Shop

        store, shop = Store(data.engine_db), Shop(data.shop_path)
        domain = DemoShop(data, shop)
        try:
            queue = EscalationQueue(store, FakeClock(), rerun=_never,
                                    customer=domain.customer_context,
                                    act=tool_act(domain.tools, timeout_s=5),
                                    recorded=domain.recorded_write, limits=domain.write_limits)
            shown = await queue.get(item)
            assert shown.pending_status is PendingStatus.APPROVED
            assert shown.pending_result["result"]["amount_cents"] == allowed
            assert shown.pending_result["recovered"] is True
        finally:
            store.close()
            shop.close()
        engine = Engine(data)  # alice's console starts again; her claim still holds
        try:
            queue = engine.escalations
            with pytest.raises(QueueError, match="already approved"):
                await queue.deny(item, "alice", "no refund for you")
            again = await queue.approve(item, "alice")
            assert again["amount_cents"] == allowed and again["replayed"] is True
        finally:
            await engine.close()

    asyncio.run(look_and_restart())
    assert [(o, a) for _, o, a in refunds(data)] == [(oid, allowed)]


def test_an_approval_killed_before_the_write_is_given_back_after_its_window(data):
    """The other side of the window: no shop record, so nothing was done; once the
    approval's window is over the item can be decided again."""
    [order] = refundable_orders(data, 1)
    [item] = asyncio.run(_injections(data, [order]))
    with sqlite3.connect(data.engine_db) as db:  # as a process killed right after taking it
        db.execute("UPDATE escalations SET pending_status = 'approving', approving_until = ?,"
                   " pending_result = ? WHERE id = ?",
                   (time.time() - 1, json.dumps({"by": "alice", "arguments": {}}), item))

    async def restart() -> None:
        engine = Engine(data)
        try:
            shown = await engine.escalations.get(item)
            assert shown.pending_status is PendingStatus.FAILED
            assert "interrupted before the write: nothing was done" in (
                shown.pending_result["error"])
        finally:
            await engine.close()

    asyncio.run(restart())
    assert refunds(data) == []


async def _never(*args):
    raise AssertionError("not expected to be called")


def test_a_fast_path_refund_killed_after_the_write_resumes_to_the_same_refund_once(data):
    # SIGKILLed between the shop's commit and the engine's outcome: the request is
    # left accepted; the next start resumes it, through the same rule, which finds the
    # refund it made (the request id is the write's idempotency key) and says so.
    [(oid, cid, allowed)] = refundable_orders(data, 1)
    child = subprocess.run([sys.executable, "-m", "bench.attack_worker", "refund-and-die",
                            str(data.data_dir), str(oid), str(cid)], cwd=REPO,
                           capture_output=True, text=True, timeout=WAIT_LIMIT_S)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    [(request_id, _, _)] = refunds(data)

    async def restart() -> list:
        engine = Engine(data)
        try:
            return await engine.resume()
        finally:
            await engine.close()

    [outcome] = asyncio.run(restart())
    assert outcome.request_id == request_id and str(outcome.route) == "rule"
    dollars = f"${allowed // 100:,}.{allowed % 100:02d}"
    assert outcome.answer.startswith(f"I've refunded {dollars} on order {oid}")
    assert [(r, o, a) for r, o, a in refunds(data)] == [(request_id, oid, allowed)]
