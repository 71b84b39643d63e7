"""Compose a request by hand and watch it go through like any other.

The panel is given the engine's `submit` (any `Request -> Outcome` coroutine
function), not the engine. The request goes out as a task on the qasync loop;
`submitted` fires at once, so the detail pane can open it and follow it live,
and its outcome reaches the feed through the bridge, as traffic's do. This
panel only remembers its own requests to say what became of the last one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from agentcore import Outcome, Request
from console.waterfall import format_ms

log = logging.getLogger("console.compose")

Submit = Callable[[Request], Awaitable[Outcome]]

EXAMPLES = [
    "Where is my order?",
    "I was charged twice for my order, please refund one payment",
    "The promo code field gives an error at checkout",
]


class _ComposeEdit(QPlainTextEdit):
    """A text box where Ctrl+Return sends instead of adding a line."""

    send_requested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if (event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                and event.modifiers() & Qt.KeyboardModifier.ControlModifier):
            self.send_requested.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class ComposePanel(QWidget):
    submitted = Signal(object)  # the Request, as it leaves for the engine
    # The id a request sent from here left with, and its Outcome: on an attached
    # station the service's intake answers it under an id of its own.
    answered = Signal(str, object)

    def __init__(self, submit: Submit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._submit = submit
        self._tasks: set[asyncio.Task[Outcome]] = set()

        self.text = _ComposeEdit()
        self.text.setPlaceholderText(f"Type a customer's message, e.g. “{EXAMPLES[1]}”")
        self.text.setTabChangesFocus(True)
        self.customer = QSpinBox()
        self.customer.setRange(0, 10_000_000)
        self.customer.setValue(12)
        self.customer.setSpecialValueText("anonymous")  # 0: a request with no customer id
        self.customer.setToolTip("Customer id (0: anonymous)")
        self.send_button = QPushButton("Send")
        self.send_button.setToolTip("Send the request (Ctrl+Return)")
        self.send_button.setDefault(True)
        self.result = QLabel("Ctrl+Return sends")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        row = QHBoxLayout()
        row.addWidget(QLabel("Customer"))
        row.addWidget(self.customer)
        row.addStretch(1)
        row.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.text, 1)
        layout.addLayout(row)
        layout.addWidget(self.result)

        self.text.send_requested.connect(self.send)
        self.send_button.clicked.connect(self.send)
        self.text.textChanged.connect(self._update_enabled)
        self._update_enabled()

    def focus(self) -> None:
        self.text.setFocus()
        self.text.selectAll()

    def send(self) -> asyncio.Task[Outcome] | None:
        text = self.text.toPlainText()
        if not text.strip():
            self.result.setText("Type a message first")
            return None
        customer = self.customer.value() or None
        request = Request(text=text, customer_id=customer, channel="console")
        log.info("operator sent request %s", request.id)
        task = asyncio.ensure_future(self._submit(request))
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._finished, sent_id=request.id))
        self.submitted.emit(request)
        self.result.setText("Sent, waiting for the answer…")
        self.text.clear()
        return task

    def _finished(self, task: asyncio.Task[Outcome], *, sent_id: str) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        # An exception here (the disk failed) propagates to the loop's exception
        # handler, the console's one place that reports errors.
        outcome = task.result()
        self.result.setText(
            f"Last: {outcome.route} · {outcome.status} · {outcome.intent or 'no intent'} · "
            f"{format_ms(outcome.latency_ms)}")
        self.answered.emit(sent_id, outcome)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Waits for requests sent from here (at shutdown: none is left half-done)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _update_enabled(self) -> None:
        self.send_button.setEnabled(bool(self.text.toPlainText().strip()))
