"""Answering the console's questions (`console.confirm`) as an operator would: wait
for the dialog, type a reason if one is asked for, press the named button."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QAbstractButton, QApplication, QDialog, QLabel

from console import confirm


def asked(qtbot) -> QDialog:
    qtbot.waitUntil(lambda: confirm.open_dialog is not None
                    and confirm.open_dialog.isVisible(), timeout=15_000)
    dialog = confirm.open_dialog
    assert dialog is not None
    return dialog


def answer(qtbot, button: str, *, reason: str | None = None) -> str:
    """Presses `button` on the dialog being shown; returns what the dialog said."""
    dialog = asked(qtbot)
    said = " ".join(label.text() for label in dialog.findChildren(QLabel))
    if reason is not None:
        qtbot.keyClicks(dialog.reason, reason)
    [target] = [b for b in dialog.findChildren(QAbstractButton)
                if b.text().replace("&", "") == button]
    assert target.isEnabled(), f"{button!r} is disabled"
    window = dialog.parentWidget().window()
    qtbot.mouseClick(target, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: confirm.open_dialog is not dialog)
    # The offscreen platform gives activation back to no one; a desktop gives it back
    # to the window the dialog belonged to, where the operator's next shortcut goes.
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    return said


def press(qtbot, window, keys: str) -> None:
    """A shortcut pressed on the escalation queue, without waiting for what it starts."""
    sequence = QKeySequence(keys)[0]
    qtbot.keyClick(window.escalations.view, sequence.key(), sequence.keyboardModifiers())


def approve(qtbot, window, *, override: str | None = None) -> str:
    """Ctrl+Shift+A, then the confirmation (and, above the policy, the override's
    reason first) answered yes; waits for the approval. Returns the confirmation."""
    panel = window.escalation
    before = panel.running
    press(qtbot, window, "Ctrl+Shift+A")
    if override is not None:
        answer(qtbot, "Override…", reason=override)
    said = answer(qtbot, "Approve")
    qtbot.waitUntil(lambda: panel.running is not before and panel.running.done(),
                    timeout=15_000)
    return said
