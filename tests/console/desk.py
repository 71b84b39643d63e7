"""The escalation desk the workspace tests share: a console on a fake clock with a
recording notifier and a tight dollar ceiling, and the operator's moves on it."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from agentcore import FakeClock, Request
from console.escalations_view import Column
from console.notifier import RecordingNotifier
from console.workspaces import Workspace

# Pays for the classify call and a first decide call of a short prompt (a request for a
# human: its handoff), not for that of a refund request, whose prompt carries the order,
# payments and policy the engine looked up and the quote: it would refund. (With the
# mock's token counts: 0.0065 and 0.0072 dollars.)
CEILING_AFTER_QUOTE = 0.0068
OPERATOR = "alice"
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


def refundable_order(settings) -> tuple[int, int]:
    with sqlite3.connect(settings.shop_path) as conn:
        return conn.execute("SELECT id, customer_id FROM orders WHERE status = 'delivered'"
                            " ORDER BY id LIMIT 1").fetchone()


def cell(window, row: int, column: Column, role=Qt.ItemDataRole.DisplayRole) -> Any:
    model = window.escalations.model
    return model.data(model.index(row, column), role)


def key(qtbot, window, keys: str) -> Any:
    """Presses a shortcut as the operator would, and waits for what it started."""
    panel = window.escalation
    before = panel.running
    sequence = QKeySequence(keys)[0]
    qtbot.keyClick(window.escalations.view, sequence.key(), sequence.keyboardModifiers())
    qtbot.waitUntil(lambda: panel.running is not before and panel.running.done(),
                    timeout=15_000)
    return panel.running.result()


def show_queue(window) -> None:
    """The window, with the escalations workspace in front."""
    window.show()
    window.show_workspace(Workspace.ESCALATIONS)


def submit(run_async, console, text: str, customer_id: int):
    return run_async(console.engine.submit(Request(text, customer_id=customer_id)))


def shown_rows(window) -> int:
    return window.escalations.model.rowCount()


def claimed_refund(console, settings, run_async, qtbot) -> int:
    """A refund request (cut short after its quote by the tight ceiling), selected and
    claimed from the keyboard; its order."""
    window, panel = console.window, console.window.escalation
    order, customer = refundable_order(settings)
    submit(run_async, console, f"I want a refund for order {order}, it arrived damaged", customer)
    qtbot.waitUntil(lambda: shown_rows(window) == 1)
    window.escalations.select_next()
    qtbot.waitUntil(lambda: panel.item is not None)
    key(qtbot, window, "Ctrl+Shift+C")
    return order




# The desk's fixtures, one definition for every workspace test (the conftest imports them).
@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def tight(settings):
    """Settings whose dollar ceiling stops a refund request after its quote."""
    settings.loop.dollar_ceiling = CEILING_AFTER_QUOTE
    settings.escalations.operator = OPERATOR
    settings.escalations.lease_s = 300
    settings.escalations.waiting_target_s = 600
    return settings


@pytest.fixture
def desk(make_console, tight, clock, notifier):
    """A console on the escalations workspace, on `clock`, recording notifications."""
    console = make_console(tight, rows=[], clock=clock, notifier=notifier)
    show_queue(console.window)
    console.window.activateWindow()
    return console
