"""What the channel owes Chatwoot for an outcome, as (kind, payload, key) posts.

One place computes the posts and their keys, for the two ways the channel finds
out it owes them: the engine's event as the outcome happens, and the sweep over
the database (after a crash between an outcome and its enqueue, or an outcome
another process wrote: an operator's reply from a console on the same database).
Both compute the same keys, and a key is delivered once, so finding a post twice
enqueues it once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from agentcore.channels._chatwoot_api import MESSAGE, STATUS

KEY_PREFIX = "chatwoot:"  # every key is "chatwoot:<request id>:<what>"


@dataclass(frozen=True, slots=True)
class Post:
    kind: str  # MESSAGE or STATUS
    payload: dict[str, Any]  # without the conversation id, which the channel adds
    key: str


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]


def _key(rid: str, what: str) -> str:
    return f"{KEY_PREFIX}{rid}:{what}"


def handover_posts(rid: str, answer: str, handover_message: str | None) -> list[Post]:
    """An escalation: the customer is told a person will reply (what the rule says to
    a customer who asked for one, else the settings' message), then the conversation
    is opened for Chatwoot's agents. Keyed per request: a redelivered message is one
    request and hands over once; a new message in the conversation after the humans
    handed it back (pending again) is a new request and hands over again."""
    posts = []
    told = answer or handover_message
    if told:
        posts.append(Post(MESSAGE, {"content": told}, _key(rid, "handover")))
    posts.append(Post(STATUS, {"status": "open"}, _key(rid, "open")))
    return posts


def answer_posts(rid: str, answer: str, *, handed_back: bool = False) -> list[Post]:
    """The agent's answer, posted only while the bot still owns the conversation.
    Keyed by its text: a re-run (a hand-back) that answers anew is posted too.
    `handed_back`: the console's operator handed the escalation back to the agent,
    and the conversation we opened for the humans is the bot's again, unless one of
    Chatwoot's agents took it meanwhile (`ChatwootAPI.deliver`)."""
    if not answer:
        return []
    condition = {"handed_back": True} if handed_back else {"only_if_pending": True}
    return [Post(MESSAGE, {"content": answer, **condition},
                 _key(rid, f"answer:{_digest(answer)}"))]


def reply_posts(rid: str, reply: str) -> list[Post]:
    """An operator's reply from the console's queue (it is theirs to send, whoever owns
    the conversation in Chatwoot now)."""
    if not reply:
        return []
    return [Post(MESSAGE, {"content": reply}, _key(rid, f"reply:{_digest(reply)}"))]


def posts_of_stored(rid: str, status: str, route: str, answer: str, resolution: str | None,
                    handed_back: bool, handover_message: str | None) -> list[Post]:
    """The posts an outcome as the database keeps it owes (the sweep's view);
    `handed_back`: the request carries an operator's note (a hand-back's re-run)."""
    if route == "human":
        # The operator's: replied (posted), or closed as handled elsewhere (nothing).
        return reply_posts(rid, answer) if resolution == "replied" else []
    if status == "escalated":
        return handover_posts(rid, answer, handover_message)
    if status == "answered":
        return answer_posts(rid, answer, handed_back=handed_back)
    return []
