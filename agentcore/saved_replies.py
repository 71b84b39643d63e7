"""The team's saved replies (macros), without Qt: listed by title, added, edited and
deleted by any operator, kept in the engine database (so every console on it
shares them), and filled from an escalation's context when inserted: a body's
`{customer_name}`, `{first_name}`, `{order_id}`, `{amount}`, `{operator}` and
`{escalation_id}` become what the item says; an unknown name stays as typed."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from agentcore.clock import Clock
from agentcore.errors import QueueError
from agentcore.storage import ReplyRepository, SavedReply

PLACEHOLDERS = ("customer_name", "first_name", "order_id", "amount", "operator",
                "escalation_id")
TITLE_MAX = 80


def fill_placeholders(body: str, values: Mapping[str, str]) -> str:
    """`{name}` replaced by its value; an unknown name or a stray brace left alone."""
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), body)


class SavedReplies:
    """`on_changed` listeners hear after each change made here (a reload shows those
    of other consoles)."""

    def __init__(self, replies: ReplyRepository, clock: Clock) -> None:
        self._replies = replies
        self._clock = clock
        self.on_changed: list[Callable[[], None]] = []

    def list(self) -> list[SavedReply]:
        return self._replies.list()

    def add(self, title: str, body: str, by: str) -> int:
        title, body = self._checked(title, body)
        added = self._replies.add(title, body, by, self._clock.now())
        if added is None:
            raise QueueError(f"a saved reply is already called {title!r}")
        self._changed()
        return added

    def update(self, reply_id: int, title: str, body: str, by: str) -> None:
        title, body = self._checked(title, body)
        if not self._replies.update(reply_id, title, body, by, self._clock.now()):
            raise QueueError(f"a saved reply is already called {title!r}, or this one "
                             "was deleted meanwhile")
        self._changed()

    def delete(self, reply_id: int, by: str) -> None:
        if not self._replies.delete(reply_id, by, self._clock.now()):
            raise QueueError("that saved reply was deleted meanwhile")
        self._changed()

    @staticmethod
    def _checked(title: str, body: str) -> tuple[str, str]:
        title, body = title.strip(), body.strip()
        if not title:
            raise QueueError("a saved reply needs a title")
        if len(title) > TITLE_MAX:
            raise QueueError(f"a title is at most {TITLE_MAX} characters")
        if not body:
            raise QueueError("a saved reply needs some text")
        return title, body

    def _changed(self) -> None:
        for listener in tuple(self.on_changed):
            listener()
