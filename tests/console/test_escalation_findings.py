"""What the first day at the escalation desk found (issue 13, item 7), each as the
operator met it: a hand-back that came back "open" without a word, Ctrl+J pressed
twice skipping the oldest item, an approved action still "waiting for approval"
under a frozen waiting time, a resolved listing that hid the refund approved, and
a waiver called a refund.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from agentcore import (
    Escalation,
    EscalationReason,
    EscalationState,
    PendingAction,
    PendingStatus,
    Request,
    WriteLimits,
)
from console.escalations_view import Column
from console.notifier import RecordingNotifier
from console.pending_action import PendingActionBox
from console.workspaces import Workspace
from tests.console.desk import (
    OPERATOR,
    cell,
    claimed_refund,
    key,
    show_queue,
    shown_rows,
    submit,
)
from tests.console.dialogs import approve

HUMAN = ["I want to talk to a human please", "Please let me speak to a person",
         "Can a real person call me back"]


def test_a_hand_back_says_what_the_agent_did_when_it_escalates_again(desk, run_async, qtbot):
    window, panel = desk.window, desk.window.escalation
    submit(run_async, desk, HUMAN[0], 7)
    qtbot.waitUntil(lambda: shown_rows(window) == 1)
    window.escalations.select_next()
    qtbot.waitUntil(lambda: panel.item is not None)
    key(qtbot, window, "Ctrl+Shift+C")
    panel.note.setText("They asked twice; please try to help them first")
    key(qtbot, window, "Ctrl+Shift+H")

    said = "Handed back; the agent tried again and escalated it: customer asked for a human"
    assert panel.message.text() == said
    assert window.statusBar().currentMessage() == said
    # Open again, and the panel says why it is back, with the operator's note.
    assert panel.item.state is EscalationState.OPEN
    assert "Open</b> again: handed back with the note" in panel.claim_state.text()
    assert "please try to help them first" in panel.claim_state.text()
    # The new attempt is in the conversation: the note, then what the agent did after.
    conversation = panel.conversation.text()
    assert conversation.index("Operator → agent") < conversation.index("please try to help")
    assert conversation.index("please try to help") < conversation.index("Agent")


def test_ctrl_j_twice_stays_on_the_oldest_open_item(desk, run_async, qtbot):
    window, panel = desk.window, desk.window.escalation
    first, *_ = [submit(run_async, desk, text, 7 + n) for n, text in enumerate(HUMAN)]
    qtbot.waitUntil(lambda: shown_rows(window) == 3)
    oldest = window.escalations.model.items[0].id
    for _ in range(2):
        qtbot.keyClick(window.escalations.view, Qt.Key.Key_J,
                       Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: panel.item is not None)
    assert window.escalations.current_id() == oldest
    assert panel.item.request_id == first.request_id
    assert "oldest open item" in window.statusBar().currentMessage()
    # Once it is claimed, "next" is the next one waiting.
    key(qtbot, window, "Ctrl+Shift+C")
    qtbot.keyClick(window.escalations.view, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.escalations.current_id() == window.escalations.model.items[1].id)


def test_ctrl_j_twice_from_behind_the_feed_selects_the_oldest(make_console, tight, clock,
                                                              run_async, qtbot):
    console = make_console(tight, rows=[], clock=clock, notifier=RecordingNotifier())
    window = console.window
    show_queue(window)
    for n, text in enumerate(HUMAN):
        submit(run_async, console, text, 7 + n)
    qtbot.waitUntil(lambda: shown_rows(window) == 3)
    oldest = window.escalations.model.items[0].id
    window.show_workspace(Workspace.WATCH)  # the feed in front: the queue's page goes stale
    qtbot.waitUntil(lambda: not window.escalations.in_view)
    for _ in range(2):  # the second press before the page is in
        qtbot.keyClick(window.feed.view, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.escalations.current_id() is not None)
    qtbot.wait(100)
    assert window.escalations.current_id() == oldest


def test_an_approved_action_says_approved_and_the_waiting_time_keeps_counting(
        desk, tight, clock, run_async, qtbot):
    window, panel = desk.window, desk.window.escalation
    claimed_refund(desk, tight, run_async, qtbot)
    assert panel.pending.title() == "Action waiting for approval"
    approve(qtbot, window)
    assert panel.pending.title() == "Action approved"
    assert "$49.99 refunded" in panel.pending.text.text()
    before = panel.title.text()
    clock.advance(125)
    qtbot.waitUntil(lambda: panel.title.text() != before, timeout=3000)
    assert "waiting 2 min 05 s" in panel.title.text()


def test_the_resolved_listing_shows_the_refund_that_was_approved(desk, tight, run_async,
                                                                 qtbot):
    window, panel = desk.window, desk.window.escalation
    order = claimed_refund(desk, tight, run_async, qtbot)
    approve(qtbot, window)
    panel.composer.setPlainText("Refunded; it shows in 5-10 days.")
    key(qtbot, window, "Ctrl+Shift+R")
    listing = window.escalations.listing
    qtbot.waitUntil(lambda: shown_rows(window) == 0)  # resolved: out of the queue
    listing.setCurrentIndex(listing.findText("Resolved, latest first"))
    qtbot.waitUntil(lambda: shown_rows(window) == 1)
    assert cell(window, 0, Column.STATE) == (
        f"replied by {OPERATOR} · issue refund $49.99 on order {order} approved")
    assert cell(window, 0, Column.AT_STAKE) == "$49.99 refund"


def test_an_approved_waiver_is_called_waived_not_refunded(qtbot):
    waiver = PendingAction("waive_fine", {"loan_id": 4711, "amount": 2.5})
    item = Escalation(1, Request("please waive my fine", customer_id=3),
                      EscalationReason.POLICY_VIOLATION, EscalationState.CLAIMED, 0.0,
                      claimed_by=OPERATOR, pending_action=waiver,
                      pending_status=PendingStatus.APPROVED,
                      pending_result={"by": OPERATOR, "result": {"amount_cents": 250}})
    limits = WriteLimits(250, 250, 250, verb="waive", ceiling="the fine still owed")
    host = QWidget()
    qtbot.addWidget(host)
    box = PendingActionBox(QAction("Approve", host), QAction("Deny", host), activity=host,
                           limits_for=lambda _tool, _args: limits)
    box.show_item(item, mine=True)
    assert box.title() == "Action approved"
    assert "$2.50 waived" in box.text.text() and "refunded" not in box.text.text()
