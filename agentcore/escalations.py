"""The operators' escalation queue, over the engine's SQLite database.

    open -> claimed (by a named operator, for a lease) -> resolved
                  `-> handed back to the agent with a note -> resolved by the agent,
                                                             or open again

A claim is one conditional UPDATE, so of two operators claiming at once (two
tasks, threads or processes) exactly one wins. A claim whose lease has ended
reads as open and may be taken by anyone. Only the claimant may act on an
item, and only while its lease runs. Every state lives in the database: a
new queue over the same file (after a restart) sees the same items and claims.

A pending write is approved or denied by the methods of `PendingWrites`
(agentcore.pending_writes): held to the write's own policy, one approval at a
time across consoles, settled from the domain's record after a crash. A hand-back
re-runs the request through `rerun` (the engine's `rerun`) under the same id,
with the operator's note; the storage settles the item in the same transaction
as the new outcome. Every statement lives in the storage's escalation repository
(agentcore.storage); this module keeps the rules. Each change is published on the
engine's bus as `EscalationChanged`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from agentcore.clock import Clock
from agentcore.errors import QueueError
from agentcore.escalation_model import (
    Escalation,
    EscalationState,
    PendingStatus,
    required_text,
)
from agentcore.events import EscalationChanged, EventBus
from agentcore.models import EscalationReason, Outcome, Request
from agentcore.pending_writes import (
    APPROVAL_WINDOW_S,
    Act,
    Limits,
    Parse,
    PendingWrites,
    Recorded,
    tool_act,
    tool_parse,
    why_decided,
)
from agentcore.storage import Storage

if TYPE_CHECKING:
    from agentcore.domain import CustomerContext

log = logging.getLogger("agentcore.escalations")

__all__ = ["Escalation", "EscalationQueue", "EscalationState", "PendingStatus", "QueueError",
           "tool_act", "tool_parse"]

Rerun = Callable[[Request], Awaitable[Outcome]]


class EscalationQueue(PendingWrites):
    def __init__(self, store: Storage, clock: Clock, *, rerun: Rerun, act: Act,
                 customer: Callable[[int, Escalation], CustomerContext | None] | None = None,
                 recorded: Recorded | None = None,
                 keeps_record: Callable[[str], bool] | None = None,
                 limits: Limits | None = None, parse: Parse | None = None,
                 version_of: Callable[[str], str | None] | None = None,
                 approval_window_s: float = APPROVAL_WINDOW_S,
                 bus: EventBus | None = None) -> None:
        """`approval_window_s` must outlast any write `act` runs (its tool timeout):
        only after it is an approval left "approving" taken for one a crash cut short.
        `bus` hears an `EscalationChanged` after each change (the engine's bus).
        `customer(customer_id, item)` is the domain's `customer_context`: given the
        item, it puts the records the request is about first. `keeps_record(tool)`:
        whether `recorded` can tell if that tool's write happened (a tool server's
        write leaves no record here); None: every tool's can. `version_of(tool)`: what
        the tool is now (`ToolRegistry.version_of`), so a write asked of one version of
        a server's tool is not run by another."""
        self.store = store
        self._items = store.escalations
        self.clock = clock
        self._rerun = rerun
        self._act = act
        self._customer = customer
        self._recorded = recorded
        self._keeps_record = keeps_record
        self._limits = limits
        self._parse = parse
        self._version_of = version_of
        self.approval_window_s = approval_window_s
        self.bus = bus or EventBus()

    def _changed(self, escalation_id: int) -> None:
        self.bus.publish(EscalationChanged(escalation_id))

    def _load(self, escalation_id: int) -> Escalation:
        item = self._items.get(escalation_id, self.clock.now())
        if item is None:
            raise QueueError(f"there is no escalation {escalation_id}")
        return item

    def _why_not(self, item: Escalation, operator: str) -> str:
        """Why `operator` may not act on `item` now."""
        if item.state is EscalationState.RESOLVED:
            return f"escalation {item.id} is already resolved (by {item.resolved_by})"
        if item.state is EscalationState.HANDED_BACK:
            return f"escalation {item.id} was handed back to the agent, which is re-running it"
        if item.state is EscalationState.CLAIMED and item.claimed_by != operator:
            left = (item.lease_expires_at or 0.0) - self.clock.now()
            return f"escalation {item.id} is claimed by {item.claimed_by} for another {left:.0f} s"
        return (f"escalation {item.id} is not claimed by {operator}: claim it first "
                "(a claim ends with its lease)")

    def _claimed(self, escalation_id: int, operator: str) -> Escalation:
        """The item, if `operator` holds a live claim on it; QueueError otherwise."""
        item = self._load(escalation_id)
        if item.state is not EscalationState.CLAIMED or item.claimed_by != operator:
            raise QueueError(self._why_not(item, operator))
        return item

    def _refused(self, item: Escalation, operator: str, *, undecided: bool = False) -> None:
        """Why a conditional change of `item` by `operator` did not happen: the claim is
        gone, or (with `undecided`) its pending write was decided meanwhile."""
        now = self._load(item.id)
        if undecided and now.pending_status is not None and not now.pending_status.undecided:
            raise QueueError(why_decided(now))
        raise QueueError(self._why_not(now, operator))

    # -- reading -------------------------------------------------------------

    async def list(self, state: EscalationState | str | None = None,
                   reason: EscalationReason | str | None = None, *,
                   after_id: int | None = None, limit: int | None = None,
                   latest_resolved_first: bool = False) -> list[Escalation]:
        """Items oldest first (or, for a look back, the latest resolved first),
        optionally only those in a state, with a reason, newer than an id (what arrived
        since a look), and at most `limit` of them."""
        return self._items.list(self.clock.now(), _state(state), _reason(reason),
                                after_id=after_id, limit=limit,
                                latest_resolved_first=latest_resolved_first)

    async def count(self, state: EscalationState | str | None = None,
                    reason: EscalationReason | str | None = None) -> int:
        """How many items `list` would return, without loading them: the status bar
        and the queue view ask every few seconds, and a busy day leaves thousands."""
        return self._items.count(self.clock.now(), _state(state), _reason(reason))

    async def resolved_among(self, ids: Iterable[int]) -> tuple[int, ...]:
        """Which of `ids` are resolved now: how a view learns that items it showed were
        settled, by this process or another one on the same database."""
        return self._items.resolved_among(ids)

    async def newest_id(self) -> int:
        """The id of the latest item (0 when there is none): `list(after_id=...)`
        from it returns exactly what arrives next."""
        return self._items.newest_id()

    def of_request(self, request_id: str) -> int | None:
        """The id of the item a request escalated into; None when it did not."""
        return self._items.of_request(request_id)

    async def get(self, escalation_id: int) -> Escalation:
        """One item with its full context: request, customer, trace, outcome, and what
        bounds its pending write now."""
        item = self._settle(self._load(escalation_id))
        rid = item.request_id
        pending = item.pending_action
        if (pending is not None and self._limits is not None
                and item.pending_status is not None and item.pending_status.undecided):
            item.limits = self.limits_for(pending.tool, pending.arguments)
        item.spans = self.store.requests.spans(rid)
        item.outcome = self.store.requests.outcome(rid)
        if self._customer is not None and item.request.customer_id is not None:
            item.customer = self._customer(item.request.customer_id, item)
        return item

    # -- claims --------------------------------------------------------------

    async def claim(self, escalation_id: int, operator: str, lease_s: float) -> Escalation:
        """Claims an open item (or renews one's own claim) for `lease_s` seconds.

        One conditional UPDATE: of two operators claiming at once, one wins."""
        operator = required_text(operator, "the operator's name")
        if not lease_s > 0:
            raise QueueError(f"a lease must be a positive number of seconds, not {lease_s!r}")
        now = self.clock.now()
        won = self._items.claim(escalation_id, operator, now, now + lease_s)
        item = self._load(escalation_id)
        if not won:
            raise QueueError(self._why_not(item, operator))
        log.info("escalation %d claimed by %s for %g s", escalation_id, operator, lease_s)
        self._changed(escalation_id)
        return item

    async def release(self, escalation_id: int, operator: str) -> Escalation:
        """Gives a claimed item back to the queue, untouched."""
        released = self._items.release(escalation_id, operator, self.clock.now())
        item = self._load(escalation_id)
        if not released:
            raise QueueError(f"escalation {escalation_id} is not claimed by {operator}"
                             if item.state is not EscalationState.RESOLVED
                             else self._why_not(item, operator))
        self._changed(escalation_id)
        return item

    def save_draft(self, escalation_id: int, operator: str, reply: str, note: str) -> bool:
        """Keeps what `operator` is writing on an item they hold, so a restart or a
        crash doesn't lose it; the drafts are theirs (`draft_by`), shown to nobody else.
        Synchronous (one small UPDATE) so a closing window can save its last
        keystrokes; listeners aren't told: nothing they show changed. False when the
        claim is gone (released, lapsed, resolved, handed back): nothing is written."""
        return self._items.save_draft(escalation_id, operator, self.clock.now(), reply, note)

    # -- ending an item ------------------------------------------------------

    async def reply(self, escalation_id: int, operator: str, text: str, *,
                    intent: str | None = None) -> Escalation:
        """Answers the customer: the outcome becomes the operator's (route 'human'),
        the item is resolved, and the pair is kept as a labelled example."""
        text = required_text(text, "a reply")
        item = self._settle(self._claimed(escalation_id, operator))
        self._undecided(item)
        now = self.clock.now()
        label = intent or item.intent
        if not self._items.reply(item, operator, now, text, label):
            self._refused(item, operator)
        log.info("escalation %d answered by %s", escalation_id, operator)
        self._changed(escalation_id)
        return self._load(escalation_id)

    async def resolve(self, escalation_id: int, operator: str) -> Escalation:
        """Closes an item handled elsewhere (a call, an email), without a reply here."""
        item = self._settle(self._claimed(escalation_id, operator))
        self._undecided(item)
        now = self.clock.now()
        if not self._items.resolve(item, operator, now):
            self._refused(item, operator)
        self._changed(escalation_id)
        return self._load(escalation_id)

    async def hand_back(self, escalation_id: int, operator: str, note: str) -> Outcome:
        """Re-runs the request through the agent with the operator's note.

        The new outcome replaces the old; an answer resolves the item, a new
        escalation reopens it with the new reason and context. A write still
        waiting is denied: the agent decides again, within policy."""
        note = required_text(note, "a note for the agent")
        item = self._settle(self._claimed(escalation_id, operator))
        if item.pending_status is PendingStatus.APPROVING:
            raise QueueError(why_decided(item))
        denial = None
        if item.pending_status is not None and item.pending_status.undecided:
            denial = {"reason": "handed back to the agent", "by": operator,
                      "at": self.clock.now()}
        # The note is on disk with the request, marked accepted again: a crash before or
        # during the re-run leaves it for `resume`, with the note, not stranded.
        if not self._items.hand_back(item, operator, self.clock.now(), note, denial):
            self._refused(item, operator, undecided=denial is not None)
        self._changed(escalation_id)
        request = item.request
        log.info("escalation %d handed back by %s", escalation_id, operator)
        outcome = await self._rerun(Request(text=request.text, customer_id=request.customer_id,
                                            channel=request.channel, id=request.id,
                                            received_at=request.received_at, note=note))
        self._changed(escalation_id)
        return outcome


def _state(state: EscalationState | str | None) -> EscalationState | None:
    if state is None:
        return None
    try:
        return EscalationState(state)
    except ValueError:
        raise QueueError(f"unknown state {state!r}; one of: "
                         f"{', '.join(EscalationState)}") from None


def _reason(reason: EscalationReason | str | None) -> EscalationReason | None:
    if reason is None:
        return None
    try:
        return EscalationReason(reason)
    except ValueError:
        raise QueueError(f"unknown reason {reason!r}; one of: "
                         f"{', '.join(EscalationReason)}") from None
