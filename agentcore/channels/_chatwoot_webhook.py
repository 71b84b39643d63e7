"""What a Chatwoot Agent Bot webhook says, and whether it is Chatwoot's at all.

Pure functions over the body's bytes and headers: no HTTP server, no engine. The
shapes are Chatwoot's (see `agentcore.channels.chatwoot` for the sources):

- the body of `message_created` is the message's `webhook_data` with `event`:
  `id`, `content`, `message_type` ("incoming" from the contact, "outgoing" from an
  agent or a bot, "activity", "template"), `private` (an agent's note), `sender`
  (a contact's `webhook_data`: `id`, `name`, `email`, `identifier`,
  `custom_attributes`...; an agent's carries `type: "user"`, a bot's
  `type: "agent_bot"`), `conversation` (`id`: the display id the API takes,
  `status`: "pending" while a bot owns it, "open" once humans do, "resolved",
  "snoozed"; `meta.sender`: the contact; `meta.assignee`: the agent assigned),
  `inbox` and `account` (`id`, `name`).
- a signed delivery carries `X-Chatwoot-Timestamp` (unix seconds) and
  `X-Chatwoot-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from agentcore.channels._chatwoot_settings import ChatwootSettings

SIGNATURE_HEADER = "X-Chatwoot-Signature"
TIMESTAMP_HEADER = "X-Chatwoot-Timestamp"
BOT_OWNS = "pending"  # the one status in which the bot answers; "open": humans own it


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The header value Chatwoot sends for `body` signed at `timestamp`."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body,
                   hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signature_problem(secret: str, headers: Any, body: bytes, now: float,
                      tolerance_s: float) -> str | None:
    """Why a delivery is not Chatwoot's (signed with `secret`, recently); None if it is.

    `headers` is any case-insensitive mapping (aiohttp's). The timestamp is inside
    the signed string, so a captured delivery replayed later fails the window."""
    given = headers.get(SIGNATURE_HEADER)
    stamp = headers.get(TIMESTAMP_HEADER)
    if not given or not stamp:
        return f"unsigned: {SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required"
    try:
        at = int(stamp)
    except ValueError:
        return f"{TIMESTAMP_HEADER} is not unix seconds"
    if abs(now - at) > tolerance_s:
        return f"{TIMESTAMP_HEADER} is {abs(now - at):.0f} s away from our clock"
    if not hmac.compare_digest(signature(secret, stamp, body).encode(),
                               str(given).strip().encode("utf-8", "replace")):
        return "the signature does not match"
    return None


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A contact's message the bot should answer."""

    message_id: int
    account_id: int
    conversation_id: int  # the display id, as the API's paths take it
    text: str
    customer_id: int | None
    contact_id: int | None


def parse_body(body: bytes) -> dict[str, Any] | None:
    """The JSON object of a delivery; None when it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # deeper than the parser goes
        return None
    return data if isinstance(data, dict) else None


def _int(value: object) -> int | None:
    """An id, or None; past 64 bits is none (Chatwoot's ids are bigints, and the disk
    could not store it: the claim would fail and Chatwoot redeliver it for ever)."""
    found: int | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        found = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        # ASCII: "²" is a digit to isdigit, and int() refuses it
        stripped = value.strip()
        found = int(stripped) if len(stripped) <= 20 else None
    return found if found is not None and -(2**63) <= found < 2**63 else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def customer_of(contact: dict[str, Any], settings: ChatwootSettings) -> int | None:
    """The domain's customer id a Chatwoot contact names, or None (anonymous).

    The contact's custom attribute (`customer_attribute`) first: a help desk that
    syncs its CRM sets it; then its `identifier`, the site's own user id that the web
    widget's `setUser` passes, when numeric. Nothing is guessed from a name or an
    email: a wrong match would show one customer another's orders."""
    if settings.customer_attribute:
        found = _int(_dict(contact.get("custom_attributes")).get(settings.customer_attribute))
        if found is not None:
            return found
    if settings.identifier_is_customer_id:
        return _int(contact.get("identifier"))
    return None


def incoming(data: dict[str, Any], settings: ChatwootSettings) -> IncomingMessage | str:
    """The message to answer, or why this delivery is left alone."""
    event = data.get("event")
    if event != "message_created":
        return f"event {event!r} is not a new message"
    if data.get("message_type") != "incoming":
        return f"a {data.get('message_type')!r} message (an agent's or a bot's)"
    if data.get("private"):
        return "a private note"
    sender = _dict(data.get("sender"))
    if sender.get("type") not in (None, "contact"):
        return f"sent by a {sender.get('type')!r}, not a contact"
    conversation = _dict(data.get("conversation"))
    status = conversation.get("status")
    if status != BOT_OWNS:
        return f"the conversation is {status!r}: a human owns it"
    account = _int(_dict(data.get("account")).get("id"))
    if account != settings.account_id:
        return f"account {account!r} is not this bot's ({settings.account_id})"
    message_id = _int(data.get("id"))
    conversation_id = _int(conversation.get("id"))
    if message_id is None or conversation_id is None:
        return "no message or conversation id"
    text = data.get("content")
    if not isinstance(text, str) or not text.strip():
        return "no text (an attachment only)"
    contact = sender or _dict(_dict(conversation.get("meta")).get("sender"))
    if not sender.get("identifier") and not sender.get("custom_attributes"):
        # An older Chatwoot's message sender is short (id, name): the conversation's
        # meta.sender is the full contact.
        contact = {**sender, **_dict(_dict(conversation.get("meta")).get("sender"))}
    return IncomingMessage(message_id=message_id, account_id=account,
                           conversation_id=conversation_id, text=text,
                           customer_id=customer_of(contact, settings),
                           contact_id=_int(contact.get("id")))
