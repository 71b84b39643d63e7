"""An LLM outage as one thing an operator can see and act on, not a request at a time.

A dead endpoint used to show as a flood: every slow-path request its own escalation,
its own notice. `OutageTracker` listens to the engine's events and keeps the outage
whole instead:

    starts   the first outcome the LLM could not serve (`Outcome.llm_cause` set), or
             the breaker opening
    counts   the requests answered degraded (by a lower rung of the ladder) and
             escalated during it, and the escalations it caused
    ends     when a call reaches the LLM and comes back (a request's LLM span without
             an error), or the breaker closes on its own (its probes succeeded)

A request accepted before the outage ended and failing after it (a straggler in its
retries) is counted in the outage that ended, rather than starting another; a new
failure within `REJOIN_S` of the end takes the same outage up again (a flapping
endpoint is one outage, its items one group). The
tracker is plain Python: an injected clock, plain-callback listeners (the console's
banner is one), no Qt. `Outage.summary` is its sentence for the banner; `hand_back_all` is
the group action on an outage's items, through the escalation queue's own claim and
hand-back, one at a time.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentcore.errors import LLMCause, QueueError, StorageError
from agentcore.escalation_model import EscalationState
from agentcore.events import BreakerChanged, Event, RequestAnswered, RequestEscalated
from agentcore.models import Outcome, Status

log = logging.getLogger("agentcore.outage")

Listener = Callable[["Outage"], None]
REJOIN_S = 60.0  # an outage failing again this soon after it ended goes on, as one


# What the operator reads first, per cause, and where to look.
_HEADLINES: dict[str, tuple[str, str]] = {
    LLMCause.NO_KEY: ("LLM endpoint needs an API key (none stored)",
                      "Store one in Settings."),
    LLMCause.KEY_REJECTED: ("LLM endpoint rejecting the API key", "Check it in Settings."),
    LLMCause.UNREACHABLE: ("LLM endpoint unreachable",
                           "Check the base URL in Settings and that the server runs."),
    LLMCause.TIMED_OUT: ("LLM endpoint timing out", ""),
    LLMCause.RATE_LIMITED: ("LLM endpoint rate limiting us", ""),
    LLMCause.SERVER_ERROR: ("LLM endpoint failing (server errors)", ""),
    LLMCause.NOT_FOUND: ("LLM model or path not found",
                         "Check the model and the base URL in Settings."),
    LLMCause.REFUSED: ("LLM endpoint refusing the requests", ""),
    LLMCause.UNREADABLE: ("LLM replies unreadable", ""),
    LLMCause.SWITCHED_OFF: ("LLM switched off by an operator",
                            "LLM > Breaker automatic turns it back on."),
    LLMCause.NOT_SET_UP: ("LLM client not set up", "Check the LLM settings."),
}


def clock_time(at: float) -> str:
    return time.strftime("%H:%M", time.localtime(at))


def duration_text(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


@dataclass(slots=True)
class Outage:
    """One stretch of time the LLM could not be had. Times are wall-clock seconds."""

    since: float
    cause: str  # the latest cause seen, an `LLMCause` value ("endpoint unreachable")
    degraded: int = 0
    escalated: int = 0
    escalation_ids: list[int] = field(default_factory=list)  # in the order they arrived
    ended_at: float | None = None
    handed_back: set[int] = field(default_factory=set)  # by `hand_back_all`, done

    @property
    def to_hand_back(self) -> list[int]:
        """Its escalations not handed back yet (a flapping endpoint adds more)."""
        return [i for i in self.escalation_ids if i not in self.handed_back]

    @property
    def ongoing(self) -> bool:
        return self.ended_at is None

    def duration_s(self, now: float) -> float:
        return max(0.0, (self.ended_at if self.ended_at is not None else now) - self.since)

    def summary(self, now: float, at: Callable[[float], str] | None = None) -> str:
        """The banner's sentence: "LLM endpoint unreachable since 14:02 (3 min): 12
        answered degraded, 7 escalated." and a hint, and once it is over "LLM endpoint back at 14:09
        after 7 min (endpoint unreachable): 12 answered degraded; 7 escalated items can
        be handed back". `at` writes a time of day (default: local hours and minutes)."""
        at = at or clock_time
        counts = f"{self.degraded:,} answered degraded"
        if self.ended_at is None:
            headline, hint = _HEADLINES.get(self.cause, (f"LLM: {self.cause}", ""))
            return (f"{headline} since {at(self.since)} "
                    f"({duration_text(self.duration_s(now))}): {counts}, "
                    f"{self.escalated:,} escalated." + (f" {hint}" if hint else ""))
        items = len(self.to_hand_back)
        left = ("nothing was escalated" if not self.escalation_ids
                else "every escalated item was handed back" if not items else
                f"{items:,} escalated item{'s' * (items != 1)} can be handed back")
        return (f"LLM endpoint back at {at(self.ended_at)} after "
                f"{duration_text(self.duration_s(now))} ({self.cause}): {counts}; {left}.")

    @property
    def hand_back_note(self) -> str:
        """What the agent is told when the outage's items are handed back to it."""
        return (f"Escalated while the LLM could not be had ({self.cause}); it is back: "
                "answer the customer again.")


def _reached_llm(outcome: Outcome) -> bool:
    """A call of this request's went to the LLM and came back with a completion."""
    return any(span.parent == "llm_loop" and span.error is None
               and (span.name == "classify" or span.name.startswith("llm["))
               for span in outcome.spans)


class OutageTracker:
    def __init__(self, now: Callable[[], float],
                 escalation_of: Callable[[str], int | None]) -> None:
        """`now` is the engine clock's wall time; `escalation_of` finds a request's
        escalation (the queue's `of_request`), there as soon as the event is."""
        self._now = now
        self._escalation_of = escalation_of
        self.rejoin_s = REJOIN_S
        self.current: Outage | None = None  # ongoing, or the last one until dismissed
        self._listeners: list[Listener] = []

    @property
    def ongoing(self) -> bool:
        return self.current is not None and self.current.ongoing

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """`listener(outage)` after every change of the current outage."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def dismiss(self) -> None:
        """Forgets an outage that has ended (the operator closed its banner)."""
        if self.current is not None and not self.current.ongoing:
            self.current = None

    # -- the engine's events ------------------------------------------------------

    def observe(self, event: Event) -> None:
        """Subscribed to the engine's bus: `engine.subscribe(tracker.observe)`."""
        if isinstance(event, RequestAnswered | RequestEscalated):
            outcome = event.outcome
            if outcome.llm_cause is not None:
                self._failed(outcome)
            elif _reached_llm(outcome):
                self._end()
        elif isinstance(event, BreakerChanged):
            if event.new == "open":
                self._start(event.cause or str(LLMCause.UNREACHABLE))
            elif event.new == "closed" and event.mode == "auto" and event.old == "half_open":
                self._end()  # its probes reached the endpoint and succeeded

    def _start(self, cause: str) -> Outage:
        outage, now = self.current, self._now()
        if (outage is not None and outage.ended_at is not None
                and now - outage.ended_at < self.rejoin_s):
            # A flapping endpoint is one outage, not a banner replaced every minute
            # that takes the last one's items out of the operator's reach.
            outage.ended_at = None
            log.warning("LLM outage again after %.0f s: %s", now - outage.since, cause)
        elif outage is None or not outage.ongoing:
            outage = self.current = Outage(since=now, cause=cause)
            log.warning("LLM outage began: %s", cause)
        outage.cause = cause
        return outage

    def _failed(self, outcome: Outcome) -> None:
        cause = outcome.llm_cause or str(LLMCause.UNREACHABLE)
        last = self.current
        if (last is not None and last.ended_at is not None
                and outcome.request.received_at < last.ended_at):
            outage = last  # a straggler of the outage that just ended
        else:
            outage = self._start(cause)
        if outcome.status is Status.ESCALATED:
            outage.escalated += 1
            escalation_id = self._escalation_of(outcome.request_id)
            if escalation_id is not None and escalation_id not in outage.escalation_ids:
                outage.escalation_ids.append(escalation_id)
        elif outcome.degraded:
            outage.degraded += 1
        self._notify(outage)

    def _end(self) -> None:
        outage = self.current
        if outage is None or not outage.ongoing:
            return
        outage.ended_at = self._now()
        log.warning("LLM outage over after %.0f s (%s): %d degraded, %d escalated",
                    outage.duration_s(outage.ended_at), outage.cause, outage.degraded,
                    outage.escalated)
        self._notify(outage)

    def _notify(self, outage: Outage) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(outage)
            except Exception:  # a listener must not fail a request's events
                log.exception("outage listener %r failed", listener)


# -- the group action -----------------------------------------------------------------

class HandBackQueue(Protocol):
    """What `hand_back_all` needs of the escalation queue."""

    async def get(self, escalation_id: int) -> Any: ...

    async def claim(self, escalation_id: int, operator: str, lease_s: float) -> Any: ...

    async def hand_back(self, escalation_id: int, operator: str, note: str) -> Outcome: ...

    async def release(self, escalation_id: int, operator: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class HandBackReport:
    answered: int = 0  # handed back, and the agent answered this time
    escalated_again: int = 0  # handed back, and escalated again (with a new reason)
    refused: tuple[tuple[int, str], ...] = ()  # (id, why): claimed by another, resolved
    done: tuple[int, ...] = ()  # the ids handed back

    @property
    def handed_back(self) -> int:
        return self.answered + self.escalated_again

    def text(self) -> str:
        """"5 handed back: 4 answered, 1 escalated again; 2 refused (#12: ...)"."""
        parts = [f"{self.handed_back} handed back"]
        if self.handed_back:
            parts[0] += (f": {self.answered} answered, {self.escalated_again} "
                         "escalated again")
        if self.refused:
            first_id, why = self.refused[0]
            more = f" and {len(self.refused) - 1} more" if len(self.refused) > 1 else ""
            parts.append(f"{len(self.refused)} refused (#{first_id}: {why}{more})")
        return "; ".join(parts)


async def hand_back_all(queue: HandBackQueue, ids: Sequence[int], operator: str, *,
                        note: str, lease_s: float,
                        progress: Callable[[int, int], None] | None = None) -> HandBackReport:
    """Claims and hands back each item in turn, so the agent re-runs them one at a
    time (a just-healed endpoint is not handed a burst). An item the queue refuses
    (claimed by someone else, already resolved) is skipped and said why; so is one
    `operator` holds already (at another station, or open in this console's panel):
    claiming it would only renew the claim, and the hand-back would wipe the reply
    being written on it; and so is one with a write waiting for a decision: a hand-back
    denies it, and a refund is decided item by item, never in bulk.
    `progress(done, total)` after each."""
    answered = again = 0
    refused: list[tuple[int, str]] = []
    done_ids: list[int] = []
    for done, escalation_id in enumerate(ids, 1):
        try:
            held = await queue.get(escalation_id)
            if (held.state is EscalationState.CLAIMED and held.claimed_by == operator):
                raise QueueError(f"escalation {escalation_id} is claimed by you already: "
                                 "hand it back from its panel, if you mean to")
            status = held.pending_status
            if held.pending_action is not None and status is not None and status.undecided:
                raise QueueError(f"escalation {escalation_id} has a write waiting for a "
                                 "decision: approve or deny it from its panel")
            await queue.claim(escalation_id, operator, lease_s)
            outcome = await queue.hand_back(escalation_id, operator, note)
        except QueueError as exc:
            refused.append((escalation_id, str(exc)))
        except StorageError as exc:  # a locked database: this one; the next may pass
            log.warning("escalation %d: handing it back failed: %s", escalation_id, exc)
            refused.append((escalation_id, str(exc)))
            # Not left held by us, where the next "Hand back all" would skip it (it may
            # never have been claimed, or be handed back after all: `resume` has it).
            with contextlib.suppress(QueueError, StorageError):
                await queue.release(escalation_id, operator)
        else:
            done_ids.append(escalation_id)
            if outcome.status is Status.ANSWERED:
                answered += 1
            else:
                again += 1
        if progress is not None:
            progress(done, len(ids))
    report = HandBackReport(answered, again, tuple(refused), tuple(done_ids))
    log.info("outage items handed back by %s: %s", operator, report.text())
    return report
