"""The one place core events become Qt signals.

The engine runs on the Qt event loop (qasync), so its plain-callback events
arrive on the GUI thread and are re-emitted as signals directly; widgets
connect to these and never subscribe to the engine themselves. Charts do not
redraw per event: they sample their models on a timer (at most 10 Hz).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from agentcore import (
    BreakerChanged,
    DatabaseLink,
    Engine,
    EscalationChanged,
    Event,
    RequestAccepted,
    RequestAnswered,
    RequestEscalated,
    RequestRejected,
    RulesChanged,
    SpanFinished,
    StoreChanged,
    ToolServerChanged,
)

log = logging.getLogger("console.bridge")


class EngineBridge(QObject):
    accepted = Signal(object)  # agentcore.Request
    outcome = Signal(object)  # agentcore.Outcome: answered, escalated or rejected
    escalated = Signal(object)  # agentcore.Outcome, also sent on `outcome`
    span_finished = Signal(str, object)  # request id, agentcore.Span
    breaker_changed = Signal(object)  # agentcore.BreakerChanged
    escalation_changed = Signal(int)  # an escalation's id: claimed, acted on, resolved
    tool_server_changed = Signal(object)  # agentcore.ServerReport: state or tools changed
    # Another process on the shared database (an attached station's follower):
    rules_changed = Signal(object)  # the live rule set's version id (int | None)
    store_changed = Signal(str)  # "replies", "learned" or "audit": reread it
    database_link = Signal(bool, object)  # up, the problem (str | None): lost or back

    def __init__(self, engine: Engine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self._unsubscribe = engine.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, SpanFinished):
            self.span_finished.emit(event.request_id, event.span)
        elif isinstance(event, RequestAccepted):
            self.accepted.emit(event.request)
        elif isinstance(event, RequestAnswered | RequestRejected):
            self.outcome.emit(event.outcome)
        elif isinstance(event, RequestEscalated):
            self.outcome.emit(event.outcome)
            self.escalated.emit(event.outcome)
        elif isinstance(event, BreakerChanged):
            self.breaker_changed.emit(event)
        elif isinstance(event, EscalationChanged):
            self.escalation_changed.emit(event.escalation_id)
        elif isinstance(event, ToolServerChanged):
            self.tool_server_changed.emit(event.report)
        elif isinstance(event, RulesChanged):
            self.rules_changed.emit(event.version_id)
        elif isinstance(event, StoreChanged):
            self.store_changed.emit(event.kind)
        elif isinstance(event, DatabaseLink):
            self.database_link.emit(event.up, event.problem)
