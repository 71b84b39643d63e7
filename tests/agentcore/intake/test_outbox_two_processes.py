"""Two intakes on one database (`agentcore serve` twice, or serve and a console's intake,
as the design allows): each delivery is sent by one of them, not by both. A Chatwoot
customer would read the answer twice; Chatwoot dedupes nothing."""

from __future__ import annotations

import asyncio
from collections import Counter

from agentcore.clock import SystemClock
from agentcore.intake.outbox import Outbox
from agentcore.storage import Store
from tests.agentcore.intake.conftest import until


async def test_two_outboxes_on_one_database_send_each_delivery_once(settings):
    stores = [Store(settings.engine_db), Store(settings.engine_db)]
    sent: Counter[str] = Counter()

    async def post(target: str, payload: dict, delivery_id: str) -> None:
        sent[delivery_id] += 1
        await asyncio.sleep(0.05)  # a real post takes a while: the other poll comes by

    outboxes = [Outbox(store.outbox, SystemClock()) for store in stores]
    for outbox in outboxes:
        outbox.register("chatwoot_message", post)
    try:
        ids = [outboxes[n % 2].enqueue("chatwoot_message", "http://desk/conversations/1",
                                       {"content": f"answer {n}"}, f"chatwoot:r{n}:answer")
               for n in range(40)]
        for outbox in outboxes:
            outbox.start()
        await until(lambda: stores[0].outbox.pending() == 0)
        assert set(sent) == set(ids)
        assert [i for i, n in sent.items() if n > 1] == []
        assert sum(o.delivered for o in outboxes) == 40
    finally:
        for outbox in outboxes:
            await outbox.close()
        for store in stores:
            store.close()
