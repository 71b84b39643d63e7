"""The write an escalation waits on ("issue refund $42.10 on order 12345"), what was
asked for and refused, the figures that bound it side by side (paid, already
refunded, what the policy allows, what this approval refunds, updated as the
operator edits), its arguments as editable fields, and the approve / deny buttons.

The fields are filled when another item (or another state of the action) is
shown, and left alone on a re-read of the same waiting action, so an edit in
progress survives the queue's reloads.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
)

from agentcore import Escalation, PendingStatus, WriteLimits
from console.approval_check import ApprovalCheck, Verdict, check_approval
from console.escalation_format import (
    action_text,
    allowed_text,
    done_cents,
    money,
    past_tense,
)

# (tool, arguments) -> the figures bounding that write now (EscalationQueue.limits_for)
LimitsFor = Callable[[str, dict[str, Any]], WriteLimits | None]
WARN_STYLE = "color: #d29922;"
# The box's title says where the write stands: "waiting" once it is done misleads.
TITLES = {PendingStatus.WAITING: "Action waiting for approval",
          PendingStatus.FAILED: "Action not done: approve it again or deny it",
          PendingStatus.APPROVING: "Action being approved",
          PendingStatus.APPROVED: "Action approved",
          PendingStatus.DENIED: "Action denied"}
ERROR_STYLE = "color: #e5534b;"


def action_button(action: QAction) -> QToolButton:
    """A button for an action: its text, and its tooltip with the shortcut."""
    button = QToolButton()
    button.setDefaultAction(action)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    return button


class _Figures(QLabel):
    """Paid · Already refunded · Policy allows · Approving, side by side on one line
    that wraps between figures, never inside one: the panel is narrow, and a grid
    would force it wider than the dock."""

    def __init__(self) -> None:
        super().__init__()
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setWordWrap(True)
        self.values: dict[str, str] = {}  # as shown, by name

    def show_figures(self, figures: tuple[tuple[str, str], ...]) -> None:
        self.values = dict(figures)
        self.setVisible(bool(figures))
        self.setText(" · ".join(
            f"{html.escape(name).replace(' ', '&nbsp;')}&nbsp;<b>{html.escape(value)}</b>"
            for name, value in figures))


class PendingActionBox(QGroupBox):
    def __init__(self, approve: QAction, deny: QAction, activity: QObject,
                 limits_for: LimitsFor) -> None:
        """`activity` filters the argument fields' events: typing in them is working
        on the item (the context panel renews the lease for it)."""
        super().__init__("Action waiting for approval")
        self._activity = activity
        self._limits_for = limits_for
        self._item: Escalation | None = None
        self._filled: tuple[int, PendingStatus | None] | None = None  # item, status shown
        self.arg_edits: dict[str, QLineEdit] = {}
        self._original: dict[str, Any] = {}
        self.text = QLabel()
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setWordWrap(True)
        self.requested = QLabel()  # what was asked for and refused
        self.requested.setWordWrap(True)
        self.requested.setStyleSheet(WARN_STYLE)
        self.allowed = QLabel()
        self.allowed.setWordWrap(True)
        self.figures = _Figures()
        self.verdict = QLabel()  # within the policy, over it, or impossible, as edited
        self.verdict.setWordWrap(True)
        self.args_form = QFormLayout()
        buttons = QHBoxLayout()
        buttons.addWidget(action_button(approve))
        buttons.addWidget(action_button(deny))
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.requested)
        layout.addWidget(self.allowed)
        layout.addWidget(self.figures)
        layout.addLayout(self.args_form)
        layout.addWidget(self.verdict)
        layout.addLayout(buttons)

    def show_item(self, item: Escalation | None, mine: bool) -> None:
        action = item.pending_action if item is not None else None
        self._item = item
        self.setVisible(action is not None)
        if item is None or action is None:
            self._fill({})
            self._filled = None
            return
        status = item.pending_status
        result = item.pending_result or {}
        self.setTitle(TITLES.get(status or PendingStatus.WAITING, TITLES[PendingStatus.WAITING]))
        limits = self._limits_for(action.tool, action.arguments)
        verb = limits.verb if limits is not None else None
        self.text.setText(f"<b>{html.escape(action_text(action))}</b>"
                          f"{_status_html(item, verb)}")
        requested = action.requested or {}
        self.requested.setVisible("amount" in requested)
        if "amount" in requested:
            self.requested.setText(f"Asked for {_dollars(requested['amount'])}, refused: "
                                   "offered at what the policy allows instead")
        self.allowed.setText(allowed_text(action))
        if self._filled != (item.id, status):
            self._original = action.arguments
            self._fill(result.get("arguments") or action.arguments)  # as done, once done
            self._filled = (item.id, status)
        undecided = status is not None and status.undecided
        for edit in self.arg_edits.values():
            edit.setEnabled(mine and undecided)
        self.refresh_check()

    def check(self) -> ApprovalCheck | None:
        """Approving the arguments as they stand now, against the limits as they stand
        now (None: nothing to approve)."""
        item = self._item
        action = item.pending_action if item is not None else None
        if item is None or action is None:
            return None
        arguments = self.edited_arguments() or action.arguments
        return check_approval(action.tool, arguments,
                              self._limits_for(action.tool, arguments))

    def refresh_check(self) -> None:
        item = self._item
        undecided = (item is not None and item.pending_status is not None
                     and item.pending_status.undecided)
        check = self.check() if undecided else None
        self.figures.show_figures(check.figures if check else ())
        self.verdict.setVisible(bool(check and check.problem))
        if check is not None and check.problem:
            over = check.verdict is Verdict.OVERRIDE
            self.verdict.setStyleSheet(WARN_STYLE if over else ERROR_STYLE)
            self.verdict.setText(("Needs an override: " if over else "Can't approve: ")
                                 + check.problem)

    def _fill(self, arguments: dict[str, Any]) -> None:
        while self.args_form.rowCount():
            self.args_form.removeRow(0)
        self.arg_edits = {}
        for name, value in arguments.items():
            shown = (f"{value:.2f}" if name == "amount" and isinstance(value, int | float)
                     and not isinstance(value, bool) else value if isinstance(value, str)
                     else json.dumps(value))  # dollars read as dollars: 49.90, not 49.9
            edit = QLineEdit(shown)
            edit.installEventFilter(self._activity)
            edit.textEdited.connect(self.refresh_check)
            self.arg_edits[name] = edit
            self.args_form.addRow(name.replace("_", " ") + ":", edit)

    def edited_arguments(self) -> dict[str, Any] | None:
        """The arguments as the operator left them: a field whose value was text stays
        text (a reason "123"); others are read as JSON (a number stays a number), or
        passed as typed for the tool's schema to refuse. None: nothing to edit."""
        if not self.arg_edits:
            return None
        values: dict[str, Any] = {}
        for name, edit in self.arg_edits.items():
            text = edit.text().strip()
            if isinstance(self._original.get(name), str):
                values[name] = text
                continue
            try:
                values[name] = json.loads(text)
            except json.JSONDecodeError:
                values[name] = text
        return values


def _dollars(amount: Any) -> str:
    try:
        return money(float(amount))
    except (TypeError, ValueError):
        return repr(amount)


def _status_html(item: Escalation, verb: str | None) -> str:
    """`verb`: what the write does with money (the domain's `WriteLimits.verb`); None
    for a write not about money, whose result is not read as an amount."""
    status = item.pending_status
    result = item.pending_result or {}
    by = html.escape(str(result.get("by")))
    if status is PendingStatus.APPROVED:
        done = result.get("result") or {}
        cents = done_cents(done, verb)
        did = (f": {money(cents / 100)} {html.escape(past_tense(verb))}"
               if verb is not None and cents is not None else "")
        over = " over the policy" if result.get("override") else ""
        return f" — <b>approved</b> by {by}{over}{did}"
    if status is PendingStatus.APPROVING:
        return f" — <b>being approved</b> by {by}"
    if status is PendingStatus.FAILED:
        return f" — <b>not done</b>: {html.escape(str(result.get('error')))}"
    if status is PendingStatus.DENIED:
        return f" — <b>denied</b>: {html.escape(str(result.get('reason')))}"
    return ""
