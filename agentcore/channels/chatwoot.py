"""A Chatwoot Agent Bot: `POST /channels/chatwoot` on the intake server.

Chatwoot (the open-source inbox behind web chat, email, WhatsApp, Telegram) posts
every event of an inbox its agent bot is connected to to the bot's outgoing URL,
and ignores what the URL answers: a bot replies through the Application API. So:

- a contact's message (`message_created`, `message_type` "incoming", not private)
  in a `pending` conversation (the status Chatwoot gives a conversation while a bot
  owns it) becomes a request of channel "chatwoot", its id made of the account,
  conversation and message ids, so any process reading the request later knows
  the conversation it came from; on the intake server it is submitted through the
  intake (`Intake.submit`, external id the message id, conversation id recorded),
  so a redelivered webhook is the same request by the intake's idempotency, shown
  by `GET /v1/requests/{id}`, and on disk as accepted before Chatwoot hears 200
  (embedded without an intake: the engine refuses a second request with a used id);
- the answer is posted with the messages API; an escalation posts the handover
  message and sets the conversation `open` (toggle_status), which hands it to
  Chatwoot's agents, and it waits in this console's queue like any other;
- an operator's reply from this console's queue is posted to the conversation; a
  hand-back whose re-run answers sets the conversation pending again (the bot's) and
  posts the answer, unless a Chatwoot agent took it meanwhile (assigned or closed);
- a message in a conversation a human owns (open, resolved, snoozed), an outgoing
  one (an agent's or a bot's, ours included) and a private note are never answered,
  and an answer is posted only if the conversation is still pending when it goes
  out (a human may have taken it over meanwhile);
- with a webhook secret configured, a delivery whose signature does not match is
  refused with 401 before anything is read from it;
- the route answers 200 at once (on the intake: once the request is on disk); the
  answer is worked out in the background.

The contact is mapped to the domain's customer by its custom attribute
(`customer_attribute`, default `customer_id`) or, when numeric, its `identifier`
(the site's user id given to the widget's `setUser`); otherwise the request is
anonymous and gets no customer's data. The Domain protocol is left as it is.

Posts go through `Deliveries`: the intake's durable outbox when the channel is
the intake server's extension (kinds "chatwoot_message" and "chatwoot_status",
on disk before anything is sent, retried across restarts, at least once per key),
else an in-process retrying stand-in (nothing survives a crash). With the outbox,
a sweep (at start, then every `sweep_every_s`) enqueues what is owed and was never
queued: an outcome a crash caught before its enqueue, an operator's reply another
process wrote to the same database (`_chatwoot_posts` keys both ways alike). What
Chatwoot refuses for good (401, 403, 404, 422) is given up, logged with the
conversation, never retried.

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
import inspect
import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

from agentcore.channels._chatwoot_api import MESSAGE, STATUS, ChatwootAPI
from agentcore.channels._chatwoot_posts import (
    KEY_PREFIX,
    Post,
    answer_posts,
    handover_posts,
    posts_of_stored,
    reply_posts,
)
from agentcore.channels._chatwoot_settings import ChatwootSettings
from agentcore.channels._chatwoot_webhook import (
    IncomingMessage,
    incoming,
    parse_body,
    signature_problem,
)
from agentcore.channels._deliveries import Deliveries, InProcessDeliveries
from agentcore.errors import ChatwootError, SettingsError, StorageError
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
    from agentcore.intake.service import Intake

log = logging.getLogger("agentcore.channels.chatwoot")

__all__ = ["CHANNEL", "CHANNEL_KEY", "ROUTE", "ChatwootAPI", "ChatwootChannel", "ChatwootError",
           "ChatwootSettings", "conversation_in", "extension", "install",
           "request_id_for"]

CHANNEL = "chatwoot"
ROUTE = "/channels/chatwoot"
_ID_PREFIX = "chatwoot-"
# The first sweep looks this far back: a crash's gap is seconds, a restart may take a
# while, and a day-old answer owed is still worth posting; the scan at start stays
# bounded however long the database has run.
OWED_LOOKBACK_S = 24 * 3600.0
# Each later sweep looks back to the previous one's start less this: an outcome reaches
# the disk a little after it finished (the writer batches), and another process's
# clock may be a little behind ours.
SWEEP_OVERLAP_S = 120.0


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


class ChatwootChannel:
    """`intake`: the intake server's, submitted through (None: embedded, straight to the
    engine). `sweep_every_s`: how often to enqueue what is owed and not queued; only
    with a durable outbox, which records what was queued (None: no sweep)."""

    def __init__(self, engine: Engine, settings: ChatwootSettings, api: ChatwootAPI, *,
                 secret: str | None, deliveries: Deliveries | None = None,
                 intake: Intake | None = None, sweep_every_s: float | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.api = api
        self._secret = secret
        self.deliveries: Deliveries = deliveries or InProcessDeliveries(api.deliver)
        self.intake = intake
        self._sweep_every_s = sweep_every_s
        self._sweeper: asyncio.Task[None] | None = None
        self.swept = 0  # posts the sweeps found owed and enqueued, since start
        self.sweeps = 0  # passes completed, since start
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
        if self.intake is not None:
            # Accepted on disk before Chatwoot hears 200 (the answer follows in the
            # background): a crash after the 200 loses nothing, and a failure to
            # accept answers 5xx instead of a 200 that lies.
            return web.json_response({"accepted": await self._submit(self.intake, found)})
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

    @staticmethod
    def _request(message: IncomingMessage) -> Request:
        return Request(text=message.text, customer_id=message.customer_id, channel=CHANNEL,
                       id=request_id_for(message.account_id, message.conversation_id,
                                         message.message_id))

    async def _submit(self, intake: Intake, message: IncomingMessage) -> str:
        """Through the intake: the message id is the external id, so a redelivery (or
        five at once, or one after a restart) is the first delivery's request."""
        request = self._request(message)
        if self.engine.store.requests.status(request.id) is not None:
            # On disk already: answered, under way, or refused for rate (whose key the
            # intake frees for a retry, though the engine refuses a used id anyway).
            log.debug("Chatwoot message %d delivered again: request %s", message.message_id,
                      request.id)
            return request.id
        rid, created = await intake.submit(request,
                                           external_id=str(message.message_id),
                                           conversation_id=str(message.conversation_id))
        if not created:
            log.debug("Chatwoot message %d delivered again: request %s", message.message_id,
                      rid)
        return rid

    async def _answer(self, message: IncomingMessage) -> None:
        request = self._request(message)
        if self.engine.store.requests.status(request.id) is not None:
            # Seen before (Chatwoot retried a slow delivery): not counted against the
            # customer's rate limit again. Two arriving at once both get past this,
            # and the engine refuses the second.
            log.debug("Chatwoot message %d delivered again: answered once", message.message_id)
            return
        # A redelivery reuses the id: the engine refuses it ("duplicate id") without
        # touching the first, and `_on_event` posts nothing for that refusal.
        await self.engine.submit(request)

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

    async def _enqueue(self, conversation: int, post: Post) -> None:
        result = self.deliveries.enqueue(post.kind, self.api.conversation_url(conversation),
                                         {"conversation_id": conversation, **post.payload},
                                         post.key)
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
            posts = handover_posts(rid, outcome.answer, self.settings.handover_message)
        else:
            posts = answer_posts(rid, outcome.answer, handed_back=isinstance(
                event, RequestAnswered) and outcome.request.note is not None)
        for post in posts:
            await self._enqueue(conversation, post)

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
        for post in reply_posts(item.request.id, summary.answer):
            await self._enqueue(conversation, post)

    # -- what is owed and was never queued ---------------------------------------

    async def sweep(self, since: float) -> int:
        """Enqueues every post owed for the outcomes of our requests finished since
        `since` that the outbox has no key for; how many it enqueued."""
        rows = await asyncio.to_thread(self.engine.store.intake.channel_outcomes, CHANNEL,
                                       KEY_PREFIX, since)
        owed = 0
        for row in rows:
            conversation = self.conversation_of(row.request_id)
            if conversation is None:
                continue  # another account's request, on a database two bots share
            for post in posts_of_stored(row.request_id, row.status, row.route, row.answer,
                                        row.resolution, row.handed_back,
                                        self.settings.handover_message):
                if post.key not in row.queued:
                    await self._enqueue(conversation, post)
                    log.warning("enqueued a post owed to Chatwoot conversation %d that "
                                "nothing had queued (%s)", conversation, post.key)
                    owed += 1
        self.swept += owed
        return owed

    async def _sweep_forever(self, every_s: float) -> None:
        since = self.engine.clock.now() - OWED_LOOKBACK_S
        while True:
            began = self.engine.clock.now()
            try:
                await self.sweep(since)
                since = began - SWEEP_OVERLAP_S
                self.sweeps += 1
            except StorageError as exc:  # the window stays: the next sweep covers it
                log.error("the sweep for posts owed to Chatwoot failed: %s", exc)
            await asyncio.sleep(every_s)

    def start(self) -> None:
        """Starts the sweep (when there is one): its first pass runs at once."""
        if self._sweep_every_s is not None and self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(
                self._sweep_forever(self._sweep_every_s), name="chatwoot sweep")

    # -- life ------------------------------------------------------------------

    async def drain(self) -> None:
        """Waits for the work begun so far, and (in process) for its deliveries."""
        while self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)
        if isinstance(self.deliveries, InProcessDeliveries):
            await self.deliveries.drain()

    async def close(self) -> None:
        self._unsubscribe()
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        for task in tuple(self._tasks):
            task.cancel()
        await asyncio.gather(*tuple(self._tasks), return_exceptions=True)
        if isinstance(self.deliveries, InProcessDeliveries):
            await self.deliveries.close()
        await self.api.close()


async def _deliverer(api: ChatwootAPI, kind: str, _target: str, payload: dict[str, Any],
                     delivery_id: str) -> None:
    try:
        await api.deliver(kind, payload)
    except ChatwootError as exc:
        if not exc.retryable:
            # The outbox marks it dead (never retried): said here with the conversation,
            # so whoever reads the log knows which customer went without.
            log.error("Chatwoot refused %s %s for conversation %s for good, not retried: %s",
                      kind, delivery_id, payload.get("conversation_id"), exc)
        raise


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


def _server_intake(app: web.Application) -> Intake | None:
    """The intake server's `Intake`, when the app is the intake's."""
    from agentcore.intake.server import INTAKE

    return app.get(INTAKE)


def install(app: web.Application, engine: Engine, settings: ChatwootSettings,
            credentials: KeyringCredentials, *, deliveries: Deliveries | None = None,
            intake: Intake | None = None) -> ChatwootChannel:
    """Adds `POST /channels/chatwoot` to the intake's app; the channel starts and closes
    with it. `intake`: submitted through it (its idempotency, its views)."""
    token, secret = secrets_of(settings, credentials)
    api = ChatwootAPI(settings, token)
    register = getattr(deliveries, "register", None)
    if register is not None:
        # The intake's outbox: on disk, retried across restarts; its deliverers take
        # (target, payload, delivery id), ours need only the payload.
        for kind in (MESSAGE, STATUS):
            register(kind, partial(_deliverer, api, kind))
    # Only a durable outbox knows what was queued: the sweep's "owed and not queued"
    # would otherwise re-post every recent outcome at each start.
    channel = ChatwootChannel(engine, settings, api, secret=secret, deliveries=deliveries,
                              intake=intake, sweep_every_s=settings.sweep_every_s
                              if register is not None else None)
    app.router.add_post(ROUTE, channel.handle)
    app[CHANNEL_KEY] = channel  # for whoever serves the app: drain, stats, tests

    async def _starting(_app: web.Application) -> None:
        channel.start()

    async def _closing(_app: web.Application) -> None:
        await channel.close()

    app.on_startup.append(_starting)
    app.on_cleanup.append(_closing)
    return channel


def extension(credentials: KeyringCredentials, *, deliveries: Deliveries | None = None
              ) -> Callable[[web.Application, Engine], None]:
    """The intake server's extension (`IntakeServer(..., extensions=[...])`): installs the
    channel when the engine's settings have `chatwoot`, and nothing otherwise."""
    def _install(app: web.Application, engine: Engine) -> None:
        if engine.settings.chatwoot is not None:
            install(app, engine, engine.settings.chatwoot, credentials,
                    deliveries=deliveries or _server_outbox(app), intake=_server_intake(app))
            log.info("Chatwoot agent bot on %s for account %d", ROUTE,
                     engine.settings.chatwoot.account_id)
    return _install
