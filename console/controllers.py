"""What the composition root (`console.app.build_console`) builds besides the engine and
the bridge: the controllers the window's widgets are views of. Plain holders: the
logic lives in each controller (most are Qt-free, from `agentcore`), the wiring in
the window's `_wire`, the construction in one place, `build_console`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agentcore import (
    ClaimSession,
    EscalationSettings,
    OutageTracker,
    QueueWatcher,
    RuleSession,
    SavedReplies,
)
from console.backtest_runner import BacktestRunner
from console.learned_session import LearnedSession
from console.tool_servers_model import ServerStates, Tester
from console.traffic import TrafficGenerator


@dataclass(frozen=True, slots=True)
class Controllers:
    traffic: TrafficGenerator  # the demo's traffic, paced (agentcore.Pacer) on the Qt loop
    queue_watcher: QueueWatcher  # the escalation queue's listing, notices and "next"
    claim_session: ClaimSession  # the escalation an operator works on: lease, drafts, acts
    saved_replies: SavedReplies  # the team's macros
    rule_session: RuleSession  # the rules draft: apply, undo, revert, import, suggestions
    backtests: BacktestRunner  # backtests and rule mining off the GUI thread
    learned: LearnedSession  # the learned tier: train off the GUI thread, versions, undo
    outage: OutageTracker  # an LLM outage: since when, what it escalated and degraded
    tool_states: ServerStates  # each tool server's last report, for the status bar
    test_server: Tester  # the Settings dialog's "Test" of one tool server
    # Read at each use: the settings dialog may change the operator or the lease.
    escalation_settings: Callable[[], EscalationSettings]
