"""A Chatwoot Agent Bot: `POST /channels/chatwoot` on the intake server.

Chatwoot (the open-source inbox behind web chat, email, WhatsApp, Telegram) posts
every event of an inbox its agent bot is connected to to the bot's outgoing URL,
and ignores what the URL answers: a bot replies through the Application API. So:

- a contact's message (`message_created`, `message_type` "incoming", not private)
  in a `pending` conversation (the status Chatwoot gives a conversation while a bot
  owns it) becomes a request of channel "chatwoot", its id made of the account,
  conversation and message ids, so a redelivered webhook is answered once (the
  engine refuses a second request with a used id; each post has a key) and any
  process reading the request later knows the conversation it came from;
- the answer is posted with the messages API; an escalation posts the handover
  message and sets the conversation `open` (toggle_status), which hands it to
  Chatwoot's agents, and it waits in this console's queue like any other;
- an operator's reply from this console's queue is posted to the conversation;
- a message in a conversation a human owns (open, resolved, snoozed), an outgoing
  one (an agent's or a bot's, ours included) and a private note are never answered,
  and an answer is posted only if the conversation is still pending when it goes
  out (a human may have taken it over meanwhile);
- with a webhook secret configured, a delivery whose signature does not match is
  refused with 401 before anything is read from it;
- the route answers 200 at once; the work runs in the background.

The contact is mapped to the domain's customer by its custom attribute
(`customer_attribute`, default `customer_id`) or, when numeric, its `identifier`
(the site's user id given to the widget's `setUser`); otherwise the request is
anonymous and gets no customer's data. The Domain protocol is left as it is.

Posts go through `Deliveries`: the intake's durable outbox when the channel is
the intake server's extension (kinds "chatwoot_message" and "chatwoot_status",
on disk before anything is sent, retried across restarts, at least once per key),
else an in-process retrying stand-in (nothing survives a crash).

Sources (Chatwoot, chatwoot/chatwoot): AgentBotListener#message_created sends
`message.webhook_data.merge(event:)` to the bot's `outgoing_url` for
`webhook_sendable?` messages (app/listeners/agent_bot_listener.rb); Message#webhook_data
(app/models/message.rb) gives id, content, message_type, private, sender,
conversation (Conversations::EventDataPresenter#push_data: display id, status,
meta.sender, meta.assignee), inbox, account; Contact#webhook_data adds identifier,
email and custom_attributes. The API: "Create New Message" and "Toggle Status"
(developers.chatwoot.com/api-reference, messages/create-new-message,
conversations/toggle-status), header `api_access_token`. Signatures: PR #13573
(X-Chatwoot-Signature `sha256=` HMAC-SHA256 of "<X-Chatwoot-Timestamp>.<body>",
X-Chatwoot-Delivery) and PR #13892 (agent bot webhooks signed with the bot's own
secret, Chatwoot 4.13).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

from agentcore.channels._chatwoot_api import MESSAGE, STATUS, ChatwootAPI
from agentcore.channels._chatwoot_settings import ChatwootSettings
from agentcore.channels._chatwoot_webhook import (
    IncomingMessage,
    incoming,
    parse_body,
    signature_problem,
)
from agentcore.channels._deliveries import Deliveries, InProcessDeliveries
from agentcore.errors import ChatwootError, SettingsError
from agentcore.escalation_model import EscalationState
from agentcore.events import (
    EscalationChanged,
    Event,
    RequestAnswered,
    RequestEscalated,
    RequestRejected,
)
from agentcore.models import Outcome, Request, Route

if TYPE_CHECKING:
    from agentcore.credentials import KeyringCredentials
    from agentcore.engine import Engine

log = logging.getLogger("agentcore.channels.chatwoot")

__all__ = ["CHANNEL", "CHANNEL_KEY", "ROUTE", "ChatwootAPI", "ChatwootChannel", "ChatwootError",
           "ChatwootSettings", "conversation_in", "extension", "install",
           "request_id_for"]

CHANNEL = "chatwoot"
ROUTE = "/channels/chatwoot"
_ID_PREFIX = "chatwoot-"


def request_id_for(account_id: int, conversation_id: int, message_id: int) -> str:
    """The request a Chatwoot message becomes: the same for every delivery of it, and
    naming its conversation, so a restarted process still knows where to post its
    outcome or an operator's reply (the engine keeps the id, no new column needed)."""
    return f"{_ID_PREFIX}{account_id}-{conversation_id}-{message_id}"


def conversation_in(request_id: str, account_id: int) -> int | None:
    """The conversation a request of ours came from, read back from its id; None for
    another channel's request or another account's."""
    if not request_id.startswith(_ID_PREFIX):
        return None
    parts = request_id[len(_ID_PREFIX):].split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or int(parts[0]) != account_id:
        return None
    return int(parts[1])


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]


class ChatwootChannel:
    def __init__(self, engine: Engine, settings: ChatwootSettings, api: ChatwootAPI, *,
                 secret: str | None, deliveries: Deliveries | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.api = api
        self._secret = secret
        self.deliveries: Deliveries = deliveries or InProcessDeliveries(api.deliver)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe = engine.subscribe(self._on_event)

    # -- the route -----------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if len(body) > self.settings.max_body_bytes:
            return web.json_response({"error": "the webhook is too large"}, status=413)
        if self._secret is not None:
            problem = signature_problem(self._secret, request.headers, body,
                                        self.engine.clock.now(),
                                        self.settings.signature_tolerance_s)
            if problem is not None:
                log.warning("refused a Chatwoot webhook: %s", problem)
                return web.json_response({"error": problem}, status=401)
        data = parse_body(body)
        if data is None:
            return web.json_response({"error": "the body is not a JSON object"}, status=400)
        found = incoming(data, self.settings)
        if isinstance(found, str):
            log.debug("Chatwoot webhook left alone: %s", found)
            return web.json_response({"ignored": found})
        self._spawn(self._answer(found))
        return web.json_response({"accepted": request_id_for(
            found.account_id, found.conversation_id, found.message_id)})

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Chatwoot work failed", exc_info=task.exception())

    async def _answer(self, message: IncomingMessage) -> None:
        rid = request_id_for(message.account_id, message.conversation_id, message.message_id)
        if self.engine.store.requests.status(rid) is not None:
            # Seen before (Chatwoot retried a slow delivery): not counted against the
            # customer's rate limit again. Two arriving at once both get past this,
            # and the engine refuses the second.
            log.debug("Chatwoot message %d delivered again: answered once", message.message_id)
            return
        # A redelivery reuses the id: the engine refuses it ("duplicate id") without
        # touching the first, and `_on_event` posts nothing for that refusal.
        await self.engine.submit(Request(text=message.text, customer_id=message.customer_id,
                                         channel=CHANNEL, id=rid))

    # -- outcomes back to Chatwoot ----------------------------------------------

    def _on_event(self, event: Event) -> None:
        # Called synchronously on the engine's loop: the posts are enqueued from here.
        if isinstance(event, RequestAnswered | RequestRejected | RequestEscalated):
            outcome = event.outcome
            if outcome.request.channel == CHANNEL:
                self._spawn(self._post_outcome(outcome, event))
        elif isinstance(event, EscalationChanged):
            self._spawn(self._post_reply(event.escalation_id))

    def conversation_of(self, request_id: str) -> int | None:
        return conversation_in(request_id, self.settings.account_id)

    async def _enqueue(self, kind: str, conversation: int, payload: dict[str, Any],
                       key: str) -> None:
        result = self.deliveries.enqueue(kind, self.api.conversation_url(conversation),
                                         {"conversation_id": conversation, **payload}, key)
        if inspect.isawaitable(result):
            await result

    async def _post_outcome(self, outcome: Outcome, event: Event) -> None:
        rid = outcome.request_id
        if isinstance(event, RequestRejected) and outcome.errors == ["rejected: duplicate id"]:
            return  # a redelivery: the first delivery's request answers it
        conversation = self.conversation_of(rid)
        if conversation is None:
            log.error("request %s is of channel %r but names no conversation of account "
                      "%d: its outcome is not posted", rid, CHANNEL, self.settings.account_id)
            return
        if isinstance(event, RequestEscalated):
            # What the rule says to a customer who asked for a person, else ours.
            told = outcome.answer or self.settings.handover_message
            if told:
                await self._enqueue(MESSAGE, conversation, {"content": told},
                                    f"chatwoot:{rid}:handover")
            await self._enqueue(STATUS, conversation, {"status": "open"},
                                f"chatwoot:{rid}:open")
            return
        if outcome.answer:
            # Keyed by the text: a re-run (a hand-back) that answers anew is posted too.
            await self._enqueue(MESSAGE, conversation,
                                {"content": outcome.answer, "only_if_pending": True},
                                f"chatwoot:{rid}:answer:{_digest(outcome.answer)}")

    async def _post_reply(self, escalation_id: int) -> None:
        store = self.engine.store
        item = store.escalations.get(escalation_id, self.engine.clock.now())
        if (item is None or item.request.channel != CHANNEL
                or item.state is not EscalationState.RESOLVED or item.resolution != "replied"):
            return
        summary = store.requests.outcome(item.request.id)
        if summary is None or summary.route is not Route.HUMAN or not summary.answer:
            return
        conversation = self.conversation_of(item.request.id)
        if conversation is None:
            log.error("escalation %d's reply is not posted: its request names no Chatwoot "
                      "conversation of account %d", escalation_id, self.settings.account_id)
            return
        await self._enqueue(MESSAGE, conversation, {"content": summary.answer},
                            f"chatwoot:{item.request.id}:reply:{_digest(summary.answer)}")

    # -- life ------------------------------------------------------------------

    async def drain(self) -> None:
        """Waits for the work begun so far, and (in process) for its deliveries."""
        while self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)
        if isinstance(self.deliveries, InProcessDeliveries):
            await self.deliveries.drain()

    async def close(self) -> None:
        self._unsubscribe()
        for task in tuple(self._tasks):
            task.cancel()
        await asyncio.gather(*tuple(self._tasks), return_exceptions=True)
        if isinstance(self.deliveries, InProcessDeliveries):
            await self.deliveries.close()
        await self.api.close()


async def _deliverer(api: ChatwootAPI, kind: str, _target: str, payload: dict[str, Any],
                     _delivery_id: str) -> None:
    await api.deliver(kind, payload)


CHANNEL_KEY = web.AppKey("chatwoot_channel", ChatwootChannel)


def secrets_of(settings: ChatwootSettings,
               credentials: KeyringCredentials) -> tuple[str, str | None]:
    """The API token and the webhook secret from the keyring; SettingsError names a
    missing one (a channel that could not post, or would take unsigned webhooks it
    was told to check, must not start)."""
    token = credentials.get(settings.api_token_name)
    if not token:
        raise SettingsError(f"Chatwoot's access token is not in the keyring (entry "
                            f"{settings.api_token_name!r}): store it before starting")
    secret = None
    if settings.webhook_secret_name:
        secret = credentials.get(settings.webhook_secret_name)
        if not secret:
            raise SettingsError(f"Chatwoot's webhook secret is not in the keyring (entry "
                                f"{settings.webhook_secret_name!r})")
    return token, secret


def _server_outbox(app: web.Application) -> Deliveries | None:
    """The intake server's durable outbox, when the app is the intake's."""
    from agentcore.intake.server import SERVER

    server = app.get(SERVER)
    outbox = getattr(server, "outbox", None)
    return outbox if outbox is not None and hasattr(outbox, "register") else None


def install(app: web.Application, engine: Engine, settings: ChatwootSettings,
            credentials: KeyringCredentials, *,
            deliveries: Deliveries | None = None) -> ChatwootChannel:
    """Adds `POST /channels/chatwoot` to the intake's app; the channel closes with it."""
    token, secret = secrets_of(settings, credentials)
    api = ChatwootAPI(settings, token)
    register = getattr(deliveries, "register", None)
    if register is not None:
        # The intake's outbox: on disk, retried across restarts; its deliverers take
        # (target, payload, delivery id), ours need only the payload.
        for kind in (MESSAGE, STATUS):
            register(kind, partial(_deliverer, api, kind))
    channel = ChatwootChannel(engine, settings, api, secret=secret, deliveries=deliveries)
    app.router.add_post(ROUTE, channel.handle)
    app[CHANNEL_KEY] = channel  # for whoever serves the app: drain, stats, tests

    async def _closing(_app: web.Application) -> None:
        await channel.close()

    app.on_cleanup.append(_closing)
    return channel


def extension(credentials: KeyringCredentials, *, deliveries: Deliveries | None = None
              ) -> Callable[[web.Application, Engine], None]:
    """The intake server's extension (`IntakeServer(..., extensions=[...])`): installs the
    channel when the engine's settings have `chatwoot`, and nothing otherwise."""
    def _install(app: web.Application, engine: Engine) -> None:
        if engine.settings.chatwoot is not None:
            install(app, engine, engine.settings.chatwoot, credentials,
                    deliveries=deliveries or _server_outbox(app))
            log.info("Chatwoot agent bot on %s for account %d", ROUTE,
                     engine.settings.chatwoot.account_id)
    return _install
