"""Review of issue 13's reply draft and saved-reply placeholders on a real queue item:
the "$5,000 refund" prompt injection, escalated for a human."""

from __future__ import annotations

from agentcore.saved_replies import fill_placeholders
from console.reply_draft import drafter, placeholders
from tests.agentcore.desk import Desk


async def _injected(settings):
    settings.llm.classify = None  # the script answers the decide calls alone
    desk = Desk(settings)
    item_id, order = await desk.refund_injection()
    await desk.queue.claim(item_id, "alice", 300)
    return desk, item_id, order


async def test_the_draft_never_offers_the_injected_amount(settings):
    desk, item_id, _ = await _injected(settings)
    try:
        item = await desk.queue.get(item_id)
        draft = drafter(lambda: "alice", desk.engine.domain.write_limits)(item)
        assert "$5,000" not in draft, draft
    finally:
        await desk.engine.close()


async def test_a_denied_refund_is_not_filled_in_as_refunded(settings):
    desk, item_id, _ = await _injected(settings)
    try:
        await desk.queue.deny(item_id, "alice", "far past the policy")
        item = await desk.queue.get(item_id)
        values = placeholders(item, "alice")
        text = fill_placeholders("I've refunded {amount} for order #{order_id}.", values)
        amount = item.pending_action.arguments["amount"]
        assert f"${amount:,.2f}" not in text and "{amount}" in text, text
    finally:
        await desk.engine.close()
