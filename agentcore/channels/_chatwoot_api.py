"""The two calls of Chatwoot's Application API the bot makes, over aiohttp.

    POST {base}/api/v1/accounts/{account}/conversations/{id}/messages
         {"content", "message_type": "outgoing", "private": false, "content_type": "text"}
    POST {base}/api/v1/accounts/{account}/conversations/{id}/toggle_status {"status": "open"}
    GET  {base}/api/v1/accounts/{account}/conversations/{id}    (`status`, `meta.assignee`)

all with the `api_access_token` header. aiohttp's errors are translated here into
`ChatwootError`, which says whether trying again could help (a 5xx, a timeout, a
refused connection) or not (a 401 bad token, a 404 conversation gone).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from agentcore.channels._chatwoot_settings import ChatwootSettings
from agentcore.errors import ChatwootError

log = logging.getLogger("agentcore.channels.chatwoot")

MESSAGE = "chatwoot_message"  # outbox kinds: what `deliver` is registered for
STATUS = "chatwoot_status"
_RETRYABLE = {408, 409, 425, 429}


class ChatwootAPI:
    def __init__(self, settings: ChatwootSettings, token: str, *,
                 timeout_s: float = 10.0) -> None:
        self._base = f"{settings.base_url}/api/v1/accounts/{settings.account_id}"
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def conversation_url(self, conversation_id: int) -> str:
        return f"{self._base}/conversations/{conversation_id}"

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use, on the running loop (a session binds to its loop).
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, url: str,
                    body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            async with self._client().request(method, url, json=body, headers={
                    "api_access_token": self._token}) as resp:
                if resp.status >= 300:
                    text = (await resp.text())[:200]
                    raise ChatwootError(f"Chatwoot answered {resp.status} to {url}: {text}",
                                        retryable=resp.status >= 500
                                        or resp.status in _RETRYABLE)
                data = await resp.json(content_type=None)
                return data if isinstance(data, dict) else {}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ChatwootError(f"Chatwoot could not be reached at {url}: "
                                f"{type(exc).__name__}: {exc}", retryable=True) from None

    async def post_message(self, conversation_id: int, content: str) -> dict[str, Any]:
        """Posts `content` to the contact as an outgoing message; Chatwoot's record of it."""
        return await self._call("POST", f"{self.conversation_url(conversation_id)}/messages",
                                {"content": content, "message_type": "outgoing",
                                 "private": False, "content_type": "text"})

    async def set_status(self, conversation_id: int, status: str) -> dict[str, Any]:
        """Sets the conversation's status ("open" hands it to the humans)."""
        return await self._call("POST",
                                f"{self.conversation_url(conversation_id)}/toggle_status",
                                {"status": status})

    async def status(self, conversation_id: int) -> str | None:
        """The conversation's status now ("pending" while the bot owns it)."""
        found = (await self._call("GET", self.conversation_url(conversation_id))).get("status")
        return found if isinstance(found, str) else None

    async def _take_back(self, conversation: int) -> bool:
        """Whether the agent may answer after the console handed the request back: yes
        while the bot owns the conversation, or it is open as we left it (no agent
        assigned), which is set pending again, the bot's; no once an agent took it
        (assigned) or it was resolved or snoozed in Chatwoot."""
        found = await self._call("GET", self.conversation_url(conversation))
        status = found.get("status")
        meta = found.get("meta")
        assignee = meta.get("assignee") if isinstance(meta, dict) else None
        if status == "pending":
            return True
        if status == "open" and not assignee:
            # Pending first: a retry after a failed post finds it pending and posts;
            # the other order could post twice.
            await self.set_status(conversation, "pending")
            return True
        log.info("conversation %d is %s%s: the agent's answer after the hand-back is not "
                 "posted", conversation, status, " and assigned" if assignee else "")
        return False

    async def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        """One outbox delivery of `kind` (MESSAGE or STATUS); raises ChatwootError."""
        conversation = int(payload["conversation_id"])
        if kind == MESSAGE:
            if payload.get("handed_back"):
                if not await self._take_back(conversation):
                    return
            elif payload.get("only_if_pending"):
                # The agent's answer: a human who took the conversation over while the
                # agent worked (or Chatwoot was down) owns it now, and it stays theirs.
                status = await self.status(conversation)
                if status != "pending":
                    log.info("conversation %d is %s now: the agent's answer is not posted",
                             conversation, status)
                    return
            await self.post_message(conversation, str(payload["content"]))
        elif kind == STATUS:
            await self.set_status(conversation, str(payload["status"]))
        else:
            raise ChatwootError(f"no Chatwoot delivery of kind {kind!r}", retryable=False)
