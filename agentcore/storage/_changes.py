"""What other processes on the same database changed, backend-neutral (no SQL here).

A store's writes announce themselves (`Change`: a kind and the ids it touched, never
the data), and a `ChangeFeed` tells a consumer of them, so a station's feed, queue
and rules stay live while other stations and service instances write. PostgreSQL's
feed is LISTEN/NOTIFY (`_pg_notify`); SQLite is one process's database, so its feed
(`NoChanges`) never says anything.

Announcements are not durable: one sent while a listener was disconnected is gone.
So a consumer rereads everything it shows when `on_link(True, None)` tells it the
link is back, and treats a `Change` as "reread these ids", never as the data itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# accepted: a request recorded ("accept"); finished: outcomes written (their request
# ids); escalation: an item of the queue changed (its id); rules: the rule set or its
# history (a version id, or none); replies: a saved reply (its id); learned: a learned
# tier version (its id); cache: answer-cache invalidations (their log seqs); audit: an
# audit entry (its id).
CHANGE_KINDS = ("accepted", "finished", "escalation", "rules", "replies", "learned",
                "cache", "audit")


@dataclass(frozen=True, slots=True)
class Change:
    """Some rows of one kind changed. `ids` empty: something of this kind changed and
    which is not said (reread all of it). `origin` is the writing store's
    `ChangeFeed.origin`: a process compares it with its own feed's to skip its own
    writes, which it already knows of."""

    kind: str  # one of CHANGE_KINDS
    ids: tuple[str, ...]  # request ids, escalation ids (as str), version ids, ...
    origin: str


OnChange = Callable[[Change], None]
# (False, why in an operator's words): the link is lost, changes are not seen
# meanwhile. (True, None): it is back after a loss; reread everything.
OnLink = Callable[[bool, str | None], None]


class ChangeFeed(Protocol):
    """Changes other processes commit to the store's database.

    `listen` returns once the feed hears every later commit (or has said, by
    `on_link(False, why)`, that it cannot yet): a consumer listens first, then reads
    what it shows, and misses nothing in between. Both callbacks run on the feed's
    own thread, never the caller's: a consumer on an event loop hops to it
    (`loop.call_soon_threadsafe`) and must not block the feed for long
    (announcements queue behind it)."""

    origin: str  # what this store's own writes carry as `Change.origin`

    def listen(self, on_change: OnChange, on_link: OnLink) -> None: ...

    def close(self) -> None: ...


class NoChanges:
    """The feed of a database only this process writes (SQLite): nothing to tell."""

    def __init__(self, origin: str | None = None) -> None:
        self.origin = origin or uuid.uuid4().hex

    def listen(self, on_change: OnChange, on_link: OnLink) -> None:
        return None

    def close(self) -> None:
        return None
