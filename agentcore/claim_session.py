"""One escalation in an operator's hands, without Qt: which item is shown, what this
operator may do with it now, the one-action-at-a-time guard, the lease kept alive
while they work on it, and the reply and note they are writing (kept per item, and
saved to the queue so a crash loses nothing).

The console's context panel is a view over a `ClaimSession`: it forwards keystrokes
(`touch`), asks `allowed` which buttons to enable, runs actions through `run`, and
shows what `on_changed` and `on_said` report. Everything here is tested headless on
a fake clock.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from agentcore.clock import Clock
from agentcore.errors import StorageError, UserFacingError
from agentcore.escalation_model import Escalation, EscalationState
from agentcore.escalations import EscalationQueue
from agentcore.models import Outcome, Status
from agentcore.settings import EscalationSettings

log = logging.getLogger("agentcore.claim_session")

T = TypeVar("T")


class Act(StrEnum):
    """What an operator can do with an item, in the order the console offers it."""

    CLAIM = "claim"
    RELEASE = "release"
    APPROVE = "approve"
    DENY = "deny"
    REPLY = "reply"
    RESOLVE = "resolve"
    HAND_BACK = "hand back"


class Renewal(StrEnum):
    RENEW = "renew"  # worked on since the last claim, half the lease gone: claim again
    RELOAD = "reload"  # lapsed: read it again, to show it open as it now is


@dataclass(frozen=True, slots=True)
class Texts:
    """The reply and the note in the boxes of one item."""

    reply: str = ""
    note: str = ""


def handed_back_text(outcome: Outcome) -> str:
    """What a hand-back's re-run did, in one line for the operator who handed it back:
    an item that comes back open looks, at a glance, as if nothing had happened."""
    if outcome.status is Status.ESCALATED:
        why = outcome.escalation_reason or "no reason recorded"
        return f"Handed back; the agent tried again and escalated it: {why}"
    if outcome.status is Status.ANSWERED:
        how = " (a degraded answer)" if outcome.degraded else ""
        return f"Handed back; the agent answered the customer{how}"
    return f"Handed back; the agent's new attempt ended {outcome.status}"


class ClaimSession:
    """`draft(item)` is the reply an item opens with when this operator has none of
    their own (the console's useful draft); by default the agent's draft answer."""

    def __init__(self, queue: EscalationQueue, clock: Clock,
                 settings: Callable[[], EscalationSettings],
                 draft: Callable[[Escalation], str] | None = None) -> None:
        self.queue = queue
        self.clock = clock
        self._settings = settings  # read at each use: the operator or lease may change
        self._draft = draft or (lambda item: item.draft_answer or "")
        self.item: Escalation | None = None
        self._running = 0  # actions under way: the renewal timer's claim may overlap one
        self.last_activity = float("-inf")
        self._unsent: dict[int, Texts] = {}  # item -> what was being written on it
        self.on_changed: list[Callable[[Escalation | None], None]] = []
        self.on_said: list[Callable[[str, bool], None]] = []  # text, is it a refusal

    @property
    def operator(self) -> str:
        return self._settings().operator

    @property
    def acting(self) -> bool:
        """An action runs: every other waits for it (until all that run are done)."""
        return self._running > 0

    @property
    def mine(self) -> bool:
        item = self.item
        return (item is not None and item.state is EscalationState.CLAIMED
                and item.claimed_by == self.operator)

    # -- what may be done --------------------------------------------------------

    def allowed(self) -> frozenset[Act]:
        """What this operator may do with the shown item now: nothing while another
        action runs (a second Approve pressed meanwhile must not fire)."""
        item = self.item
        if item is None or self.acting:
            return frozenset()
        if item.state is EscalationState.OPEN:
            return frozenset({Act.CLAIM})
        if not self.mine:
            return frozenset()
        acts = {Act.RELEASE, Act.REPLY, Act.RESOLVE, Act.HAND_BACK}
        if (item.pending_action is not None and item.pending_status is not None
                and item.pending_status.undecided):
            acts |= {Act.APPROVE, Act.DENY}
        return frozenset(acts)

    # -- showing -----------------------------------------------------------------

    def show(self, item: Escalation | None, current: Texts) -> Texts | None:
        """Shows `item`. Moving to another item keeps `current` (what the boxes hold)
        for the one left, and returns what the boxes should hold for the new one: its
        own unsent texts, the operator's saved drafts, else the prefilled draft. A
        re-read of the same item returns None: the boxes are left alone."""
        left = self.item
        same = item is not None and left is not None and item.id == left.id
        texts = None
        if not same:
            if left is not None and left.state is not EscalationState.RESOLVED:
                self._unsent[left.id] = current
            texts = self._unsent.pop(item.id, None) if item is not None else None
            texts = texts or self.prefill(item)
        self.item = item
        self._changed()
        return texts

    def draft(self, item: Escalation) -> str:
        """The reply `item` opens with when the operator has written none."""
        return self._draft(item)

    def prefill(self, item: Escalation | None) -> Texts:
        """The operator's own saved drafts (from before a restart), else the draft."""
        if item is None:
            return Texts()
        if item.draft_by != self.operator or not (item.reply_draft or item.note_draft):
            return Texts(self._draft(item), "")
        return Texts(item.reply_draft or self._draft(item), item.note_draft or "")

    async def load(self, escalation_id: int, *, fresh: bool,
                   current: Texts = Texts()) -> Texts | None:
        """Reads an item and shows it. `fresh`: the operator chose it; otherwise a
        re-read, dropped when the operator has moved on meanwhile (a slow hand-back).
        Returns what `show` returns; None also when the read failed (said)."""
        try:
            item = await self.queue.get(escalation_id)
        except (UserFacingError, StorageError) as exc:  # gone; a locked database
            self._say(str(exc), refusal=True)
            return None
        if not fresh and (self.item is None or self.item.id != escalation_id):
            return None
        return self.show(item, current)

    def _changed(self) -> None:
        for listener in tuple(self.on_changed):
            listener(self.item)

    def _say(self, text: str, *, refusal: bool) -> None:
        for listener in tuple(self.on_said):
            listener(text, refusal)

    # -- the lease and the drafts ------------------------------------------------

    def touch(self) -> None:
        """The operator worked on the item (a key, a click): the lease is kept for it."""
        self.last_activity = self.clock.now()

    def renewal(self) -> Renewal | None:
        """What keeping the claim needs now: renewed once half the lease is gone if the
        operator worked on it since it was claimed (one who walked away lets it lapse),
        read again once it lapsed; None: nothing."""
        item = self.item
        if not self.mine or item is None or item.lease_expires_at is None:
            return None
        lease_s = self._settings().lease_s
        left = item.lease_expires_at - self.clock.now()
        if left <= 0:
            return Renewal.RELOAD
        if left > lease_s / 2 or self.last_activity <= item.lease_expires_at - lease_s:
            return None
        return Renewal.RENEW

    def save_draft(self, texts: Texts) -> bool:
        """Saves what is being written on the shown item; False (and said) when the
        database refused: the words are still in the boxes."""
        item = self.item
        if item is None or item.state is EscalationState.RESOLVED:
            return True
        try:
            kept = self.queue.save_draft(item.id, self.operator, texts.reply, texts.note)
        except StorageError as exc:
            log.warning("escalation %d: saving the draft failed: %s", item.id, exc)
            self._say(f"Your reply is not saved yet: {exc}", refusal=True)
            return False
        if not kept and self.mine and (texts.reply or texts.note):
            # The claim is gone (lapsed, taken at another station): nothing was written.
            self._say(f"Your reply is not saved: your claim on escalation {item.id} is "
                      "gone; claim it again to keep it", refusal=True)
            return False
        return True

    # -- acting ------------------------------------------------------------------

    async def run(self, action: Awaitable[T]) -> T:
        """Runs one action, the others held meanwhile. `allowed` comes back inside the
        task, not a loop turn later: once it is done the next key press works."""
        self._running += 1
        self._changed()
        try:
            return await action
        finally:
            self._running -= 1
            self._changed()

    async def act(self, what: Callable[[Escalation], Awaitable[T]], *,
                  expected: int | None = None) -> T | None:
        """One queue call on the shown item. A refusal is said; the item is read again
        either way, since a refusal often means someone else changed it. `expected`:
        the item the operator was asked about (a confirmation); another shown now
        (the selection moved while the question was open) is not acted on."""
        item = self.item
        if item is None:
            return None
        if expected is not None and item.id != expected:
            self._say(f"Nothing was done: you were asked about escalation {expected}, "
                      f"and escalation {item.id} is shown now", refusal=True)
            return None
        self.touch()  # acting on it is working on it
        result: T | None
        try:
            result = await what(item)
        except (UserFacingError, StorageError) as exc:  # QueueError; a locked database
            log.info("escalation %d: refused: %s", item.id, exc)
            self._say(str(exc), refusal=True)
            result = None
        await self.load(item.id, fresh=False)
        return result

    async def claim(self) -> Escalation | None:
        lease_s = self._settings().lease_s
        return await self.act(lambda item: self.queue.claim(item.id, self.operator, lease_s))

    async def release(self) -> Escalation | None:
        return await self.act(lambda item: self.queue.release(item.id, self.operator))

    async def approve(self, arguments: dict[str, Any] | None,
                      override_reason: str | None = None, *,
                      escalation_id: int | None = None) -> dict[str, Any] | None:
        """Approves the pending write (as edited); the console has asked first, about
        `escalation_id`: nothing is approved if another item is shown by now."""
        return await self.act(lambda item: self.queue.approve(
            item.id, self.operator, arguments, override_reason=override_reason),
            expected=escalation_id)

    async def deny(self, reason: str) -> Escalation | None:
        return await self.act(lambda item: self.queue.deny(item.id, self.operator, reason))

    async def reply(self, text: str) -> Escalation | None:
        return await self.act(lambda item: self.queue.reply(item.id, self.operator, text))

    async def resolve(self) -> Escalation | None:
        return await self.act(lambda item: self.queue.resolve(item.id, self.operator))

    async def hand_back(self, note: str) -> Outcome | None:
        """Hands back with the note, and says what the agent's new attempt did."""
        outcome = await self.act(lambda item: self.queue.hand_back(item.id, self.operator,
                                                                    note))
        if outcome is not None:
            self._say(handed_back_text(outcome), refusal=False)
        return outcome

    def forget(self, escalation_id: int) -> None:
        """Drops what was being written on an item that is done with."""
        self._unsent.pop(escalation_id, None)
