"""The data that moves through the engine: requests, spans, outcomes.

Plain dataclasses: they are created on the hot path (a fast-path answer costs
a few microseconds), so no validation layer here; the guard validates input.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from agentcore.tool_results import ToolResults


class Route(StrEnum):
    GUARD = "guard"  # rejected before any work
    RULE = "rule"  # fast path: a rule and its template
    LEARNED = "learned"  # fast path: the learned tier named the intent, a rule's template
    LLM = "llm"  # slow path: the bounded LLM loop
    CACHE_L1 = "cache-l1"  # a cached answer from memory
    CACHE_L2 = "cache-l2"  # a cached answer from SQLite
    TEMPLATE = "template"  # the ladder's rule template for the intent, no order looked up
    STATIC = "static"  # the ladder's static answer for the intent
    HUMAN = "human"  # an operator's reply


class Status(StrEnum):
    ANSWERED = "answered"
    ESCALATED = "escalated"
    REJECTED = "rejected"


class EscalationReason(StrEnum):
    DOLLAR_CEILING = "dollar ceiling"
    ITERATION_LIMIT = "iteration limit"
    UNKNOWN_TOOL = "unknown tool"
    INVALID_ARGUMENTS = "invalid tool arguments"
    MALFORMED_OUTPUT = "malformed output"
    POLICY_VIOLATION = "policy violation"
    LLM_UNAVAILABLE = "llm unavailable"
    BREAKER_OPEN = "breaker open"
    CUSTOMER_ASKED_FOR_HUMAN = "customer asked for a human"
    LOW_CONFIDENCE = "low confidence"
    TOOL_FAILED = "tool failed"
    INTERNAL_ERROR = "internal error"


def storable(text: object) -> str:
    """Text a database can hold: lone surrogates (invalid UTF-8) become U+FFFD, and so
    does NUL, which PostgreSQL's text refuses (the guard rejects a text with one as
    binary; its record must still be written, on either backend alike)."""
    if not isinstance(text, str):  # a rejected non-text request is kept as its repr
        text = repr(text)
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def new_request_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class Request:
    text: str
    customer_id: int | None = None
    channel: str = "chat"
    id: str = field(default_factory=new_request_id)
    received_at: float = 0.0  # set by the engine's clock on submit when 0
    note: str | None = None  # operator context for a re-run (handed back)


@dataclass(slots=True)
class Span:
    """One stage of one request. Times are wall-clock seconds since the epoch."""

    name: str
    start: float
    end: float = 0.0
    attributes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    parent: str | None = None  # name of the enclosing span, for the waterfall

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start) * 1000.0


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dollars: float = 0.0

    def add(self, prompt: int, completion: int, dollars: float) -> None:
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.dollars += dollars


@dataclass(slots=True)
class PendingAction:
    """A write the agent wanted but may not do alone (waits for an operator).

    `arguments` are what an approval would do: for a write the policy refused,
    what the policy allows, never what was refused; that is kept in `requested`."""

    tool: str
    arguments: dict[str, Any]
    allowed: dict[str, Any] = field(default_factory=dict)  # what policy allows
    requested: dict[str, Any] | None = None  # the refused arguments, for the operator to see
    tool_version: str | None = None  # a tool server's tool as it was asked (tools.Tool.version)


@dataclass(frozen=True, slots=True)
class PolicyOverride:
    """An operator's explicit decision to act above a write's policy. The write still
    holds its hard limits (a refund never exceeds what was paid)."""

    operator: str
    reason: str


@dataclass(slots=True)
class Outcome:
    request: Request
    route: Route
    status: Status
    answer: str = ""
    intent: str | None = None
    rule_id: str | None = None
    spans: list[Span] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    errors: list[str] = field(default_factory=list)
    escalation_reason: EscalationReason | None = None
    pending_action: PendingAction | None = None
    tool_results: ToolResults = field(default_factory=ToolResults)
    draft_answer: str | None = None
    latency_ms: float = 0.0
    rung: str | None = None  # set when degraded: "cache", "template", "static" or "human"
    # The LLM could not be had: why, in an operator's words (an `LLMCause`: "no API
    # key", "endpoint unreachable"), on a degraded answer and an escalation alike.
    llm_cause: str | None = None

    @property
    def request_id(self) -> str:
        return self.request.id

    @property
    def degraded(self) -> bool:
        """Answered by a rung of the ladder because the LLM could not be had."""
        return self.rung in ("cache", "template", "static")


@dataclass(frozen=True, slots=True)
class OutcomeSummary:
    """A request's outcome as the engine database keeps it (no spans, no context):
    what the queue shows of an escalation and the feed settles a row with."""

    request_id: str
    route: Route
    status: Status
    answer: str
    intent: str | None
    rule_id: str | None
    dollars: float
    latency_ms: float
    finished_at: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: tuple[str, ...] = ()
    escalation_reason: EscalationReason | None = None
    operator: str | None = None  # who resolved it (route 'human'); None: the engine
