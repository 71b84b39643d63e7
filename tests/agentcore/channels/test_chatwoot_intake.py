"""The Chatwoot channel as the intake server's extension, against the stand-in over real
HTTP: submitted through the intake (its idempotency, its GET), posts through the
durable outbox, and the sweep that enqueues what a crash or another process left
owed. `test_chatwoot_crash.py` kills a real `agentcore serve` with SIGKILL."""

from __future__ import annotations

import asyncio
import logging

import httpx2
import pytest

from agentcore import Engine
from agentcore.channels import ChatwootSettings
from agentcore.channels._chatwoot_api import MESSAGE, STATUS, ChatwootAPI
from agentcore.channels.chatwoot import CHANNEL_KEY, ROUTE, ChatwootChannel, extension
from agentcore.channels.chatwoot import request_id_for as rid_of
from agentcore.credentials import KeyringCredentials
from agentcore.errors import ChatwootError
from agentcore.escalation_model import EscalationState
from agentcore.intake.server import IntakeServer
from agentcore.intake.service import Intake
from agentcore.intake.settings import IntakeSettings
from agentcore.models import Request
from tests.agentcore.channels.chatwoot_standin import ACCOUNT, TOKEN, ChatwootStandin
from tests.agentcore.channels.test_chatwoot import HUMAN, SHIPPING
from tests.agentcore.scripted_llm import ScriptedLLM, final

BLENDER = "My blender makes a strange grinding noise since yesterday"
HANDOVER = ChatwootSettings.model_fields["handover_message"].default


class Served:
    def __init__(self, settings, standin: ChatwootStandin, *, sweep_every_s: float = 5.0,
                 script: list[object] | None = None) -> None:
        credentials = KeyringCredentials()
        credentials.set("chatwoot", TOKEN)
        settings.chatwoot = ChatwootSettings(base_url=standin.url, account_id=ACCOUNT,
                                             sweep_every_s=sweep_every_s)
        self.engine = Engine(settings, openai_client=ScriptedLLM(script or []).client())
        self.server = IntakeServer(self.engine,
                                   IntakeSettings(port=0, retry_base_s=0.05, retry_cap_s=0.2),
                                   credentials, extensions=[extension(credentials)])
        self.standin = standin
        self.url = ""

    @property
    def channel(self) -> ChatwootChannel:
        assert self.server._runner is not None
        return self.server._runner.app[CHANNEL_KEY]

    async def start(self) -> None:
        self.url = await self.server.start()
        self.standin.bot_url = f"{self.url}{ROUTE}"

    async def settled(self, *, passes: int = 0) -> None:
        """Until the sweep has made its first pass (and `passes` more from now), and the
        outbox has sent all it was given."""
        goal = max(1, self.channel.sweeps + passes)
        await self.channel.drain()  # the posts heard of so far are enqueued
        for _ in range(1000):  # polled: the sweep and the outbox are the server's own
            if self.channel.sweeps >= goal and not self.engine.store.outbox.pending():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"not settled: {self.channel.sweeps} sweeps, "
                             f"{self.engine.store.outbox.pending()} deliveries pending")

    async def close(self) -> None:
        await self.standin.stop_sending()  # its echoes of our posts, answered first
        await self.server.close()
        await self.engine.close()


@pytest.fixture
async def standin():
    s = ChatwootStandin()
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def served(settings, standin):
    s = Served(settings, standin)
    await s.start()
    yield s
    await s.close()


def contents(standin: ChatwootStandin, cid: int) -> list[str]:
    return [m.content for m in standin.messages if m.conversation_id == cid]


async def test_answered_through_the_intake_servers_outbox(served, standin):
    standin.conversation(41)
    reply = await standin.send(standin.payload(41, SHIPPING, message_id=1001))
    assert reply.status_code == 200
    await standin.wait_for(lambda: standin.messages)
    assert "Standard shipping" in standin.messages[0].content
    await served.settled()
    assert served.engine.store.outbox.pending() == 0


async def test_a_message_is_a_request_of_the_intake_and_a_redelivery_the_same_one(served,
                                                                                  standin):
    standin.conversation(42)
    payload = standin.payload(42, SHIPPING, message_id=1002)
    reply = await standin.send(payload)
    rid = reply.json()["accepted"]
    assert rid == rid_of(ACCOUNT, 42, 1002)
    # Chatwoot heard 200 only once the request was on disk.
    assert served.engine.store.requests.status(rid) is not None
    async with httpx2.AsyncClient(base_url=served.url, timeout=10) as http:
        view = (await http.get(f"/v1/requests/{rid}", headers={"Prefer": "wait=5"})).json()
    assert (view["status"], view["channel"]) == ("answered", "chatwoot")
    assert (view["external_id"], view["conversation_id"]) == ("1002", "42")
    assert "Standard shipping" in view["answer"]
    # Chatwoot retries a delivery it thinks failed: again, and five at once.
    again = await asyncio.gather(*(standin.send(payload) for _ in range(6)))
    assert {r.json()["accepted"] for r in again} == {rid}
    await standin.wait_for(lambda: standin.messages)
    await served.settled()
    assert contents(standin, 42) == [view["answer"]]
    assert [o.request_id for o in served.engine.store.requests.outcomes()] == [rid]


async def test_a_message_refused_for_rate_and_delivered_again_is_refused_once(settings,
                                                                              standin):
    settings.guard.anonymous_rate_per_minute = 1
    served = Served(settings, standin)
    await served.start()
    try:
        standin.conversation(60)
        await standin.send(standin.payload(60, SHIPPING, message_id=2001))
        refused = standin.payload(60, SHIPPING, message_id=2002)  # one too many
        replies = [await standin.send(refused) for _ in range(2)]
        assert [r.status_code for r in replies] == [200, 200]
        assert {r.json()["accepted"] for r in replies} == {rid_of(ACCOUNT, 60, 2002)}
        await served.settled()
        answered, told = contents(standin, 60)
        assert "Standard shipping" in answered and "try again in a minute" in told
    finally:
        await served.close()


async def test_a_second_escalation_after_the_humans_handed_back_is_handed_over_again(
        served, standin):
    standin.conversation(43)
    await standin.send(standin.payload(43, HUMAN, message_id=1003))
    await standin.wait_for(lambda: standin.statuses)
    # The agents mark the conversation pending: the bot owns it again.
    standin.conversations[43].status = "pending"
    second = standin.payload(43, HUMAN, message_id=1004)
    await standin.send(second)
    await standin.wait_for(lambda: len(standin.statuses) == 2)
    assert standin.statuses == [(43, "open"), (43, "open")]
    assert standin.conversations[43].status == "open"
    # The second message redelivered (the conversation open by now or not): its
    # request was handed over already, and is not handed over again.
    standin.conversations[43].status = "pending"
    await standin.send(second)
    await served.settled()
    assert standin.statuses == [(43, "open"), (43, "open")]
    assert contents(standin, 43) == [HANDOVER, HANDOVER]


@pytest.mark.parametrize("taken", [False, True])
async def test_a_hand_back_in_the_console_gives_the_conversation_back_to_the_bot(
        settings, standin, taken):
    settings.llm.classify = None  # one decide stage keeps the script exact
    answer = "Your blender is under warranty: a new one ships today."
    served = Served(settings, standin, script=[
        final("Let me get a colleague.", intent="technical", handoff="needs a human"),
        final(answer, intent="technical")])
    await served.start()
    try:
        standin.conversation(51)
        await standin.send(standin.payload(51, BLENDER, message_id=1011))
        await standin.wait_for(lambda: standin.statuses)
        if taken:  # one of Chatwoot's agents took the conversation meanwhile
            standin.conversations[51].assignee = {"id": 2, "name": "Grace"}
        queue = served.engine.escalations
        [item] = await queue.list(EscalationState.OPEN)
        await queue.claim(item.id, "alice", 60)
        outcome = await queue.hand_back(item.id, "alice", "It is under warranty.")
        assert outcome.answer == answer
        await served.settled()
        if taken:  # Grace's now: neither the agent's answer nor the bot's status
            assert len(contents(standin, 51)) == 1
            assert standin.statuses == [(51, "open")]
        else:  # the bot's again, and the customer has the agent's answer
            assert contents(standin, 51)[1:] == [answer]
            assert standin.statuses == [(51, "open"), (51, "pending")]
    finally:
        await served.close()


async def outcome_nobody_posted(settings, messages: list[tuple[int, int, str]]) -> None:
    """Runs chatwoot messages through an intake on the data dir with no channel
    listening: their outcomes reach the disk and no post is queued, as a kill -9
    between an outcome and its enqueue leaves them."""
    engine = Engine(settings, openai_client=ScriptedLLM([]).client())
    intake = Intake(engine)
    try:
        for cid, mid, text in messages:
            rid, _ = await intake.submit(
                Request(text=text, channel="chatwoot", id=rid_of(ACCOUNT, cid, mid)),
                external_id=str(mid), conversation_id=str(cid))
            assert await intake.wait(rid, 10)
    finally:
        intake.close()
        await engine.close()


async def test_an_outcome_a_crash_left_unposted_is_posted_once_by_the_next_start(settings,
                                                                                 standin):
    standin.conversation(44)
    standin.conversation(45)
    settings.chatwoot = ChatwootSettings(base_url=standin.url, account_id=ACCOUNT)
    await outcome_nobody_posted(settings, [(44, 1005, SHIPPING), (45, 1006, HUMAN)])
    assert standin.messages == []
    for _ in range(2):  # the next start posts them; the one after finds nothing owed
        served = Served(settings, standin)
        await served.start()
        try:
            await served.settled()
        finally:
            await served.close()
        assert len(contents(standin, 44)) == 1
        assert "Standard shipping" in contents(standin, 44)[0]
        assert contents(standin, 45) == [HANDOVER]
        assert standin.statuses == [(45, "open")]


async def test_an_operators_reply_written_by_another_process_is_posted_once(settings,
                                                                            standin):
    served = Served(settings, standin, sweep_every_s=0.05)
    await served.start()
    console = None
    try:
        standin.conversation(46)
        await standin.send(standin.payload(46, HUMAN, message_id=1007))
        await standin.wait_for(lambda: standin.statuses)
        # The console on the same workstation: its own engine over the same database,
        # whose events the server's channel never hears.
        console = Engine(settings, openai_client=ScriptedLLM([]).client())
        [item] = await console.escalations.list(EscalationState.OPEN)
        await console.escalations.claim(item.id, "alice", 60)
        await console.escalations.reply(item.id, "alice", "Hi Ada, your refund is on its way.")
        await standin.wait_for(lambda: len(contents(standin, 46)) == 2)
        await served.settled(passes=3)
        assert contents(standin, 46) == [HANDOVER, "Hi Ada, your refund is on its way."]
    finally:
        if console is not None:
            await console.close()
        await served.close()


# -- what Chatwoot refuses for good -----------------------------------------------

@pytest.mark.parametrize("status", [401, 403, 404, 422])
async def test_a_refusal_for_good_is_not_retryable_and_a_5xx_is(settings, standin, status):
    api = ChatwootAPI(ChatwootSettings(base_url=standin.url, account_id=ACCOUNT),
                      "not-the-token" if status == 401 else TOKEN)
    standin.conversation(47)
    if status in (403, 422):
        standin.refusing[47] = status
    cid = 47 if status != 404 else 48  # 48: a conversation Chatwoot does not have
    try:
        for kind, payload in ((MESSAGE, {"conversation_id": cid, "content": "hi"}),
                              (STATUS, {"conversation_id": cid, "status": "open"})):
            with pytest.raises(ChatwootError, match=str(status)) as refused:
                await api.deliver(kind, payload)
            assert refused.value.retryable is False
        standin.failing = 503
        with pytest.raises(ChatwootError, match="503") as down:
            await api.deliver(MESSAGE, {"conversation_id": 47, "content": "hi"})
        assert down.value.retryable is True
    finally:
        await api.close()
    assert standin.messages == [] and standin.statuses == []


async def test_the_outboxs_deliverer_says_which_conversation_was_refused(served, standin,
                                                                         caplog):
    standin.conversation(49)
    standin.refusing[49] = 422
    with caplog.at_level(logging.ERROR, "agentcore.channels.chatwoot"):
        await standin.send(standin.payload(49, SHIPPING, message_id=1009))
        await standin.wait_for(lambda: standin.refused)
        for _ in range(100):
            if any("for good" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.02)
    [said] = [r.getMessage() for r in caplog.records if "for good" in r.getMessage()]
    assert "conversation 49" in said and "422" in said
    assert standin.messages == []
