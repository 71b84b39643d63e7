"""agentcore: a hybrid support agent (rules first, a bounded LLM loop second), headless.

The console and the command line use only what is exported here.
"""

from agentcore.backtest import (
    Backtester,
    BacktestResult,
    Change,
    Recorded,
    load_recorded,
)
from agentcore.claim_session import Act, ClaimSession, Renewal, Texts
from agentcore.clock import Clock, FakeClock, SystemClock
from agentcore.credentials import KeyringCredentials
from agentcore.domain import (
    ContextRecord,
    CustomerContext,
    Domain,
    Stake,
    WriteLimits,
    installed_domains,
    load_domain,
)
from agentcore.engine import Engine
from agentcore.errors import (
    AgentError,
    BacktestCancelled,
    LLMCause,
    LLMError,
    QueueError,
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
)
from agentcore.events import (
    BreakerChanged,
    EscalationChanged,
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
    OutcomeSummary,
    PendingAction,
    Request,
    Route,
    Span,
    Status,
    Usage,
)
from agentcore.outage import (
    HandBackQueue,
    HandBackReport,
    Outage,
    OutageTracker,
    hand_back_all,
)
from agentcore.pacer import Pacer, Position
from agentcore.queue_watcher import Announcement, Page, QueueWatcher
from agentcore.replay import to_request
from agentcore.router import Router, Rule, RuleMatch
from agentcore.rulebook import RuleBook, RuleVersion, VersionEntry
from agentcore.saved_replies import SavedReplies
from agentcore.settings import EscalationSettings, Settings
from agentcore.storage import LatencyBins, OutcomeHistory, SavedReply
from agentcore.suggest import RejectedSuggestions, Suggestion, suggest

__all__ = [
    "Act",
    "AgentError",
    "Announcement",
    "BacktestCancelled",
    "BacktestResult",
    "Backtester",
    "BreakerChanged",
    "Change",
    "ClaimSession",
    "Clock",
    "ContextRecord",
    "CustomerContext",
    "Domain",
    "Engine",
    "Escalation",
    "EscalationChanged",
    "EscalationQueue",
    "EscalationReason",
    "EscalationSettings",
    "EscalationState",
    "Event",
    "FakeClock",
    "HandBackQueue",
    "HandBackReport",
    "KeyringCredentials",
    "LLMCause",
    "LLMError",
    "LatencyBins",
    "Metrics",
    "Outage",
    "OutageTracker",
    "Outcome",
    "OutcomeHistory",
    "OutcomeSummary",
    "Pacer",
    "Page",
    "PendingAction",
    "PendingStatus",
    "Position",
    "QueueError",
    "QueueWatcher",
    "Recorded",
    "RejectedSuggestions",
    "Renewal",
    "Request",
    "RequestAccepted",
    "RequestAnswered",
    "RequestEscalated",
    "RequestRejected",
    "Route",
    "Router",
    "Rule",
    "RuleBook",
    "RuleError",
    "RuleMatch",
    "RuleVersion",
    "SavedReplies",
    "SavedReply",
    "Settings",
    "SettingsError",
    "Span",
    "SpanFinished",
    "Stake",
    "Status",
    "StorageError",
    "Suggestion",
    "SystemClock",
    "Texts",
    "ToolError",
    "Usage",
    "UserFacingError",
    "VersionEntry",
    "WriteLimits",
    "hand_back_all",
    "installed_domains",
    "load_domain",
    "load_recorded",
    "suggest",
    "to_request",
]
