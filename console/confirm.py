"""Questions before the console does what can't be taken back quietly: "Apply
anyway?", "Approve this refund?", "Why override the policy?".

Shown with `open()`, never `exec()`: a nested event loop would re-enter the
asyncio loop the engine runs on (qasync), and a test could not click it. The
answer arrives as a call (`Confirmation`) or is awaited (`confirm`, `ask_reason`);
Cancel is the default and Escape's button, so Enter or a stray key never
confirms. The awaited question open now is `open_dialog`, for tests to answer as
an operator would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

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

open_dialog: QDialog | None = None  # the awaited question being asked now, if any


class Confirmation(QMessageBox):
    """A warning listing `reasons`, with `go` (e.g. "Apply anyway") and Cancel."""

    def __init__(self, parent: QWidget, *, title: str, text: str, reasons: Sequence[str],
                 go: str, on_go: Callable[[], None],
                 on_cancel: Callable[[], None] = lambda: None) -> None:
        super().__init__(QMessageBox.Icon.Warning, title, text,
                         QMessageBox.StandardButton.Cancel, parent)
        self.setObjectName("confirmation")
        self.setTextFormat(Qt.TextFormat.PlainText)  # rule ids and patterns, not markup
        self.setInformativeText("\n\n".join(f"• {reason}" for reason in reasons))
        self.reasons = list(reasons)
        self.go_button: QPushButton = self.addButton(go, QMessageBox.ButtonRole.AcceptRole)
        self.cancel_button = self.button(QMessageBox.StandardButton.Cancel)
        self.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.setEscapeButton(QMessageBox.StandardButton.Cancel)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._on_go = on_go
        self._on_cancel = on_cancel
        # finished, not buttonClicked: closing the window or Escape answer too (Cancel).
        self.finished.connect(self._answered)

    def _answered(self, _result: int) -> None:
        (self._on_go if self.clickedButton() is self.go_button else self._on_cancel)()


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


async def confirm(parent: QWidget, title: str, text: str, go: str,
                  lines: Sequence[str] = ()) -> bool:
    """Whether the operator pressed `go`; `lines` (figures, reasons) are listed under
    `text`."""
    pressed: list[bool] = []  # the box deletes itself on close: its answer is kept here
    box = Confirmation(parent, title=title, text=text, reasons=lines, go=go,
                       on_go=lambda: pressed.append(True))
    await _answer(box)
    return bool(pressed)


class ReasonDialog(QDialog):
    """A reason is required: the act button waits until one is written."""

    def __init__(self, parent: QWidget, title: str, text: str, go: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        label = QLabel(text)
        label.setWordWrap(True)
        self.reason = QPlainTextEdit()
        self.reason.setPlaceholderText("Why (kept with the refund and the item)")
        self.reason.setMaximumHeight(90)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.go_button: QPushButton = self.buttons.addButton(
            go, QDialogButtonBox.ButtonRole.AcceptRole)
        self.go_button.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.reason.textChanged.connect(
            lambda: self.go_button.setEnabled(bool(self.reason.toPlainText().strip())))
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(self.reason)
        layout.addWidget(self.buttons)


async def ask_reason(parent: QWidget, title: str, text: str, go: str) -> str | None:
    """The reason written, or None when the operator cancelled."""
    dialog = ReasonDialog(parent, title, text, go)
    try:
        code = await _answer(dialog)
        reason = dialog.reason.toPlainText().strip()
    finally:
        dialog.deleteLater()
    return reason if code == QDialog.DialogCode.Accepted and reason else None
