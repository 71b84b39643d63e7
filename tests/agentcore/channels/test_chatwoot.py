"""The Chatwoot Agent Bot channel against a stand-in Chatwoot on a loopback port: real
HTTP both ways (webhooks in, API posts out), a real engine over real SQLite."""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import httpx2
import pytest
from aiohttp import web

from agentcore import Engine
from agentcore.channels import ChatwootSettings
from agentcore.channels.chatwoot import CHANNEL_KEY, ROUTE, extension, request_id_for
from agentcore.credentials import KeyringCredentials
from agentcore.errors import SettingsError
from agentcore.escalation_model import EscalationState
from tests.agentcore.channels.chatwoot_standin import ACCOUNT, TOKEN, ChatwootStandin
from tests.agentcore.scripted_llm import ScriptedLLM

SHIPPING = "How long does shipping take?"
HUMAN = "I want to talk to a human"
SECRET = "whsec-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Bot:
    """The engine with the channel on a served aiohttp app, and the stand-in."""

    def __init__(self, settings, standin: ChatwootStandin, *, secret: str | None) -> None:
        self.settings = settings
        self.standin = standin
        self.secret = secret
        self.engine = Engine(settings, openai_client=ScriptedLLM([]).client())
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        credentials = KeyringCredentials()
        credentials.set("chatwoot", TOKEN)
        cw = ChatwootSettings(base_url=self.standin.url, account_id=ACCOUNT,
                              webhook_secret_name="chatwoot-webhook" if self.secret else None,
                              customer_attribute="customer_id",  # the team's CRM sets it
                              identifier_is_customer_id=True)  # identity validation on
        if self.secret:
            credentials.set("chatwoot-webhook", self.secret)
        # As the intake server does: its extensions read the engine's settings.
        self.engine.settings.chatwoot = cw
        app = web.Application()
        extension(credentials)(app, self.engine)
        self.channel = app[CHANNEL_KEY]
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.standin.bot_url = f"http://127.0.0.1:{port}{ROUTE}"

    async def settle(self) -> None:
        """Until the channel and the stand-in's echoes have nothing left to do."""
        for _ in range(3):  # an echo may start new work, and that work new echoes
            await self.channel.drain()
            await self.standin.stop_sending()

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        await self.engine.close()


@pytest.fixture
async def standin():
    s = ChatwootStandin(secret=SECRET)  # signed: contacts are mapped to customers
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def bot(settings, standin):
    b = Bot(settings, standin, secret=SECRET)
    await b.start()
    yield b
    await b.close()


def requests_of(engine: Engine) -> list[str]:
    return [o.request_id for o in engine.store.requests.outcomes()]


async def test_a_pending_conversation_is_answered_in_it(bot, standin):
    standin.conversation(11)
    reply = await standin.send(standin.payload(11, SHIPPING, message_id=501))
    assert reply.status_code == 200
    await standin.wait_for(lambda: standin.messages)
    await bot.settle()
    # Answered once, in its conversation, as an outgoing public message: the echo of
    # the bot's own message (Chatwoot sends it back as outgoing) is not answered.
    assert len(standin.messages) == 1
    posted = standin.messages[0]
    assert posted.conversation_id == 11
    assert "Standard shipping takes 3-5 business days" in posted.content
    assert (posted.message_type, posted.private) == ("outgoing", False)
    assert requests_of(bot.engine) == [request_id_for(ACCOUNT, 11, 501)]
    assert standin.statuses == []  # still the bot's: nothing handed over


async def test_a_conversation_a_human_owns_is_left_alone(bot, standin):
    standin.conversation(12, status="open")
    standin.conversation(13, status="resolved")
    for cid in (12, 13):
        reply = await standin.send(standin.payload(cid, SHIPPING))
        assert reply.status_code == 200
        assert "human owns it" in reply.json()["ignored"]
    await bot.settle()
    assert standin.messages == []
    assert requests_of(bot.engine) == []


async def test_an_agents_message_and_a_private_note_are_not_answered(bot, standin):
    standin.conversation(14)
    agent = {"id": 2, "name": "Grace", "email": "grace@shop.test", "type": "user"}
    for payload in (standin.payload(14, SHIPPING, message_type="outgoing", sender=agent),
                    standin.payload(14, SHIPPING, private=True, sender=agent),
                    standin.payload(14, SHIPPING, private=True)):
        reply = await standin.send(payload)
        assert reply.status_code == 200 and "ignored" in reply.json()
    await bot.settle()
    assert standin.messages == []
    assert requests_of(bot.engine) == []


async def test_an_escalation_hands_the_conversation_over_and_waits_in_the_queue(bot, standin):
    standin.conversation(15)
    await standin.send(standin.payload(15, HUMAN, message_id=601))
    await standin.wait_for(lambda: standin.statuses)
    await bot.settle()
    assert standin.statuses == [(15, "open")]
    assert standin.conversations[15].status == "open"
    assert len(standin.messages) == 1  # the customer is told a person will reply
    items = await bot.engine.escalations.list(EscalationState.OPEN)
    assert [i.request.id for i in items] == [request_id_for(ACCOUNT, 15, 601)]
    # The conversation is the humans' now: the customer's next message is not answered.
    await standin.send(standin.payload(15, SHIPPING))
    await bot.settle()
    assert len(standin.messages) == 1


async def test_an_operators_reply_here_is_posted_to_the_conversation(bot, standin):
    standin.conversation(16)
    await standin.send(standin.payload(16, HUMAN, message_id=602))
    await standin.wait_for(lambda: standin.statuses)
    await bot.settle()
    queue = bot.engine.escalations
    [item] = await queue.list(EscalationState.OPEN)
    await queue.claim(item.id, "alice", 60)
    await queue.reply(item.id, "alice", "Hi Ada, I've looked at it: a refund is on its way.")
    await standin.wait_for(lambda: len(standin.messages) == 2)
    await bot.settle()
    assert standin.messages[-1].conversation_id == 16
    assert standin.messages[-1].content == "Hi Ada, I've looked at it: a refund is on its way."
    assert len(standin.messages) == 2  # posted once, though the queue changed twice


async def test_a_redelivered_message_is_answered_once(bot, standin):
    standin.conversation(17)
    payload = standin.payload(17, SHIPPING, message_id=701)
    await standin.send(payload)
    await standin.wait_for(lambda: standin.messages)
    await bot.settle()
    # Chatwoot retries a delivery it thinks failed: again, and five at once.
    await standin.send(payload)
    await asyncio.gather(*(standin.send(payload) for _ in range(5)))
    await bot.settle()
    assert len(standin.messages) == 1
    assert requests_of(bot.engine) == [request_id_for(ACCOUNT, 17, 701)]


async def test_concurrent_first_deliveries_are_answered_once(bot, standin):
    standin.conversation(18)
    payload = standin.payload(18, SHIPPING, message_id=702)
    replies = await asyncio.gather(*(standin.send(payload) for _ in range(6)))
    assert all(r.status_code == 200 for r in replies)
    await standin.wait_for(lambda: standin.messages)
    await bot.settle()
    assert len(standin.messages) == 1
    assert requests_of(bot.engine) == [request_id_for(ACCOUNT, 18, 702)]


class Refusals(logging.Handler):
    """Counts the deliveries the channel logged Chatwoot did not take, as they happen."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "failed, again in" in record.getMessage():
            self.count += 1
            self.changed.set()

    async def reach(self, times: int) -> None:
        async def _wait() -> None:
            while self.count < times:
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(_wait(), 10)


@pytest.fixture
def refusals():
    handler = Refusals()
    logger = logging.getLogger("agentcore.channels.chatwoot")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_a_mapping_of_contacts_to_customers_needs_signed_webhooks():
    # Unsigned, anyone reaching the route could claim customer 42 and read their orders.
    for mapping in ({"customer_attribute": "customer_id"}, {"identifier_is_customer_id": True}):
        with pytest.raises(ValueError, match="must be signed: set webhook_secret_name"):
            ChatwootSettings(base_url="https://chat.example.com", account_id=1, **mapping)
        ChatwootSettings(base_url="https://chat.example.com", account_id=1,
                         webhook_secret_name="cw-secret", **mapping)
    ChatwootSettings(base_url="https://chat.example.com", account_id=1)  # nobody's: fine


async def test_a_post_chatwoot_could_not_take_is_retried_and_delivered_once(settings, refusals):
    standin = ChatwootStandin(port=free_port(), secret=SECRET)  # not started: Chatwoot is down
    b = Bot(settings, standin, secret=SECRET)
    await b.start()
    try:
        standin.conversation(19)
        reply = await standin.send(standin.payload(19, SHIPPING, message_id=801))
        assert reply.status_code == 200  # the webhook is taken though Chatwoot is down
        await refusals.reach(2)  # tried, and tried again, while it was down
        await standin.start()
        await standin.wait_for(lambda: standin.messages)
        await b.settle()
        assert len(standin.messages) == 1
        assert "Standard shipping" in standin.messages[0].content
    finally:
        await b.close()
        await standin.stop()


class TestSignatures:
    @pytest.fixture
    async def standin(self):
        s = ChatwootStandin(secret=SECRET)
        await s.start()
        yield s
        await s.stop()

    @pytest.fixture
    async def bot(self, settings, standin):
        b = Bot(settings, standin, secret=SECRET)
        await b.start()
        yield b
        await b.close()

    async def test_a_signed_webhook_is_answered(self, bot, standin):
        standin.conversation(21)
        reply = await standin.send(standin.payload(21, SHIPPING))
        assert reply.status_code == 200
        await standin.wait_for(lambda: standin.messages)

    @pytest.mark.parametrize("how", ["wrong secret", "unsigned", "stale", "tampered"])
    async def test_a_signature_mismatch_is_refused_and_nothing_answered(self, bot, standin,
                                                                        how):
        standin.conversation(22)
        payload = standin.payload(22, SHIPPING)
        if how == "tampered":
            # Signed for another body: what a man in the middle would send.
            headers = standin.headers_for(b'{"event": "message_created"}')
            async with httpx2.AsyncClient() as client:
                reply = await client.post(standin.bot_url, content=json.dumps(payload),
                                          headers=headers)
        elif how == "unsigned":
            async with httpx2.AsyncClient() as client:
                reply = await client.post(standin.bot_url, json=payload)
        else:
            reply = await standin.send(
                payload, secret="not-the-secret" if how == "wrong secret" else None,
                timestamp=1_000_000_000 if how == "stale" else None)
        assert reply.status_code == 401
        await bot.settle()
        assert standin.messages == []
        assert requests_of(bot.engine) == []


@pytest.mark.parametrize(("contact", "customer"), [
    ({"custom_attributes": {"customer_id": "42"}, "identifier": "u-9"}, 42),
    ({"custom_attributes": {}, "identifier": "17"}, 17),
    ({"custom_attributes": {"plan": "gold"}, "identifier": "ada@example.com"}, None),
    ({"email": "ada@example.com"}, None),  # never guessed from an email
])
async def test_the_contact_is_the_domains_customer_only_when_it_says_so(bot, standin, contact,
                                                                         customer):
    standin.conversation(31, contact={"id": 77, "name": "Ada", **contact})
    await standin.send(standin.payload(31, SHIPPING, message_id=901))
    await standin.wait_for(lambda: standin.messages)
    await bot.settle()
    request = bot.engine.store.requests.request(request_id_for(ACCOUNT, 31, 901))
    assert request is not None and request.channel == "chatwoot"
    assert request.customer_id == customer


async def test_an_oversized_webhook_is_refused_unread(bot, standin):
    standin.conversation(32)
    reply = await standin.send(standin.payload(32, "x" * 300_000))
    assert reply.status_code == 413
    await bot.settle()
    assert standin.messages == [] and requests_of(bot.engine) == []


async def test_a_reply_after_a_restart_still_reaches_its_conversation(settings, standin):
    first = Bot(settings, standin, secret=SECRET)
    await first.start()
    standin.conversation(33)
    await standin.send(standin.payload(33, HUMAN, message_id=903))
    await standin.wait_for(lambda: standin.statuses)
    await first.settle()
    await first.close()
    # Another process over the same database: nothing of the first is in memory.
    second = Bot(settings, standin, secret=SECRET)
    await second.start()
    try:
        queue = second.engine.escalations
        [item] = await queue.list(EscalationState.OPEN)
        await queue.claim(item.id, "bob", 60)
        await queue.reply(item.id, "bob", "Sorted: your parcel leaves today.")
        await standin.wait_for(lambda: len(standin.messages) == 2)
        assert (standin.messages[-1].conversation_id,
                standin.messages[-1].content) == (33, "Sorted: your parcel leaves today.")
    finally:
        await second.close()


async def test_an_answer_is_not_posted_once_a_human_took_the_conversation(settings, refusals):
    standin = ChatwootStandin(port=free_port(), secret=SECRET)  # down while the agent works
    b = Bot(settings, standin, secret=SECRET)
    await b.start()
    try:
        standin.conversation(34)
        standin.conversation(35)
        await standin.send(standin.payload(34, SHIPPING, message_id=904))
        await standin.send(standin.payload(35, SHIPPING, message_id=905))
        standin.conversations[34].status = "open"  # an agent took this one meanwhile
        await refusals.reach(2)  # both answers wait for Chatwoot to come back
        await standin.start()
        await standin.wait_for(lambda: standin.messages)
        await b.settle()
        assert [m.conversation_id for m in standin.messages] == [35]
    finally:
        await b.close()
        await standin.stop()


async def test_a_post_refused_for_good_is_given_up_with_its_conversation_named(bot, standin,
                                                                             caplog):
    standin.conversation(36)
    standin.refusing[36] = 403  # e.g. a token that may not post in this inbox
    with caplog.at_level(logging.ERROR, "agentcore.channels.chatwoot"):
        await standin.send(standin.payload(36, SHIPPING, message_id=906))
        await standin.wait_for(lambda: standin.refused)
        await bot.settle()  # returns: nothing is left retrying
    assert standin.refused == [(36, 403)]  # tried once, never again
    [said] = [r.getMessage() for r in caplog.records if "gave up" in r.getMessage()]
    assert "conversation 36" in said and "403" in said


def test_the_channel_is_off_without_settings_and_refuses_to_start_without_its_secrets(
        settings):
    engine = Engine(settings, openai_client=ScriptedLLM([]).client())
    credentials = KeyringCredentials()
    app = web.Application()
    extension(credentials)(app, engine)
    assert CHANNEL_KEY not in app and not app.router.routes()  # no chatwoot: no route
    engine.settings.chatwoot = ChatwootSettings(base_url="http://127.0.0.1:9", account_id=1,
                                                webhook_secret_name="cw-secret")
    with pytest.raises(SettingsError, match="access token is not in the keyring"):
        extension(credentials)(web.Application(), engine)
    credentials.set("chatwoot", TOKEN)
    # Told to check signatures but given no secret: it must not take unsigned webhooks.
    with pytest.raises(SettingsError, match="webhook secret is not in the keyring"):
        extension(credentials)(web.Application(), engine)
    asyncio.run(engine.close())


def test_out_of_the_box_a_contact_claims_nobody():
    # A visitor can set both from the web widget: trusted only when the team says so.
    from agentcore.channels._chatwoot_webhook import customer_of

    contact = {"custom_attributes": {"customer_id": "42"}, "identifier": "17"}
    assert customer_of(contact, ChatwootSettings(base_url="http://127.0.0.1:9",
                                                 account_id=1)) is None
