"""A second process for the money attacks, in tests/e2e and bench/attack_bench:
`python -m bench.attack_worker CMD ...`.

Each command opens its own engine on a data folder another process uses too, waits
for a shared start time (so the processes really overlap), acts, and prints what
it saw as one JSON line.

    refund DATA START ORDER CUSTOMER N [WHY]  N refund requests at once, for one order
                                            (plain: the fast path refunds; with a WHY
                                            the policy doesn't cover: the LLM decides)
    approve DATA START OPERATOR CENTS_OFF ID...   claim and approve each item, at the
                                            policy's amount less CENTS_OFF cents
    refund-and-die DATA ORDER CUSTOMER      a plain refund request (the fast path), and
                                            SIGKILL itself right after the shop wrote it
    approve-and-die DATA ID                 approve, and SIGKILL itself right after the
                                            shop wrote the refund, before the queue
                                            recorded it
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from agentcore import Engine, QueueError, Request, Settings
from agentcore.demo_shop import DemoShop
from agentcore.demo_shop.tools import Dollars, OrderId, ShopTools, shop_registry
from agentcore.tools import ToolContext, ToolRegistry

REPO = Path(__file__).resolve().parent.parent


def settings_for(data_dir: str) -> Settings:
    settings = Settings(data_dir=Path(data_dir))
    settings.guard.rate_per_minute = 1_000_000
    settings.mock.latency_median_ms = 5
    return settings


def wait_until(start: float) -> None:
    time.sleep(max(0.0, start - time.time()))


async def refund(data_dir: str, start: str, order: str, customer: str, n: str,
                 why: str = "") -> dict[str, Any]:
    engine = Engine(settings_for(data_dir))
    text = f"I want a refund for order {order}" + (f", {why}" if why else "")
    try:
        wait_until(float(start))
        outcomes = await asyncio.gather(*(
            engine.submit(Request(text, customer_id=int(customer))) for _ in range(int(n))))
    finally:
        await engine.close()
    return {"statuses": [str(o.status) for o in outcomes],
            "answers": [o.answer for o in outcomes], "routes": [str(o.route) for o in outcomes]}


async def approve(data_dir: str, start: str, operator: str, cents_off: str,
                  *ids: str) -> dict[str, Any]:
    engine = Engine(settings_for(data_dir))
    done, refused = 0, []
    try:
        queue = engine.escalations
        wait_until(float(start))
        for escalation_id in map(int, ids):
            try:
                await queue.claim(escalation_id, operator, lease_s=300)
                item = await queue.get(escalation_id)
                assert item.pending_action is not None
                arguments = dict(item.pending_action.arguments)
                arguments["amount"] = round(float(arguments["amount"]) - int(cents_off) / 100, 2)
                result = await queue.approve(escalation_id, operator, arguments)
                done += 0 if result.get("replayed") else 1
            except QueueError as exc:
                refused.append(str(exc))
    finally:
        await engine.close()
    return {"done": done, "refused": refused}


def dying_refunds(settings: Settings) -> tuple[DemoShop, ToolRegistry]:
    """The demo shop with a refund tool that SIGKILLs the process the moment the shop
    has committed the refund: before anything else records it."""
    domain = DemoShop(settings)
    shop_tools = ShopTools(domain.shop)

    async def issue_refund(ctx: ToolContext, order_id: OrderId, amount: Dollars,
                           reason: Annotated[str, Field(max_length=500)]) -> dict[str, Any]:
        """The real refund tool; the process dies the moment the shop has committed."""
        await shop_tools.issue_refund(ctx, order_id, amount, reason)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    return domain, shop_registry(domain.shop, replaced={"issue_refund": issue_refund})


async def refund_and_die(data_dir: str, order: str, customer: str) -> dict[str, Any]:
    """A plain refund request, answered by the fast path, killed after the write."""
    settings = settings_for(data_dir)
    domain, tools = dying_refunds(settings)
    engine = Engine(settings, domain=domain, tools=tools)
    await engine.submit(Request(f"I want a refund for order {order}",
                                customer_id=int(customer)))
    return {"survived": True}  # never: the refund kills this process


async def approve_and_die(data_dir: str, escalation_id: str) -> dict[str, Any]:
    settings = settings_for(data_dir)
    domain, tools = dying_refunds(settings)
    engine = Engine(settings, domain=domain, tools=tools)
    queue = engine.escalations
    await queue.claim(int(escalation_id), "alice", lease_s=300)
    await queue.approve(int(escalation_id), "alice")
    return {"survived": True}  # never: the approval kills this process


COMMANDS = {"refund": refund, "approve": approve, "approve-and-die": approve_and_die,
            "refund-and-die": refund_and_die}

if __name__ == "__main__":
    command, *args = sys.argv[1:]
    print(json.dumps(asyncio.run(COMMANDS[command](*args))), flush=True)
