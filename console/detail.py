"""The detail of one request: what was asked, what was answered, how, and at what cost.

Draws a `RequestDetail` (console/detail_model.py): the request picked in the feed,
or one just sent from Compose, filled in live as its stages finish. One column
that scrolls as a whole, each part as tall as its content: the answer grows with
its text (and scrolls past a limit), the trace with its spans, so a short answer
leaves no empty room and a narrow pane (450 px) still reads without sideways
scrolling; the facts take two columns when the pane is wide enough.
"""

from __future__ import annotations

import html
from datetime import datetime

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from agentcore import Outcome, Route
from console.detail_model import RequestDetail
from console.theme import ROUTE_COLOURS, STATUS_COLOURS
from console.waterfall import WaterfallWidget, format_ms

_CACHE_TIERS = {Route.CACHE_L1: "L1 (memory)", Route.CACHE_L2: "L2 (SQLite)"}
TWO_COLUMNS_FROM = 440  # px of pane width: below, the facts stack in one column
ANSWER_MAX_SHARE = 0.55  # of the pane's height: a longer answer scrolls in its box


def cache_tier(outcome: Outcome) -> str:
    """Where the answer came from as far as the cache is concerned."""
    if outcome.route in _CACHE_TIERS:
        return _CACHE_TIERS[outcome.route]
    for span in outcome.spans:
        if span.name == "cache":
            return "miss"
    return "not looked up"  # rejected by the guard, or a hand-back re-run


# The short facts, in reading order, as (left, right) pairs in two columns.
_PAIRS = [("customer", "latency"), ("route", "tokens"), ("status", "cost"),
          ("intent", "cache"), ("rule", "rung")]
_WIDE = ("escalation", "errors")  # a sentence each: the whole width, shown only when set


class _FittedText(QTextBrowser):
    """A text box as tall as its text, up to `max_height`; past that it scrolls."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.max_height = 320
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setOpenLinks(False)
        layout = self.document().documentLayout()
        layout.documentSizeChanged.connect(lambda _size: self.updateGeometry())

    def sizeHint(self) -> QSize:
        lines = self.fontMetrics().lineSpacing() * 2  # an empty answer keeps two lines
        text = max(float(lines), self.document().size().height())
        height = int(min(self.max_height, text + 2 * self.frameWidth() + 2))
        return QSize(super().sizeHint().width(), height)

    def minimumSizeHint(self) -> QSize:
        return QSize(120, self.sizeHint().height())


class DetailPanel(QWidget):
    FIELDS = ("request", *(name for pair in _PAIRS for name in pair), *_WIDE)
    _GRID = FIELDS[1:]  # the request's text is a block of its own, above the answer

    clear_filters = Signal()  # the operator asked to see the request the filters hide

    def __init__(self, model: RequestDetail, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.title = QLabel("No request selected")
        self.title.setTextFormat(Qt.TextFormat.PlainText)  # the channel is as the caller sent it
        self.title.setStyleSheet("font-weight: 600; font-size: 13px;")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QLabel()
        self.progress.setStyleSheet("color: #2f81f7; font-weight: 600;")
        self.progress.hide()
        self.hidden_note = QFrame()
        self.hidden_note.setObjectName("hiddenNote")
        self.hidden_note.setStyleSheet(
            "#hiddenNote { border: 1px solid #d29922; border-radius: 4px; }")
        note_text = QLabel("The feed's filters hide this request.")
        note_text.setWordWrap(True)
        self.clear_filters_button = QPushButton("Clear filters")
        note = QHBoxLayout(self.hidden_note)
        note.setContentsMargins(6, 3, 6, 3)
        note.addWidget(note_text, 1)
        note.addWidget(self.clear_filters_button)
        self.hidden_note.hide()

        self.labels: dict[str, QLabel] = {}
        self.values: dict[str, QLabel] = {}
        for name in self.FIELDS:
            value = QLabel("—")
            value.setWordWrap(True)
            value.setTextFormat(Qt.TextFormat.RichText)  # every value is escaped below
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.values[name] = value
        for name in self._GRID:
            label = QLabel(f"{name.capitalize()}:")
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            label.setEnabled(False)  # the palette's dim text: labels recede, values stand out
            self.labels[name] = label
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(10)
        self.grid.setVerticalSpacing(3)
        self._columns = 0
        self._arrange(2)

        self.answer_caption = _caption("Answer")
        self.answer = _FittedText()
        self.answer.setPlaceholderText("The answer appears here")
        self.trace_caption = _caption("Trace")
        self.waterfall = WaterfallWidget()

        column = QWidget()
        layout = QVBoxLayout(column)
        layout.setContentsMargins(0, 0, 4, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.progress)
        layout.addWidget(self.hidden_note)
        # What was asked, then what was answered, as a conversation reads; then how.
        layout.addWidget(self.values["request"])
        layout.addWidget(self.answer_caption)
        layout.addWidget(self.answer)
        layout.addLayout(self.grid)
        layout.addWidget(self.trace_caption)
        layout.addWidget(self.waterfall)
        layout.addStretch(1)
        # One scroll for the whole pane: in a short dock it scrolls instead of forcing
        # the window taller, and never sideways.
        self.scroller = QScrollArea()
        self.scroller.setWidget(column)
        self.scroller.setWidgetResizable(True)
        self.scroller.setFrameShape(QFrame.Shape.NoFrame)
        self.scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.addWidget(self.scroller)

        self.clear_filters_button.clicked.connect(self.clear_filters)
        unsubscribe = model.subscribe(self._render)
        self.destroyed.connect(lambda *_args: unsubscribe())
        self._render()

    @property
    def outcome(self) -> Outcome | None:
        return self.model.outcome

    def show_outcome(self, outcome: Outcome | None) -> None:
        """Shows the request picked in the feed (None: nothing selected)."""
        self.model.show(outcome)

    # -- layout ----------------------------------------------------------------------

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._arrange(2 if event.size().width() >= TWO_COLUMNS_FROM else 1)
        self.answer.max_height = max(120, int(event.size().height() * ANSWER_MAX_SHARE))
        self.answer.updateGeometry()

    def _arrange(self, columns: int) -> None:
        """Lays the facts out in one or two columns (label, value, label, value)."""
        if columns == self._columns:
            return
        self._columns = columns
        for name in self._GRID:
            self.grid.removeWidget(self.labels[name])
            self.grid.removeWidget(self.values[name])
        span = 2 * columns - 1
        order: list[tuple[str, int, int]]
        if columns == 2:
            order = [(name, row, side * 2) for row, pair in enumerate(_PAIRS)
                     for side, name in enumerate(pair)]
        else:
            order = [(name, row, 0) for row, name in
                     enumerate([pair[0] for pair in _PAIRS] + [pair[1] for pair in _PAIRS])]
        last = max(row for _name, row, _col in order)
        order += [(name, last + 1 + i, 0) for i, name in enumerate(_WIDE)]
        for name, row, col in order:
            self.grid.addWidget(self.labels[name], row, col)
            self.grid.addWidget(self.values[name], row, col + 1, 1, span if name in _WIDE else 1)
        for col in range(4):
            self.grid.setColumnStretch(col, 1 if col % 2 and col < 2 * columns else 0)

    # -- drawing the model -----------------------------------------------------------

    def _render(self) -> None:
        model = self.model
        request, outcome = model.request, model.outcome
        self.hidden_note.setVisible(model.hidden_by_filter)
        self.progress.setVisible(model.running)
        self.progress.setText(model.progress)
        if request is None:
            self.title.setText("No request selected")
            for label in self.values.values():
                label.setText("—")
            self._show_wide({})
            self.answer.clear()
            self.waterfall.placeholder = "Select a request to see its trace"
            self.waterfall.clear()
            self.trace_caption.setText("Trace")
            return
        when = datetime.fromtimestamp(request.received_at or 0).strftime("%Y-%m-%d %H:%M:%S")
        shown_at = when if request.received_at else "just now"
        self.title.setText(f"Request {request.id[:12]} · {shown_at} · {request.channel}")
        values = {name: "—" for name in self.FIELDS}
        values["request"] = html.escape(request.text[:2000])
        values["customer"] = ("anonymous" if request.customer_id is None
                              else str(request.customer_id))
        if outcome is None:
            values["status"] = _coloured("working…", "#2f81f7")
            self.answer.clear()
            self.answer.setPlaceholderText("The answer appears here when it is ready")
        else:
            values.update(_facts(outcome))
            self._show_answer(outcome)
        for name, text in values.items():
            self.values[name].setText(text)
        self._show_wide(values)
        self.values["errors"].setStyleSheet(
            "color: #e5534b;" if outcome is not None and outcome.errors else "")
        self.waterfall.placeholder = "Waiting for the first stage…"
        self.waterfall.set_spans(model.spans)
        count = len(model.spans)
        self.trace_caption.setText(f"Trace — {count} span{'s' if count != 1 else ''}"
                                   + (" so far" if outcome is None else ""))

    def _show_wide(self, values: dict[str, str]) -> None:
        for name in _WIDE:  # a sentence the request has, or no row at all
            shown = values.get(name, "—") not in ("—", "none")
            self.labels[name].setVisible(shown)
            self.values[name].setVisible(shown)

    def _show_answer(self, outcome: Outcome) -> None:
        if outcome.answer or not outcome.draft_answer:
            self.answer.setPlainText(outcome.answer)
        else:  # escalated: the agent's draft waits for an operator, the customer has not seen it
            self.answer.setPlainText(f"(draft, not sent)\n{outcome.draft_answer}")
        self.answer.setPlaceholderText("No answer: the request went to a human"
                                       if outcome.escalation_reason else "No answer")


def _facts(outcome: Outcome) -> dict[str, str]:
    usage = outcome.usage
    route = str(outcome.route)
    status = str(outcome.status)
    return {
        "route": _coloured(route, ROUTE_COLOURS.get(route)),
        "status": _coloured(status, STATUS_COLOURS.get(status)),
        "intent": html.escape(outcome.intent or "—"),
        "rule": html.escape(outcome.rule_id or "—"),
        "latency": format_ms(outcome.latency_ms),
        "tokens": (f"{usage.prompt_tokens:,} prompt + {usage.completion_tokens:,} completion"
                   if usage.prompt_tokens or usage.completion_tokens else "none (no LLM)"),
        "cost": f"${usage.dollars:.5f}" if usage.dollars else "$0",
        "cache": cache_tier(outcome),
        "rung": html.escape(outcome.rung or "—"),
        "escalation": (html.escape(str(outcome.escalation_reason))
                       if outcome.escalation_reason else "—"),
        "errors": "<br>".join(html.escape(e) for e in outcome.errors) or "none",
    }


def _coloured(text: str, colour: str | None) -> str:
    if colour is None:
        return html.escape(text)
    return f"<span style='color:{colour}; font-weight:600'>{html.escape(text)}</span>"


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("font-weight: 600; margin-top: 4px;")
    return label
