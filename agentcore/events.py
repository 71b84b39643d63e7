"""Plain-callback events as a request moves through the engine.

Subscribers are called synchronously on the engine's loop; a subscriber that
raises is logged and skipped, never allowed to break a request. The console's
bridge is one subscriber that turns these into Qt signals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from agentcore.models import Outcome, Request, Span
from agentcore.tool_servers import ServerReport

log = logging.getLogger("agentcore.events")


@dataclass(frozen=True, slots=True)
class RequestAccepted:
    request: Request


@dataclass(frozen=True, slots=True)
class RequestRejected:
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class SpanFinished:
    request_id: str
    span: Span


@dataclass(frozen=True, slots=True)
class RequestAnswered:
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class RequestEscalated:
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class BreakerChanged:
    """The LLM circuit breaker moved (or an operator forced / released it)."""

    old: str
    new: str
    reason: str
    mode: str  # "auto", "forced_open", "forced_closed"
    cause: str | None = None  # opened: why, in an operator's words (an `LLMCause`)


@dataclass(frozen=True, slots=True)
class EscalationChanged:
    """The escalation queue changed an item (claimed, released, acted on, resolved,
    handed back, re-run): views showing it read it again."""

    escalation_id: int


@dataclass(frozen=True, slots=True)
class DataChanged:
    """The domain's data changed (a write of this process committed): what it touched,
    as cache tags (`order:12345`, `customer:42`)."""

    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ToolServerChanged:
    """A tool server's state or tool list changed (connected, lost, listed again)."""

    report: ServerReport


@dataclass(frozen=True, slots=True)
class RulesChanged:
    """Another process on the shared database saved the rule set: this engine's router
    was swapped for it; views showing the rules read them again."""

    version_id: int | None


@dataclass(frozen=True, slots=True)
class StoreChanged:
    """Another process on the shared database changed what a view reads from it:
    `kind` is "replies" (saved replies), "learned" (the learned tier's versions) or
    "audit" (a new entry in the audit log)."""

    kind: str


@dataclass(frozen=True, slots=True)
class DatabaseLink:
    """The live link to the shared database (its notifications) was lost, `problem`
    saying why in an operator's words, or is back (`up`). Back after a loss, every view
    reads the store afresh: what changed meanwhile was never notified."""

    up: bool
    problem: str | None = None


Event = (RequestAccepted | RequestRejected | SpanFinished | RequestAnswered | RequestEscalated
         | BreakerChanged | EscalationChanged | DataChanged | ToolServerChanged | RulesChanged
         | StoreChanged | DatabaseLink)
Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Adds a subscriber; returns the function that removes it."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscribers)

    def publish(self, event: Event) -> None:
        for subscriber in tuple(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", subscriber,
                              type(event).__name__)
