"""The detail of one outcome: what was asked, what was answered, how, and at what cost."""

from __future__ import annotations

import html
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QScrollArea,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from agentcore import Outcome, Route
from console.theme import ROUTE_COLOURS, STATUS_COLOURS
from console.waterfall import WaterfallWidget, format_ms

_CACHE_TIERS = {Route.CACHE_L1: "L1 (memory)", Route.CACHE_L2: "L2 (SQLite)"}


def cache_tier(outcome: Outcome) -> str:
    """Where the answer came from as far as the cache is concerned."""
    if outcome.route in _CACHE_TIERS:
        return _CACHE_TIERS[outcome.route]
    for span in outcome.spans:
        if span.name == "cache":
            return "miss"
    return "not looked up"  # rejected by the guard, or a hand-back re-run


# Where each fact sits: (name, row, column, column span). Two columns of short
# facts keep the trace, the part that needs the room, in view.
_LAYOUT = [
    ("request", 0, 0, 3),
    ("customer", 1, 0, 1), ("latency", 1, 2, 1),
    ("route", 2, 0, 1), ("tokens", 2, 2, 1),
    ("status", 3, 0, 1), ("cost", 3, 2, 1),
    ("intent", 4, 0, 1), ("cache", 4, 2, 1),
    ("rule", 5, 0, 1), ("rung", 5, 2, 1),
    ("escalation", 6, 0, 3),
    ("errors", 7, 0, 3),
]


class DetailPanel(QWidget):
    FIELDS = tuple(name for name, *_ in _LAYOUT)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.outcome: Outcome | None = None
        self.title = QLabel("No request selected")
        self.title.setStyleSheet("font-weight: 600; font-size: 13px;")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.values: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(3)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        for name, row, column, span in _LAYOUT:
            label = QLabel(f"{name.capitalize()}:")
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            label.setEnabled(False)  # the palette's dim text: labels recede, values stand out
            value = QLabel("—")
            value.setWordWrap(True)
            value.setTextFormat(Qt.TextFormat.RichText)  # every value is escaped below
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.values[name] = value
            grid.addWidget(label, row, column)
            grid.addWidget(value, row, column + 1, 1, span)
        self.answer = QTextBrowser()
        self.answer.setPlaceholderText("The answer appears here")
        self.answer.setOpenLinks(False)
        self.waterfall = WaterfallWidget()

        facts = QWidget()
        facts_layout = QVBoxLayout(facts)
        facts_layout.setContentsMargins(0, 0, 0, 0)
        facts_layout.addWidget(self.title)
        facts_layout.addLayout(grid)
        facts_layout.addWidget(_caption("Answer"))
        facts_layout.addWidget(self.answer, 1)
        # The facts scroll in a short dock rather than forcing the whole window taller.
        facts_scroll = QScrollArea()
        facts_scroll.setWidget(facts)
        facts_scroll.setWidgetResizable(True)
        facts_scroll.setFrameShape(QFrame.Shape.NoFrame)
        trace = QWidget()
        trace_layout = QVBoxLayout(trace)
        trace_layout.setContentsMargins(0, 0, 0, 0)
        self.trace_caption = _caption("Trace")
        trace_layout.addWidget(self.trace_caption)
        scroll = QScrollArea()
        scroll.setWidget(self.waterfall)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        trace_layout.addWidget(scroll)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(facts_scroll)
        splitter.addWidget(trace)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([270, 400])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)

    def show_outcome(self, outcome: Outcome | None) -> None:
        self.outcome = outcome
        if outcome is None:
            self.title.setText("No request selected")
            for label in self.values.values():
                label.setText("—")
            self.answer.clear()
            self.waterfall.clear()
            self.trace_caption.setText("Trace")
            return
        request = outcome.request
        when = datetime.fromtimestamp(request.received_at).strftime("%Y-%m-%d %H:%M:%S")
        self.title.setText(f"Request {request.id[:12]} · {when} · {request.channel}")
        usage = outcome.usage
        route = str(outcome.route)
        status = str(outcome.status)
        values = {
            "request": html.escape(request.text[:2000]),
            "customer": "anonymous" if request.customer_id is None else str(request.customer_id),
            "route": _coloured(route, ROUTE_COLOURS.get(route)),
            "status": _coloured(status, STATUS_COLOURS.get(status)),
            "intent": html.escape(outcome.intent or "—"),
            "rule": html.escape(outcome.rule_id or "—"),
            "latency": format_ms(outcome.latency_ms),
            "tokens": (f"{usage.prompt_tokens:,} prompt + {usage.completion_tokens:,} completion"
                       if usage.prompt_tokens or usage.completion_tokens else "none (no LLM)"),
            "cost": f"${usage.dollars:.5f}" if usage.dollars else "$0",
            "cache": cache_tier(outcome),
            "rung": outcome.rung or "—",
            "escalation": str(outcome.escalation_reason) if outcome.escalation_reason else "—",
            "errors": "<br>".join(html.escape(e) for e in outcome.errors) or "none",
        }
        for name, text in values.items():
            self.values[name].setText(text)
        self.values["errors"].setStyleSheet("color: #e5534b;" if outcome.errors else "")
        if outcome.answer or not outcome.draft_answer:
            self.answer.setPlainText(outcome.answer)
        else:  # escalated: the agent's draft waits for an operator, the customer has not seen it
            self.answer.setPlainText(f"(draft, not sent)\n{outcome.draft_answer}")
        self.waterfall.set_spans(outcome.spans)
        self.trace_caption.setText(f"Trace — {len(outcome.spans)} spans")


def _coloured(text: str, colour: str | None) -> str:
    if colour is None:
        return html.escape(text)
    return f"<span style='color:{colour}; font-weight:600'>{html.escape(text)}</span>"


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("font-weight: 600; margin-top: 4px;")
    return label
