"""`agentcore serve` with the Chatwoot channel, killed with SIGKILL while Chatwoot is
down and started again: every message Chatwoot heard 200 for is answered in its
conversation, once, and every escalation handed over once, though Chatwoot sends
every webhook again after the restart.

Chatwoot is down (503) until the kill, so no post was taken before it: a post the
outbox sent and could not mark delivered before a kill is sent again (at least
once), which this test keeps out of the picture to assert exactly once.

Where the kill lands varies; when it lands between an answer reaching the disk and
its post's enqueue, only the sweep (over the intake's records) posts it: before
the channel went through the intake, such a conversation was never answered."""

from __future__ import annotations

import asyncio
import signal

import httpx2

from agentcore.channels import ChatwootSettings
from agentcore.channels.chatwoot import ROUTE
from agentcore.credentials import KeyringCredentials
from tests.agentcore.channels.chatwoot_standin import ACCOUNT, TOKEN, ChatwootStandin
from tests.agentcore.channels.test_chatwoot import HUMAN, SHIPPING
from tests.processes import serve_process

N = 30
HANDOVER = ChatwootSettings.model_fields["handover_message"].default


async def test_kill_9_while_chatwoot_is_down_then_restart_posts_each_once(settings, tmp_path):
    KeyringCredentials().set("chatwoot", TOKEN)
    standin = ChatwootStandin()
    await standin.start()
    standin.echo = False  # the bot's own messages: left alone anyway (test_chatwoot)
    settings.chatwoot = ChatwootSettings(base_url=standin.url, account_id=ACCOUNT,
                                         sweep_every_s=0.2)
    settings.intake.retry_base_s = 0.1
    settings.intake.retry_cap_s = 0.5
    settings.guard.anonymous_rate_per_minute = 1_000_000  # N contacts, none throttled
    path = tmp_path / "settings.json"
    settings.save(path)
    escalating = {cid for cid in range(100, 100 + N) if cid % 3 == 0}
    payloads = []
    for i, cid in enumerate(range(100, 100 + N)):
        standin.conversation(cid)
        payloads.append(standin.payload(cid, HUMAN if cid in escalating else SHIPPING,
                                        message_id=5000 + i))
    standin.failing = 503  # Chatwoot is down: nothing posted is taken
    heard: set[int] = set()  # the conversations whose webhook Chatwoot heard 200 for
    half = asyncio.Event()
    proc, base = await serve_process(path, tmp_path / "keyring.json")
    try:
        standin.bot_url = f"{base}{ROUTE}"

        async def send(payload: dict[str, object]) -> None:
            try:
                reply = await standin.send(payload)
            except httpx2.HTTPError:
                return  # cut off by the kill
            if reply.status_code == 200:
                heard.add(payload["conversation"]["id"])  # type: ignore[index]
                if len(heard) >= N // 2:
                    half.set()

        sending = [asyncio.create_task(send(p)) for p in payloads]
        await half.wait()
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        await asyncio.gather(*sending)
        assert standin.messages == [] and standin.statuses == []
        standin.failing = None  # Chatwoot is back
        proc, base = await serve_process(path, tmp_path / "keyring.json")
        standin.bot_url = f"{base}{ROUTE}"
        # Chatwoot delivers every webhook again (those cut off by the kill too).
        replies = await asyncio.gather(*(standin.send(p) for p in payloads))
        assert all(r.status_code == 200 for r in replies)

        def done() -> bool:
            answered = {m.conversation_id for m in standin.messages}
            opened = {cid for cid, _ in standin.statuses}
            return answered >= set(range(100, 100 + N)) and opened >= escalating
        await standin.wait_for(done, timeout_s=30)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # a graceful stop: what is owed is sent first
        proc.communicate(timeout=30)
        await standin.stop()
    assert heard  # the kill came after some webhooks were taken
    for cid in range(100, 100 + N):
        posted = [m.content for m in standin.messages if m.conversation_id == cid]
        if cid in escalating:
            assert posted == [HANDOVER], (cid, posted)
        else:
            assert len(posted) == 1 and "Standard shipping" in posted[0], (cid, posted)
    assert sorted(standin.statuses) == sorted((cid, "open") for cid in escalating)
