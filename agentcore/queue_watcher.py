"""The escalation queue as an operator's list follows it, without Qt: the page shown
(the oldest `page` items waiting, or the latest resolved, filtered by reason, with
counts in SQL), what arrived since the last look (one announcement per load, a
burst is one), which followed items were resolved (here or by another console on
the same database), and which item "next" means.

A load reads the oldest `page` items and counts the rest: an unattended demo leaves
thousands open, and reading them all on every escalation once stalled the GUI for
150 ms. Out of view, a load only announces and reports; the page waits until shown.
The console's queue panel is a view over a `QueueWatcher`; tested headless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agentcore.domain import Stake
from agentcore.errors import StorageError, UserFacingError
from agentcore.escalation_model import Escalation, EscalationState
from agentcore.escalations import EscalationQueue
from agentcore.models import EscalationReason

log = logging.getLogger("agentcore.queue_watcher")

PAGE = 200  # items shown: the oldest, which an operator works first
WATCHED = 2000  # items followed until resolved, to settle their feed rows
WAITING = (EscalationState.OPEN, EscalationState.CLAIMED, EscalationState.HANDED_BACK)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Escalation]  # oldest first; for the look back, the latest resolved first
    matching: int  # how many the filter lets through, of
    total: int  # how many the listing has
    resolved: bool  # the look back at resolved items


@dataclass(frozen=True, slots=True)
class Announcement:
    title: str  # "New escalation", "New escalations: 3"
    body: str  # "#12 dollar ceiling — customer 42, $49.99 refund; and 2 more"


def announcement(new: list[Escalation], at_stake: Callable[[Escalation], Stake]
                 ) -> Announcement | None:
    """One notice for what arrived, however many: a burst is one balloon, not ten."""
    if not new:
        return None
    first = new[0]
    who = first.request.customer_id
    stake = at_stake(first)
    about = (f"#{first.id} {first.reason} — customer "
             f"{who if who is not None else 'anonymous'}"
             + (f", {stake.label}" if stake.amount is not None else ""))
    if len(new) == 1:
        return Announcement("New escalation", about)
    return Announcement(f"New escalations: {len(new)}", f"{about}; and {len(new) - 1} more")


class QueueWatcher:
    def __init__(self, queue: EscalationQueue, at_stake: Callable[[Escalation], Stake],
                 *, page: int = PAGE) -> None:
        self.queue = queue
        self.at_stake = at_stake  # the domain's: what an item is about
        self.page = page
        self.reason: EscalationReason | None = None  # the filter
        self.only: tuple[int, ...] | None = None  # a group's items (an outage's), or all
        self.resolved = False  # the look back instead of the queue
        self.in_view = True  # until the console says its list is behind another
        self.items: list[Escalation] = []  # the page last read
        self.loads = 0  # pages read, for tests that wait for a fresh view
        self.stale = True  # something changed since the page was read
        self._seen_id: int | None = None  # the newest item announced; None before a load
        self._watched: dict[int, None] = {}  # an ordered set: the oldest are dropped
        self._next_wanted = False
        self.on_announced: list[Callable[[Announcement], None]] = []
        self.on_resolved: list[Callable[[Escalation], None]] = []

    def changed(self) -> None:
        """An item changed (an escalation, an operator's act): the page is stale."""
        self.stale = True

    # -- next ------------------------------------------------------------------

    def oldest_open(self) -> Escalation | None:
        return next((i for i in self.items if i.state is EscalationState.OPEN), None)

    def want_next(self) -> Escalation | None:
        """The item "next" means: the oldest open one, so pressing it twice lands where
        once did. From a fresh page only: a page read before the last change (a claim
        a moment ago) would offer what is taken; then None now, and `take_next` says
        after the next load. Asked again meanwhile, it is still one "next"."""
        if self.stale or not self.in_view or not self.loads or self.resolved:
            self._next_wanted = True
            return None
        self._next_wanted = False
        return self.oldest_open()

    @property
    def next_wanted(self) -> bool:
        return self._next_wanted

    def take_next(self) -> tuple[bool, Escalation | None]:
        """After a load: (whether "next" was waiting for it, the item it means)."""
        if not self._next_wanted or self.stale or not self.in_view or self.resolved:
            return False, None
        self._next_wanted = False
        return True, self.oldest_open()

    # -- loading -----------------------------------------------------------------

    async def load(self) -> Page | None:
        """Announces what is new, reports what was resolved, and (in view) reads the
        page. None when nothing was read: out of view, or the database was locked
        (the next load retries; not worth a dialog)."""
        self.stale = False  # what changes from here on, the next load reads
        try:
            await self._announce()
            await self._report_resolved()
            if not self.in_view:
                self.stale = True
                return None
            page = await self._page()
        except StorageError:
            log.warning("loading the escalation queue failed", exc_info=True)
            self.stale = True
            return None
        if not page.resolved:
            self._watch(i.id for i in page.items)
        self.items = page.items
        self.loads += 1
        return page

    async def _page(self) -> Page:
        resolved, reason = self.resolved, self.reason
        states = (EscalationState.RESOLVED,) if resolved else WAITING
        if self.only is not None:
            return await self._group_page(states, resolved)
        items = [i for state in states
                 for i in await self.queue.list(state=state, reason=reason, limit=self.page,
                                                latest_resolved_first=resolved)]
        total = sum([await self.queue.count(state) for state in states])
        matching = total if reason is None else sum(
            [await self.queue.count(state, reason) for state in states])
        items.sort(key=(lambda i: (i.resolved_at or 0.0, i.id)) if resolved
                   else (lambda i: (i.created_at, i.id)), reverse=resolved)
        return Page(items[:self.page], matching, total, resolved)

    async def _group_page(self, states: tuple[EscalationState, ...],
                          resolved: bool) -> Page:
        """The group's items still in the listing's states (settled ones drop out), at
        most a page: read as the items since the group's oldest (an outage's are the
        newest), kept if in the group."""
        group = set(self.only or ())
        since = min(group, default=1) - 1
        items = [i for state in states
                 for i in await self.queue.list(state=state, reason=self.reason,
                                                after_id=since)
                 if i.id in group]
        items.sort(key=(lambda i: (i.resolved_at or 0.0, i.id)) if resolved
                   else (lambda i: (i.created_at, i.id)), reverse=resolved)
        total = sum([await self.queue.count(state) for state in states])
        return Page(items[:self.page], len(items), total, resolved)

    def _watch(self, ids: Iterable[int]) -> None:
        for escalation_id in ids:
            self._watched[escalation_id] = None
        for oldest in list(self._watched)[:max(0, len(self._watched) - WATCHED)]:
            del self._watched[oldest]

    async def _report_resolved(self) -> None:
        """Followed items that are resolved now, here or by another console, whatever
        the listing or filter shown: one indexed query per load."""
        for escalation_id in await self.queue.resolved_among(self._watched):
            del self._watched[escalation_id]
            try:
                item = await self.queue.get(escalation_id)
            except (UserFacingError, StorageError):  # a locked database: the feed row
                log.warning("escalation %d resolved, but unreadable", escalation_id,
                            exc_info=True)  # just keeps saying "escalated"
                continue
            for listener in tuple(self.on_resolved):
                listener(item)

    async def _announce(self) -> None:
        seen, self._seen_id = self._seen_id, await self.queue.newest_id()
        if seen is None:
            return  # what was waiting at start-up is in the queue, not news
        new = [i for i in await self.queue.list(state=EscalationState.OPEN, after_id=seen)
               if i.id <= self._seen_id]
        self._watch(i.id for i in new)
        said = announcement(new, self.at_stake)
        if said is not None:
            for listener in tuple(self.on_announced):
                listener(said)
