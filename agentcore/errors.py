"""The one exception tree of agentcore.

Errors from openai, sqlite and tools are translated into these at the
boundary, so callers (the CLI, the console) never see a dependency's types.
`UserFacingError` subclasses carry a message an operator can act on; anything
else escaping the engine is a bug.
"""

from __future__ import annotations

from typing import Any


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


class DuplicateRequest(UserFacingError):
    """A request arrived with an id another request already has."""


class EmptyRuleSetError(RuleError):
    """A rule set to import leaves no rule enabled: it is taken only when asked for.
    `found` says what the file holds ("it has no rules"), for a question to ask."""

    def __init__(self, rule_id: str, reason: str, *, found: str) -> None:
        super().__init__(rule_id, reason)
        self.found = found


class StorageError(AgentError):
    """SQLite failed underneath us (disk full, locked, corrupt)."""


class LLMError(AgentError):
    """The LLM endpoint failed; `kind` says how, for retries and the ladder."""

    def __init__(self, kind: str, message: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind  # "timeout", "connection", "rate_limited", "server", "auth", "bad_request"
        self.status = status
        self.retry_after = retry_after


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


class NoDeterministicAnswer(AgentError):
    """A rule matched but its handler cannot answer (e.g. unknown order): use the LLM."""


class NeedsCustomer(NoDeterministicAnswer):
    """The answer is someone's records and the request names no customer: nobody's
    records are shown; the customer is asked who they are."""
