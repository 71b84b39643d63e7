"""agentcore: a hybrid support agent (rules first, a bounded LLM loop second), headless.

The console and the command line use only what is exported here.
"""

from agentcore.clock import Clock, FakeClock, SystemClock
from agentcore.credentials import KeyringCredentials
from agentcore.engine import Engine
from agentcore.errors import (
    AgentError,
    LLMError,
    RuleError,
    SettingsError,
    StorageError,
    ToolError,
    UserFacingError,
)
from agentcore.escalations import (
    Escalation,
    EscalationQueue,
    EscalationState,
    PendingStatus,
    QueueError,
)
from agentcore.events import (
    BreakerChanged,
    Event,
    RequestAccepted,
    RequestAnswered,
    RequestEscalated,
    RequestRejected,
    SpanFinished,
)
from agentcore.metrics import Metrics
from agentcore.models import (
    EscalationReason,
    Outcome,
    PendingAction,
    Request,
    Route,
    Span,
    Status,
    Usage,
)
from agentcore.router import Router, Rule, RuleMatch
from agentcore.settings import Settings

__all__ = [
    "AgentError",
    "BreakerChanged",
    "Clock",
    "Engine",
    "Escalation",
    "EscalationQueue",
    "EscalationReason",
    "EscalationState",
    "Event",
    "FakeClock",
    "KeyringCredentials",
    "LLMError",
    "Metrics",
    "Outcome",
    "PendingAction",
    "PendingStatus",
    "QueueError",
    "Request",
    "RequestAccepted",
    "RequestAnswered",
    "RequestEscalated",
    "RequestRejected",
    "Route",
    "Router",
    "Rule",
    "RuleError",
    "RuleMatch",
    "Settings",
    "SettingsError",
    "Span",
    "SpanFinished",
    "Status",
    "StorageError",
    "SystemClock",
    "ToolError",
    "Usage",
    "UserFacingError",
]
