"""A question before a change that can't be taken back quietly: "Apply anyway?".

Shown with `open()`, never `exec()`: a nested event loop would re-enter the
asyncio loop the engine runs on (qasync), and a test could not click it. The
answer arrives as a call; Cancel is the default and Escape's button, so Enter
or a stray key never confirms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget


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
