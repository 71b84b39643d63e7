"""The middle of the escalation workspace: what happened, in reading order. The
conversation (the customer's message, the agent's draft or answer, hand-back
notes, the reply that settled it, at times of day), what the agent did as
sentences (the raw calls and the trace behind "Show raw"), and why it stopped.
No logic: `console.escalation_format` writes every text."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from agentcore import Escalation
from console.escalation_format import (
    conversation_html,
    outcome_text,
    raw_html,
    reasoning_html,
    steps_html,
)
from console.waterfall import WaterfallWidget


def label(rich: bool = True) -> QLabel:
    """A wrapping, selectable label: the workspace scrolls down, never sideways."""
    shown = QLabel()
    shown.setWordWrap(True)
    shown.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return shown


def heading(text: str) -> QLabel:
    shown = QLabel(text)
    shown.setStyleSheet("font-weight: 600; color: #8b949e; margin-top: 6px;")
    return shown


class EscalationStory(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.conversation = label()
        self.steps = label()
        self.tool_calls = label()  # the raw calls, JSON and all: behind "Show raw"
        self.reasoning = label()
        self.outcome = label(rich=False)
        self.waterfall = WaterfallWidget()
        self.show_raw = QToolButton()
        self.show_raw.setCheckable(True)
        self.show_raw.setToolTip("The tool calls as the agent made them, and the trace")
        self.show_raw.toggled.connect(self._raw_toggled)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 4, 0)
        column.addWidget(heading("Conversation"))
        column.addWidget(self.conversation)
        steps_head = QHBoxLayout()
        steps_head.addWidget(heading("What the agent did"), 1)
        steps_head.addWidget(self.show_raw)
        column.addLayout(steps_head)
        column.addWidget(self.steps)
        column.addWidget(self.tool_calls)
        column.addWidget(self.waterfall)
        column.addWidget(heading("Why it stopped"))
        column.addWidget(self.reasoning)
        column.addWidget(self.outcome)
        column.addStretch(1)
        self._raw_toggled(False)

    def _raw_toggled(self, shown: bool) -> None:
        self.tool_calls.setVisible(shown)
        self.waterfall.setVisible(shown)
        self.show_raw.setText("Hide raw" if shown else "Show raw")

    def show_item(self, item: Escalation | None, now: float) -> None:
        if item is None:
            for shown in (self.conversation, self.steps, self.tool_calls, self.reasoning,
                          self.outcome):
                shown.clear()
            self.waterfall.clear()
            return
        self.tick(item, now)
        self.steps.setText(steps_html(item))
        self.tool_calls.setText(raw_html(item))
        self.reasoning.setText(reasoning_html(item))
        self.outcome.setText(outcome_text(item.outcome))
        self.waterfall.set_spans(item.spans)

    def tick(self, item: Escalation, now: float) -> None:
        """Time passes: "3 min ago" grows."""
        conversation = conversation_html(item, now)
        if conversation != self.conversation.text():
            self.conversation.setText(conversation)
