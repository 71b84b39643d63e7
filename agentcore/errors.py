"""The one exception tree of agentcore: every exception a caller may catch is here.

    AgentError                    anything agentcore raises on purpose
    +-- UserFacingError           an operator can fix it: show the message, no traceback
    |   +-- SettingsError         a setting has a value the engine cannot use
    |   +-- RuleError             a rule cannot be compiled or rendered (rule id, reason)
    |   |   +-- PatternError      its pattern is invalid at a place (pattern, position)
    |   |   +-- EmptyRuleSetError an imported set leaves no rule enabled (ask first)
    |   +-- DuplicateRequest      a request id another request already has
    |   +-- QueueError            an operator's action on the escalation queue is refused
    |   +-- LearnedModelError     the learned tier can't train (too few examples) or load a
    |                             model (another format, another scikit-learn): retrain
    |   +-- DatabaseUnreachable   the PostgreSQL server is not there, refuses the password,
    |                             or the URL is not one: one sentence naming the host
    |   +-- IntakeUnreachable     an attached station's service (its intake) does not
    |                             answer, refuses the token, or never finishes a request
    +-- StorageError              the engine database failed underneath (disk full, locked,
                                  corrupt, a server gone mid-query)
    +-- LLMError                  the LLM endpoint failed; `kind` (LLMErrorKind) says how,
    |   |                         `cause` (LLMCause) says it in an operator's words
    |   +-- BreakerOpenError      the circuit breaker refused the call; nothing was sent
    |   +-- MissingKeyError       the endpoint wants an API key and none is stored
    |   +-- ThrottledError        the local rate limiter cannot grant it before the deadline
    +-- MalformedOutput           the LLM's final reply does not fit the answer schema
    +-- ToolError                 a tool failed; the message is safe to show to the LLM
    |   +-- RecordNotFound        no such record of this customer's (an answer, not a fault)
    |   +-- WriteRefused          a write held to its policy refused; `offer` what it allows
    |   +-- ToolArgumentsError    the LLM's arguments do not match the tool's schema
    |   +-- UnknownToolError      the LLM asked for a tool that is not in the registry
    |   +-- ToolServerError       a tool server did not answer the call: not ready, timed
    |                             out, or the connection died under it
    +-- NoDeterministicAnswer     a rule matched, its handler cannot answer: use the LLM
    |   +-- NeedsCustomer         the answer is someone's records and no customer is named
    +-- BacktestCancelled         a newer backtest superseded this one

What to catch for what:
- the console and the CLI: `UserFacingError` (say its message beside the action) and
  `StorageError` (a locked database: say so, retry later); anything else is a bug for
  the one excepthook;
- retries, the breaker and the agent loop: `LLMError`, told apart by `kind`, never by
  its text; the two subclasses are LLMErrors so a caller that handles an unavailable
  LLM handles them too;
- the agent loop: `ToolError` and its subclasses (each ends or corrects a turn),
  `MalformedOutput` (one corrective retry);
- the engine and the ladder: `NoDeterministicAnswer` (take the slow path);
- the backtest runner: `BacktestCancelled` (drop the stale result quietly).

Errors from openai, sqlite and tools are translated into these at the boundary, so
callers never see a dependency's types. Exceptions that never leave their module
(`agent_loop._Escalate`, `connection_check._WrongPath`) are control flow, not part
of this tree.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = [
    "AgentError",
    "BacktestCancelled",
    "BreakerOpenError",
    "ChatwootError",
    "DatabaseUnreachable",
    "DuplicateRequest",
    "EmptyRuleSetError",
    "IdempotencyKeyReused",
    "IntakeUnreachable",
    "LLMCause",
    "LLMError",
    "LLMErrorKind",
    "LearnedModelError",
    "MalformedOutput",
    "MissingKeyError",
    "NeedsCustomer",
    "NoDeterministicAnswer",
    "PatternError",
    "QueueError",
    "RecordNotFound",
    "RuleError",
    "RulesChangedError",
    "SettingsError",
    "StorageError",
    "ThrottledError",
    "ToolArgumentsError",
    "ToolError",
    "ToolServerError",
    "Undeliverable",
    "UnknownToolError",
    "UserFacingError",
    "WriteRefused",
]


class AgentError(Exception):
    """Base of every error agentcore raises on purpose."""


class UserFacingError(AgentError):
    """Something an operator did or configured that can be fixed by them."""


class SettingsError(UserFacingError):
    """A setting has a value the engine cannot use."""


class RuleError(UserFacingError):
    """A rule cannot be compiled or rendered; names the rule and the reason."""

    def __init__(self, rule_id: str, reason: str) -> None:
        super().__init__(f"rule {rule_id!r}: {reason}")
        self.rule_id = rule_id
        self.reason = reason


class PatternError(RuleError):
    """A rule's pattern is not valid RE2 (or names an unknown fragment) at a place in it.

    `pattern` is the operator's own, as typed (fragments unexpanded) and `position`
    the index of the character at fault in it, or None when the fault is not at one
    place; the console draws a caret under it. The expanded regex is never quoted:
    it can run to thousands of characters."""

    def __init__(self, rule_id: str, reason: str, *, pattern: str,
                 position: int | None) -> None:
        super().__init__(rule_id, reason)
        self.pattern = pattern
        self.position = position


class DuplicateRequest(UserFacingError):
    """A request arrived with an id another request already has."""


class IdempotencyKeyReused(UserFacingError):
    """An idempotency key (or external id) came with a request other than its first:
    another text, customer or channel. Never answered with the first request, which may
    be another customer's."""


class EmptyRuleSetError(RuleError):
    """A rule set to import leaves no rule enabled: it is taken only when asked for.
    `found` says what the file holds ("it has no rules"), for a question to ask."""

    def __init__(self, rule_id: str, reason: str, *, found: str) -> None:
        super().__init__(rule_id, reason)
        self.found = found


class RulesChangedError(RuleError):
    """A change was made against a rule set that is no longer the live one: another
    station (or process) saved a version since. Nothing was saved."""

    def __init__(self, base: int, latest: int) -> None:
        super().__init__("(live set)", f"the live rules changed elsewhere since this "
                         f"change was made (from version {base}, now version {latest}): "
                         "nothing was applied; this station now runs the newer set, "
                         "look at it and apply again")
        self.base = base
        self.latest = latest


class QueueError(UserFacingError):
    """An operator's action on the queue cannot be done; the message says why."""


class LearnedModelError(UserFacingError):
    """The learned tier refused: too few examples or intents to train on, or a stored
    model it cannot read (another format version, another scikit-learn major). The
    engine then runs without the tier and says so; retraining mends it."""


class StorageError(AgentError):
    """The engine database failed underneath us (disk full, locked, corrupt, a server
    gone mid-query)."""


class DatabaseUnreachable(UserFacingError):
    """The team database cannot be used as configured: no server answers, it refuses
    the user or password, the database is missing, or the URL is not one. The message
    names the host and what to do, never the password."""


class IntakeUnreachable(UserFacingError):
    """An attached station cannot send through its service's intake: nothing answers
    at the URL, the intake refuses the station's token, or it does not finish a request
    in time. The message names the URL and what to do, never the token; `status` is
    the service's HTTP status when it answered with a refusal."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LLMErrorKind(StrEnum):
    """How an LLM call failed. Retries, the breaker and the ladder decide on this, so
    a message's wording never changes what happens; the values are the strings the
    stats, the console and `agentcore check --json` have always shown."""

    # The endpoint is unwell: retryable, and counted by the breaker.
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    RATE_LIMITED = "rate_limited"  # HTTP 429
    SERVER = "server"  # HTTP 5xx
    # About this request: the same every time, never retried, never counted.
    AUTH = "auth"  # HTTP 401 / 403
    BAD_REQUEST = "bad_request"  # any other status below 500
    NOT_FOUND = "not_found"  # HTTP 404: the model or the path
    MALFORMED = "malformed"  # a body we cannot read as a completion
    # Decided on our side, before or instead of asking the endpoint.
    BREAKER_OPEN = "breaker_open"
    THROTTLED = "throttled"  # the local rate limiter
    DEADLINE = "deadline"  # the request's deadline passed


class LLMCause(StrEnum):
    """Why the LLM could not be had, in an operator's words: what an escalation, the
    outage banner and the queue say instead of a bare "llm unavailable". The values
    are shown, not stored as keys: a new one needs no migration."""

    NO_KEY = "no API key"
    KEY_REJECTED = "rejected the key"
    UNREACHABLE = "endpoint unreachable"
    TIMED_OUT = "timed out"
    RATE_LIMITED = "rate limited"
    SERVER_ERROR = "server error"
    NOT_FOUND = "model or path not found"
    REFUSED = "request refused"  # any other 4xx
    UNREADABLE = "unreadable reply"
    SWITCHED_OFF = "switched off by an operator"  # the breaker forced open
    NOT_SET_UP = "client not set up"  # the client could not be built (the settings)

    @classmethod
    def of_kind(cls, kind: LLMErrorKind) -> LLMCause:
        return _CAUSES.get(kind, cls.UNREACHABLE)


_CAUSES = {
    LLMErrorKind.TIMEOUT: LLMCause.TIMED_OUT,
    LLMErrorKind.DEADLINE: LLMCause.TIMED_OUT,
    LLMErrorKind.CONNECTION: LLMCause.UNREACHABLE,
    LLMErrorKind.RATE_LIMITED: LLMCause.RATE_LIMITED,
    LLMErrorKind.THROTTLED: LLMCause.RATE_LIMITED,
    LLMErrorKind.SERVER: LLMCause.SERVER_ERROR,
    LLMErrorKind.AUTH: LLMCause.KEY_REJECTED,  # keyless: MissingKeyError says NO_KEY
    LLMErrorKind.NOT_FOUND: LLMCause.NOT_FOUND,
    LLMErrorKind.BAD_REQUEST: LLMCause.REFUSED,
    LLMErrorKind.MALFORMED: LLMCause.UNREADABLE,
}


class LLMError(AgentError):
    """The LLM endpoint failed; `kind` says how, for retries and the ladder."""

    def __init__(self, kind: LLMErrorKind, message: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.status = status
        self.retry_after = retry_after

    @property
    def cause(self) -> LLMCause:
        """The operator's word for it. A retry that gave up wraps the last attempt's
        error (`__cause__`): a missing key stays a missing key through it."""
        inner = self.__cause__
        if isinstance(inner, LLMError) and inner.kind is self.kind:
            return inner.cause
        return LLMCause.of_kind(self.kind)


class BreakerOpenError(LLMError):
    """The circuit breaker refused the call; nothing was sent. `opened_by` is the kind
    of failure that opened it (None: an operator forced it open)."""

    def __init__(self, message: str, *, retry_in_s: float,
                 opened_by: LLMCause | None = None) -> None:
        super().__init__(LLMErrorKind.BREAKER_OPEN, message)
        self.retry_in_s = retry_in_s  # until the next half-open probe; inf when forced open
        self.opened_by = opened_by

    @property
    def cause(self) -> LLMCause:
        return self.opened_by or LLMCause.SWITCHED_OFF


class MissingKeyError(LLMError):
    """The endpoint answered 401 and the keyring holds no key for it (or could not be
    read): "store a key", not "the key is wrong"."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(LLMErrorKind.AUTH, message, status=status)

    @property
    def cause(self) -> LLMCause:
        return LLMCause.NO_KEY


class ThrottledError(LLMError):
    """The local rate limiter cannot grant the call before the request's deadline."""

    def __init__(self, message: str, *, wait_s: float) -> None:
        super().__init__(LLMErrorKind.THROTTLED, message)
        self.wait_s = wait_s  # how long the call would have had to wait


class MalformedOutput(AgentError):
    """The LLM's final reply does not match the answer schema."""


class ToolError(AgentError):
    """A tool failed; the message is safe to show to the LLM."""


class RecordNotFound(ToolError):
    """No such record of this customer's: a definite answer about the request, not a
    failure of the backend (the engine's own lookups are not alarmed by it)."""


class WriteRefused(ToolError):
    """A write tool refused to act, at the write: what was asked is more than its
    policy allows now. `limits` is what bounded it (shown to an operator); `offer`
    the arguments the policy would allow instead, or None when nothing could be
    done (nothing left to refund, say)."""

    def __init__(self, message: str, limits: dict[str, Any] | None = None,
                 offer: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.limits = limits or {}
        self.offer = offer


class ToolArgumentsError(ToolError):
    """The LLM's arguments do not match the tool's schema."""


class UnknownToolError(ToolError):
    """The LLM asked for a tool that is not in the registry."""


class ToolServerError(ToolError):
    """A tool server did not answer a call: it is not ready (the message names its
    state and why), the call timed out, or the connection died while it ran. Not
    an answer from the tool (an `isError` result is one): whether the call acted
    is unknown, so a write is not retried on it."""


class NoDeterministicAnswer(AgentError):
    """A rule matched but its handler cannot answer (e.g. unknown order): use the LLM."""


class NeedsCustomer(NoDeterministicAnswer):
    """The answer is someone's records and the request names no customer: nobody's
    records are shown; the customer is asked who they are."""


class BacktestCancelled(AgentError):
    """A newer backtest superseded this one."""


class Undeliverable(AgentError):
    """A receiver refused a delivery for good (a webhook's 400, 401, 403, 404, 410 or
    422): the outbox marks it dead at once instead of retrying it."""

    retryable = False


class ChatwootError(AgentError):
    """Chatwoot's API refused or could not be reached (aiohttp's errors translated);
    `retryable`: whether trying again could help (a 5xx, a timeout, a refused
    connection), not a 401 bad token or a 404 conversation gone."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable
