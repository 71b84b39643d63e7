"""The write an escalation waits on ("issue refund $42.10 on order 12345"), what the
policy allows, its arguments as editable fields, and the approve / deny buttons.

The fields are filled when another item (or another state of the action) is
shown, and left alone on a re-read of the same waiting action, so an edit in
progress survives the queue's reloads.
"""

from __future__ import annotations

import html
import json
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

from agentcore import Escalation, PendingStatus
from console.escalation_format import action_text, allowed_text


def action_button(action: QAction) -> QToolButton:
    """A button for an action: its text, and its tooltip with the shortcut."""
    button = QToolButton()
    button.setDefaultAction(action)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    return button


class PendingActionBox(QGroupBox):
    def __init__(self, approve: QAction, deny: QAction, activity: QObject) -> None:
        """`activity` filters the argument fields' events: typing in them is working
        on the item (the context panel renews the lease for it)."""
        super().__init__("Action waiting for approval")
        self._activity = activity
        self._filled: tuple[int, PendingStatus | None] | None = None  # item, status shown
        self.arg_edits: dict[str, QLineEdit] = {}
        self._original: dict[str, Any] = {}
        self.text = QLabel()
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setWordWrap(True)
        self.allowed = QLabel()
        self.allowed.setWordWrap(True)
        self.args_form = QFormLayout()
        buttons = QHBoxLayout()
        buttons.addWidget(action_button(approve))
        buttons.addWidget(action_button(deny))
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.allowed)
        layout.addLayout(self.args_form)
        layout.addLayout(buttons)

    def show_item(self, item: Escalation | None, mine: bool) -> None:
        action = item.pending_action if item is not None else None
        self.setVisible(action is not None)
        if item is None or action is None:
            self._fill({})
            self._filled = None
            return
        status = item.pending_status
        result = item.pending_result or {}
        done = ""
        if status is PendingStatus.APPROVED:
            done = f" — <b>approved</b> by {html.escape(str(result.get('by')))}"
        elif status is PendingStatus.DENIED:
            done = f" — <b>denied</b>: {html.escape(str(result.get('reason')))}"
        self.text.setText(f"<b>{html.escape(action_text(action))}</b>{done}")
        self.allowed.setText(allowed_text(action))
        if self._filled != (item.id, status):
            self._original = action.arguments
            self._fill(result.get("arguments") or action.arguments)  # as done, once done
            self._filled = (item.id, status)
        waiting = status is PendingStatus.WAITING
        for edit in self.arg_edits.values():
            edit.setEnabled(mine and waiting)

    def _fill(self, arguments: dict[str, Any]) -> None:
        while self.args_form.rowCount():
            self.args_form.removeRow(0)
        self.arg_edits = {}
        for name, value in arguments.items():
            edit = QLineEdit(value if isinstance(value, str) else json.dumps(value))
            edit.installEventFilter(self._activity)
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
