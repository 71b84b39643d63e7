"""What other processes on the shared database did, told on this engine's bus.

A service instance and an operator station on one PostgreSQL database each write
their own requests, outcomes, claims and rule sets; the store's change feed
(`Storage.changes()`, LISTEN/NOTIFY) says which rows another process committed. The
`StoreFollower` hears each `Change` on the feed's thread, hops it to the engine's
loop, skips this engine's own writes (its bus already told them) and:

- "rules": reads the stored rule set on a worker thread (a database that is slow or
  away must not freeze the loop, a station's GUI with it), swaps the router for it on
  the loop (as applying rules here does) unless this engine has since applied a later
  one, then publishes `RulesChanged`: a rule applied at one station routes every
  service's next request. Changes heard during a read make one more read after it;
  a read that fails, and a learned refresh, is tried again, backing off, until it
  takes (the change is told only once);
- "accepted" / "finished": `RequestAccepted` / `RequestAnswered` or
  `RequestEscalated` with the request and its outcome read back from the store,
  only while the bus has subscribers and the engine shows a feed (a service sets
  `Engine.shows_others_requests` False, and reads nothing back). Reads run
  off the loop, `BATCH` requests per hop, so a burst of outcomes never stalls it; a
  batch whose read the store fails (StorageError) is kept, in order, and read again,
  backing off, so a feed misses no request over a passing failure; after READ_TRIES
  the queue is given up and the views told to reread the store (a lost link drops
  what is queued, and what was being read: they reread everything when it is back);
- "escalation": `EscalationChanged` per item; "replies", "learned", "audit":
  `StoreChanged(kind)`, "learned" after taking up the tier's current version;
- "cache": nothing: the answer cache reads the durable invalidation log at each
  lookup (agentcore.cache), which a lost notification cannot skip;
- a lost link: `DatabaseLink(False, why)`; back: the rules and the learned tier
  reread (they may have changed unheard), and once both are taken up,
  `DatabaseLink(True)` for views to reread the rest (the rules view rebuilds its
  draft from the router: told before the swap, it would edit the set replaced).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from agentcore.errors import StorageError
from agentcore.events import (
    DatabaseLink,
    EscalationChanged,
    Event,
    EventBus,
    RequestAccepted,
    RequestAnswered,
    RequestEscalated,
    RequestRejected,
    RulesChanged,
    StoreChanged,
)
from agentcore.models import Outcome, Request, Status, Usage

if TYPE_CHECKING:
    from agentcore.learned import LearnedTier
    from agentcore.storage import Change, ChangeFeed, Storage

log = logging.getLogger("agentcore.store_follower")

BATCH = 50  # requests read per hop to a worker thread, then published on the loop
# A reload that failed (a pool with no connection free, a server restarting) is tried
# again after RETRY_S, doubling to RETRY_MAX_S, until it takes: a change is told once,
# and a station left on the old rules would stay there until the next one.
RETRY_S = 0.5
RETRY_MAX_S = 30.0
# Tries of a read-back the store keeps failing, before its queue is given up and the
# views told to read the store again (DatabaseLink(True)): a failure that never passes
# (a column a newer release migrated) must not stop the feed for good.
READ_TRIES = 5
FinishedListener = Callable[[tuple[str, ...]], None]
R = TypeVar("R")  # what `read_rules` reads and `take_rules` takes


def stored_outcome(store: Storage, request_id: str) -> Outcome | None:
    """A finished request's outcome as the database keeps it (request, summary, spans),
    None while it has none. Blocking: three reads of the store."""
    summary = store.requests.outcome(request_id)
    if summary is None:
        return None
    request = store.requests.request(request_id) or Request(text="", id=request_id)
    return Outcome(request, summary.route, summary.status, answer=summary.answer,
                   intent=summary.intent, rule_id=summary.rule_id,
                   spans=store.requests.spans(request_id),
                   usage=Usage(summary.prompt_tokens, summary.completion_tokens,
                               summary.dollars),
                   errors=list(summary.errors), escalation_reason=summary.escalation_reason,
                   latency_ms=summary.latency_ms)


def finished_event(outcome: Outcome) -> Event:
    """The bus's event for a finished outcome, as the engine publishes its own."""
    if outcome.status is Status.ESCALATED:
        return RequestEscalated(outcome)
    if outcome.status is Status.REJECTED:
        return RequestRejected(outcome)
    return RequestAnswered(outcome)


class StoreFollower(Generic[R]):
    """Follows `store`'s change feed onto `bus`, on the loop `start` runs on.
    `read_rules` reads the stored rule set (on a worker thread); `take_rules`, on the
    loop, swaps the engine's router for what it read."""

    def __init__(self, store: Storage, bus: EventBus, *, read_rules: Callable[[], R],
                 take_rules: Callable[[R], object], learned: LearnedTier | None = None,
                 read_requests: Callable[[], bool] | None = None) -> None:
        self._store = store
        self._bus = bus
        # Whether other processes' requests and outcomes are read back and told: by
        # default while anyone listens; a service (no feed to show) says never.
        self._wants_requests = read_requests or (lambda: bus.has_subscribers)
        self._read_rules = read_rules
        self._take_rules = take_rules
        self._rules_reader: asyncio.Task[None] | None = None
        self._rules_due = False  # heard since the read under way began
        self._rules_told: tuple[int | None] | None = None  # RulesChanged owed, its version
        self._learned = learned
        self._feed: ChangeFeed | None = None
        self._origin: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reads: deque[tuple[str, str]] = deque()  # (kind, request id), in order heard
        self._generation = 0  # moved by each lost link: what was read before is stale
        self._read_failures = 0  # in a row
        # DatabaseLink(True) owed once the rules are taken up: the generation the link
        # came back in (a link lost again meanwhile owes nothing).
        self._link_back: int | None = None
        self._gave_up = False  # a read-back given up in this incident: its resync told
        self._reader: asyncio.Task[None] | None = None
        self._finished: list[FinishedListener] = []
        self._tasks: set[asyncio.Task[Any]] = set()  # learned refreshes under way
        self._retries: dict[str, asyncio.TimerHandle] = {}  # what failed: its next try
        self._delays: dict[str, float] = {}
        self._closed = False

    def start(self) -> None:
        """Listens from now on: every change committed after it returns is told."""
        self._loop = asyncio.get_running_loop()
        self._feed = self._store.changes()
        self._origin = self._feed.origin
        self._feed.listen(self._heard, self._link)

    async def close(self) -> None:
        self._closed = True
        for handle in self._retries.values():
            handle.cancel()
        if self._feed is not None:
            await asyncio.to_thread(self._feed.close)  # joins its thread: ~0.2 s
        pending = [*self._tasks, *(t for t in (self._reader, self._rules_reader) if t)]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def on_finished(self, listener: FinishedListener) -> Callable[[], None]:
        """Calls `listener` on the loop with the ids of requests another process
        finished, before any is read (an attached engine's submit waits on it)."""
        self._finished.append(listener)
        return lambda: self._finished.remove(listener)

    # -- the feed's thread -----------------------------------------------------

    def _heard(self, change: Change) -> None:
        self._hop(self._on_change, change)

    def _link(self, up: bool, why: str | None) -> None:
        self._hop(self._on_link, up, why)

    def _hop(self, callback: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is None or self._closed:
            return
        # The loop closed under a late notification: nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(callback, *args)

    # -- the loop ----------------------------------------------------------------

    def _on_change(self, change: Change) -> None:
        if self._closed or change.origin == self._origin:
            return
        kind = change.kind
        if kind == "rules":
            self._rules_changed(int(change.ids[-1]) if change.ids else None)
        elif kind in ("accepted", "finished"):
            if kind == "finished":
                for listener in tuple(self._finished):
                    listener(change.ids)
            if self._wants_requests():
                self._reads.extend((kind, rid) for rid in change.ids)
                self._read_soon()
        elif kind == "escalation":
            for value in change.ids:
                self._bus.publish(EscalationChanged(int(value)))
        elif kind == "learned":
            self._refresh_learned(then=StoreChanged("learned"))
        elif kind in ("replies", "audit"):
            self._bus.publish(StoreChanged(kind))
        # "cache": the answer cache reads the invalidation log at each lookup

    def _on_link(self, up: bool, why: str | None) -> None:
        if self._closed:
            return
        if not up:
            # The views reread everything when the link is back: what is queued, read
            # or owed for the link before is dropped.
            self._generation += 1
            self._reads.clear()
            self._read_failures = 0
            self._gave_up = False
            self._succeeded("reads")
            self._link_back = None
            self._bus.publish(DatabaseLink(False, why))
            return
        # Back after a loss: what changed meanwhile was never told. The router, then the
        # learned tier, then the views (which read the rules from the router).
        self._link_back = self._generation
        self._rules_changed(None, publish=False)

    def _rules_changed(self, version_id: int | None, *, publish: bool = True) -> None:
        self._rules_due = True
        if publish:
            self._rules_told = (version_id,)
        if self._rules_reader is None or self._rules_reader.done():
            self._rules_reader = asyncio.get_running_loop().create_task(
                self._reload_rules(), name="store follower rules")

    async def _reload_rules(self) -> None:
        while self._rules_due and not self._closed:
            self._rules_due = False
            try:
                found = await asyncio.to_thread(self._read_rules)
            except Exception as exc:  # the store, or a set this version refuses: keep it
                log.warning("could not take up the rule set another process stored "
                            "(trying again): %s", exc)
                if self._link_back is not None:
                    # The views are told now, on the router as it is; the take, when
                    # it comes, is told as a change of rules.
                    self._rules_told = self._rules_told or (None,)
                    self._tell_link_back()
                self._again("rules", lambda: self._rules_changed(None, publish=False))
                return
            if self._closed:
                return
            self._take_rules(found)
            self._succeeded("rules")
        if self._closed:
            return
        told, self._rules_told = self._rules_told, None
        if told is not None:
            self._bus.publish(RulesChanged(told[0]))
        self._tell_link_back()

    def _tell_link_back(self) -> None:
        generation, self._link_back = self._link_back, None
        if generation is not None and generation == self._generation:
            self._refresh_learned(then=DatabaseLink(True, None), generation=generation)

    def _refresh_learned(self, *, then: Event, generation: int | None = None) -> None:
        """`then` is published once the tier is refreshed (or could not be), unless it
        belongs to a link (`generation`) lost again meanwhile."""
        learned = self._learned
        if learned is None:
            self._bus.publish(then)
            return

        def done(task: asyncio.Task[Any]) -> None:
            self._tasks.discard(task)
            if task.cancelled():
                return
            if task.exception() is not None:
                log.warning("could not take up the learned tier's version (trying "
                            "again): %s", task.exception())
                self._again("learned",
                            lambda: self._refresh_learned(then=StoreChanged("learned")))
            else:
                self._succeeded("learned")
            if not self._closed and generation in (None, self._generation):
                self._bus.publish(then)

        # Loading a model is milliseconds to seconds: off the loop.
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(learned.refresh))
        self._tasks.add(task)
        task.add_done_callback(done)

    def _again(self, what: str, attempt: Callable[[], None]) -> None:
        """`attempt` once more after a delay that doubles with each failure of `what`;
        one try waits at a time (a newer change's own try may take first)."""
        if self._closed or what in self._retries or self._loop is None:
            return
        delay = self._delays[what] = min(RETRY_MAX_S, self._delays.get(what, RETRY_S / 2) * 2)

        def run() -> None:
            self._retries.pop(what, None)
            if not self._closed:
                attempt()

        self._retries[what] = self._loop.call_later(delay, run)

    def _succeeded(self, what: str) -> None:
        self._delays.pop(what, None)
        handle = self._retries.pop(what, None)
        if handle is not None:
            handle.cancel()

    def _read_soon(self) -> None:
        if "reads" in self._retries:
            return  # backing off: the queue is read when the wait is over
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(
                self._read_all(), name="store follower reads")

    async def _read_all(self) -> None:
        """Reads what was heard, BATCH requests per worker hop, publishing each batch
        on the loop in the order heard."""
        while self._reads and not self._closed:
            generation = self._generation
            batch = [self._reads.popleft() for _ in range(min(BATCH, len(self._reads)))]
            try:
                read = await asyncio.to_thread(self._read, batch)
            except StorageError as exc:  # the store, for now: kept, in order, to try again
                if not self._closed and generation == self._generation:
                    self._read_failed(batch, exc)
                    return
                continue
            except Exception:
                # A row this version can't read fails each try: kept, it would stall the
                # feed for good behind it.
                log.exception("could not read %d changed requests", len(batch))
                continue
            if self._closed or generation != self._generation:
                continue  # the link was lost meanwhile: the views reread it all when back
            self._read_failures = 0
            self._gave_up = False
            self._succeeded("reads")
            for event in read:
                self._bus.publish(event)

    def _read_failed(self, batch: list[tuple[str, str]], exc: StorageError) -> None:
        self._read_failures += 1
        if self._read_failures >= READ_TRIES:
            dropped = len(batch) + len(self._reads)
            self._reads.clear()
            self._read_failures = 0
            self._succeeded("reads")
            # Told once an incident, and not while the link's own resync is owed: each
            # resync rereads every view, and would most likely fail alike.
            if self._gave_up or self._link_back is not None:
                log.warning("could not read %d changed requests in %d tries: %s", dropped,
                            READ_TRIES, exc)
                return
            self._gave_up = True
            log.error("could not read %d changed requests in %d tries, so the views read "
                      "the store again: %s", dropped, READ_TRIES, exc)
            self._bus.publish(DatabaseLink(True, None))
            return
        self._reads.extendleft(reversed(batch))
        log.warning("could not read %d changed requests (trying again): %s",
                    len(self._reads), exc)
        self._again("reads", self._read_soon)

    def _read(self, batch: list[tuple[str, str]]) -> list[Event]:
        events: list[Event] = []
        for kind, rid in batch:
            if kind == "accepted":
                request = self._store.requests.request(rid)
                if request is not None:
                    events.append(RequestAccepted(request))
            else:
                outcome = stored_outcome(self._store, rid)
                if outcome is not None:
                    events.append(finished_event(outcome))
        return events
