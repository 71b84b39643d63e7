"""Questions an operator answers before the console acts: awaitable, window-modal
dialogs on the qasync loop.

`exec()` would run a nested event loop inside a coroutine; these open the dialog
and await its answer instead, so the engine keeps running while the operator
reads. The dialog open now is `open_dialog` (one at a time per window), for
tests to answer as an operator would.
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

open_dialog: QDialog | None = None  # the question being asked now, if any


async def _answer(dialog: QDialog) -> int:
    global open_dialog
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def finished(code: int) -> None:
        if not future.done():
            future.set_result(code)

    dialog.finished.connect(finished)
    open_dialog = dialog
    dialog.open()
    try:
        return await future
    finally:
        open_dialog = None
        dialog.deleteLater()


async def confirm(parent: QWidget, title: str, text: str, act_label: str) -> bool:
    """Asks before an action that can't be undone; Cancel is the default button, so
    an Enter pressed out of habit does nothing."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.Cancel,
                      parent)
    box.setTextFormat(Qt.TextFormat.RichText)
    act = box.addButton(act_label, QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    await _answer(box)
    return box.clickedButton() is act


class ReasonDialog(QDialog):
    """A reason is required: the act button waits until one is written."""

    def __init__(self, parent: QWidget, title: str, text: str, act_label: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        label = QLabel(text)
        label.setWordWrap(True)
        self.reason = QPlainTextEdit()
        self.reason.setPlaceholderText("Why (kept with the refund and the item)")
        self.reason.setMaximumHeight(90)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.act: QPushButton = self.buttons.addButton(act_label,
                                                       QDialogButtonBox.ButtonRole.AcceptRole)
        self.act.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.reason.textChanged.connect(
            lambda: self.act.setEnabled(bool(self.reason.toPlainText().strip())))
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(self.reason)
        layout.addWidget(self.buttons)


async def ask_reason(parent: QWidget, title: str, text: str, act_label: str) -> str | None:
    """The reason written, or None when the operator cancelled."""
    dialog = ReasonDialog(parent, title, text, act_label)
    code = await _answer(dialog)
    reason = dialog.reason.toPlainText().strip()
    return reason if code == QDialog.DialogCode.Accepted and reason else None
