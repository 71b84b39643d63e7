"""A stand-in for Chatwoot on a loopback port: its API takes messages and status
changes (checking `api_access_token`) and records them, and it sends webhooks in
Chatwoot's documented shapes to the bot's URL (see agentcore.channels.chatwoot).

As Chatwoot does, a message the bot posts is sent back to the bot as an outgoing
`message_created` (`echo`): the bot must leave its own messages alone.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2
from aiohttp import web

from agentcore.channels._chatwoot_webhook import signature

ACCOUNT = 7
TOKEN = "cw-test-token"


@dataclass
class Conversation:
    id: int
    status: str = "pending"
    contact: dict[str, Any] = field(default_factory=dict)
    assignee: dict[str, Any] | None = None  # the agent assigned, as meta.assignee


@dataclass
class Posted:
    conversation_id: int
    content: str
    message_type: str
    private: bool


class ChatwootStandin:
    def __init__(self, *, port: int = 0, token: str = TOKEN, account_id: int = ACCOUNT,
                 secret: str | None = None) -> None:
        self.port = port
        self.token = token
        self.account_id = account_id
        self.secret = secret
        self.bot_url: str | None = None  # where webhooks go (set by the test)
        self.echo = True
        self.messages: list[Posted] = []
        self.statuses: list[tuple[int, str]] = []
        self.refused_tokens = 0
        # Chatwoot having trouble: every API call answered with this status, nothing
        # taken (None: it works).
        self.failing: int | None = None
        self.refusing: dict[int, int] = {}  # conversation -> the status its calls get
        self.refused: list[tuple[int, int]] = []  # (conversation, status) answered so
        self.conversations: dict[int, Conversation] = {}
        self._ids = itertools.count(1000)
        self._runner: web.AppRunner | None = None
        self._sent: set[asyncio.Task[Any]] = set()
        self.changed = asyncio.Event()

    # -- serving -------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        base = "/api/v1/accounts/{account}/conversations/{conversation}"
        app.router.add_post(base + "/messages", self._message)
        app.router.add_post(base + "/toggle_status", self._toggle)
        app.router.add_get(base, self._show)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if not self.port:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop_sending(self) -> None:
        """Until the webhooks it is sending have been answered."""
        while self._sent:
            await asyncio.gather(*tuple(self._sent), return_exceptions=True)

    async def stop(self) -> None:
        await self.stop_sending()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _check(self, request: web.Request) -> Conversation | web.Response:
        if self.failing is not None:
            self.changed.set()
            return web.json_response({"error": "Service Unavailable"}, status=self.failing)
        if request.headers.get("api_access_token") != self.token:
            self.refused_tokens += 1
            return web.json_response({"error": "Invalid Access Token"}, status=401)
        if int(request.match_info["account"]) != self.account_id:
            return web.json_response({"error": "account not found"}, status=404)
        cid = int(request.match_info["conversation"])
        if cid in self.refusing:
            self.refused.append((cid, self.refusing[cid]))
            self.changed.set()
            return web.json_response({"error": "refused"}, status=self.refusing[cid])
        if cid not in self.conversations:
            return web.json_response({"error": "Resource could not be found"}, status=404)
        return self.conversations[cid]

    async def _message(self, request: web.Request) -> web.Response:
        found = self._check(request)
        if isinstance(found, web.Response):
            return found
        body = await request.json()
        posted = Posted(found.id, body["content"], body.get("message_type", "outgoing"),
                        bool(body.get("private", False)))
        self.messages.append(posted)
        self.changed.set()
        mid = next(self._ids)
        if self.echo and self.bot_url:
            # Chatwoot tells the bot of every message, the bot's own included.
            self._send_later(self.payload(found.id, posted.content, message_id=mid,
                                          message_type="outgoing",
                                          sender={"id": 1, "name": "Bot", "type": "agent_bot"}))
        return web.json_response({"id": mid, "content": posted.content,
                                  "conversation_id": found.id, "message_type": 1,
                                  "private": posted.private, "status": "sent"})

    async def _show(self, request: web.Request) -> web.Response:
        found = self._check(request)
        if isinstance(found, web.Response):
            return found
        return web.json_response({"id": found.id, "status": found.status,
                                  "meta": {"sender": found.contact, "assignee": found.assignee},
                                  "messages": []})

    async def _toggle(self, request: web.Request) -> web.Response:
        found = self._check(request)
        if isinstance(found, web.Response):
            return found
        body = await request.json()
        found.status = body["status"]
        self.statuses.append((found.id, found.status))
        self.changed.set()
        return web.json_response({"meta": {}, "payload": {
            "success": True, "conversation_id": found.id, "current_status": found.status}})

    # -- webhooks ------------------------------------------------------------

    def conversation(self, cid: int, *, status: str = "pending",
                     contact: dict[str, Any] | None = None) -> Conversation:
        contact = contact or {"id": 40 + cid, "name": "Ada", "email": None,
                              "identifier": None, "custom_attributes": {}}
        self.conversations[cid] = Conversation(cid, status, contact)
        return self.conversations[cid]

    def payload(self, cid: int, content: str, *, message_id: int | None = None,
                message_type: str = "incoming", private: bool = False,
                sender: dict[str, Any] | None = None) -> dict[str, Any]:
        """A `message_created` as Chatwoot's AgentBotListener sends it."""
        conv = self.conversations[cid]
        contact = {**conv.contact, "account": {"id": self.account_id, "name": "Shop"},
                   "avatar": "", "thumbnail": "", "phone_number": None,
                   "additional_attributes": {}}
        return {
            "event": "message_created",
            "id": message_id if message_id is not None else next(self._ids),
            "content": content,
            "created_at": "2026-12-01T21:00:00.000Z",
            "message_type": message_type,
            "content_type": "text",
            "private": private,
            "content_attributes": {},
            "source_id": None,
            "sender": sender if sender is not None else contact,
            "inbox": {"id": 3, "name": "Website"},
            "conversation": {
                "additional_attributes": {}, "can_reply": True, "channel": "Channel::WebWidget",
                "contact_inbox": {"id": 9, "contact_id": conv.contact.get("id"), "inbox_id": 3,
                                  "source_id": "a1b2", "hmac_verified": False},
                "id": cid, "inbox_id": 3, "messages": [], "labels": [],
                "meta": {"sender": {**conv.contact, "type": "contact"}, "assignee": None,
                         "assignee_type": None, "team": None, "hmac_verified": False},
                "status": conv.status, "custom_attributes": {}, "snoozed_until": None,
                "unread_count": 1, "first_reply_created_at": None, "priority": None,
                "waiting_since": 0, "agent_last_seen_at": 0, "contact_last_seen_at": 0,
                "last_activity_at": 0, "timestamp": 0, "created_at": 0, "updated_at": 0.0,
            },
            "account": {"id": self.account_id, "name": "Shop"},
        }

    def headers_for(self, body: bytes, *, secret: str | None = None,
                    timestamp: int | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json",
                   "X-Chatwoot-Delivery": f"d-{next(self._ids)}"}
        secret = secret if secret is not None else self.secret
        if secret is not None:
            stamp = str(timestamp if timestamp is not None else int(time.time()))
            headers["X-Chatwoot-Timestamp"] = stamp
            headers["X-Chatwoot-Signature"] = signature(secret, stamp, body)
        return headers

    async def send(self, payload: dict[str, Any], *, secret: str | None = None,
                   timestamp: int | None = None) -> httpx2.Response:
        """Delivers `payload` to the bot, signed when the stand-in has a secret."""
        assert self.bot_url, "the test sets bot_url"
        body = json.dumps(payload).encode()
        async with httpx2.AsyncClient(timeout=10) as client:
            return await client.post(self.bot_url, content=body,
                                     headers=self.headers_for(body, secret=secret,
                                                              timestamp=timestamp))

    def _send_later(self, payload: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self.send(payload))
        self._sent.add(task)
        task.add_done_callback(self._sent.discard)

    async def wait_for(self, predicate: Any, timeout_s: float = 10.0) -> None:
        """Until `predicate()` holds (what was posted changed), or fails the test."""
        async def _wait() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(_wait(), timeout_s)
