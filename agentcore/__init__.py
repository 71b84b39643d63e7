"""agentcore: a hybrid support agent (rules first, a bounded LLM loop second), headless.

The console and the command line use only what is exported here.
"""

from agentcore.backtest import (
    DEFAULT_SAMPLE,
    Backtester,
    BacktestResult,
    Change,
    Recorded,
    backtest_rules,
    hits_since,
    load_recorded,
)
from agentcore.claim_session import Act, ClaimSession, Renewal, Texts
from agentcore.clock import Clock, FakeClock, SystemClock
from agentcore.connection_check import ConnectionReport, check_connection
from agentcore.credentials import BackendSafety, KeyringCredentials
from agentcore.domain import (
    ContextRecord,
    CustomerContext,
    Domain,
    Stake,
    WriteLimits,
    installed_domains,
    load_domain,
)
from agentcore.endpoints import for_endpoint, is_local, profile_summary, server_slots
from agentcore.engine import Engine
from agentcore.errors import (
    AgentError,
    BacktestCancelled,
    EmptyRuleSetError,
    LLMCause,
    LLMError,
    PatternError,
    QueueError,
    RuleError,
    SettingsError,
    StorageError,
    ToolError,
    UserFacingError,
)
from agentcore.escalations import Escalation, EscalationQueue, EscalationState, PendingStatus
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
from agentcore.guard import normalise, normalise_with_spans
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
from agentcore.outage import HandBackQueue, HandBackReport, Outage, OutageTracker, hand_back_all
from agentcore.pacer import Pacer, Position
from agentcore.queue_watcher import Announcement, Page, QueueWatcher
from agentcore.redaction import RedactingFilter, install_log_redaction, redact
from agentcore.replay import load_corpus, to_request
from agentcore.resilience import CircuitBreaker
from agentcore.router import CACHE_POLICIES, CachePolicy, Router, Rule, RuleMatch, expand
from agentcore.rule_draft import (
    RuleDraft,
    check_pattern,
    check_rule,
    pattern_pointer,
    pattern_problem,
)
from agentcore.rule_session import RuleSession, Told
from agentcore.rulebook import RuleBook, RuleVersion, VersionEntry
from agentcore.saved_replies import PLACEHOLDERS, SavedReplies, fill_placeholders
from agentcore.settings import (
    REPO_ROOT,
    EscalationSettings,
    LLMSettings,
    Settings,
    default_settings_path,
)
from agentcore.storage import (
    LatencyBins,
    OutcomeHistory,
    RequestRepository,
    SavedReply,
    TrafficRepository,
)
from agentcore.suggest import RejectedSuggestions, Suggestion, suggest_rules

__all__ = [
    "CACHE_POLICIES",
    "DEFAULT_SAMPLE",
    "PLACEHOLDERS",
    "REPO_ROOT",
    "Act",
    "AgentError",
    "Announcement",
    "BackendSafety",
    "BacktestCancelled",
    "BacktestResult",
    "Backtester",
    "BreakerChanged",
    "CachePolicy",
    "Change",
    "CircuitBreaker",
    "ClaimSession",
    "Clock",
    "ConnectionReport",
    "ContextRecord",
    "CustomerContext",
    "Domain",
    "EmptyRuleSetError",
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
    "LLMSettings",
    "LatencyBins",
    "Metrics",
    "Outage",
    "OutageTracker",
    "Outcome",
    "OutcomeHistory",
    "OutcomeSummary",
    "Pacer",
    "Page",
    "PatternError",
    "PendingAction",
    "PendingStatus",
    "Position",
    "QueueError",
    "QueueWatcher",
    "Recorded",
    "RedactingFilter",
    "RejectedSuggestions",
    "Renewal",
    "Request",
    "RequestAccepted",
    "RequestAnswered",
    "RequestEscalated",
    "RequestRejected",
    "RequestRepository",
    "Route",
    "Router",
    "Rule",
    "RuleBook",
    "RuleDraft",
    "RuleError",
    "RuleMatch",
    "RuleSession",
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
    "Told",
    "ToolError",
    "TrafficRepository",
    "Usage",
    "UserFacingError",
    "VersionEntry",
    "WriteLimits",
    "backtest_rules",
    "check_connection",
    "check_pattern",
    "check_rule",
    "default_settings_path",
    "expand",
    "fill_placeholders",
    "for_endpoint",
    "hand_back_all",
    "hits_since",
    "install_log_redaction",
    "installed_domains",
    "is_local",
    "load_corpus",
    "load_domain",
    "load_recorded",
    "normalise",
    "normalise_with_spans",
    "pattern_pointer",
    "pattern_problem",
    "profile_summary",
    "redact",
    "server_slots",
    "suggest_rules",
    "to_request",
]
