"""Desktop notifications: a system-tray balloon where the desktop has a tray, a
status-bar message where it has none (offscreen, some Wayland sessions, kiosks).

The escalation queue only knows the `Notifier` protocol: tests hand it a
`RecordingNotifier` to see what an operator would have been told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QStyle, QSystemTrayIcon, QWidget

log = logging.getLogger("console.notifier")

NOTICE_MS = 8000  # long enough to read a reason and a customer, short enough not to nag


class Notifier(Protocol):
    def notify(self, title: str, message: str) -> None:
        """Tells the operator something happened while they may be looking elsewhere."""


class DesktopNotifier:
    """A tray balloon when the desktop can show one; `fallback` (a status-bar message)
    when it can't, so the notice is never just dropped."""

    def __init__(self, window: QWidget, fallback: Callable[[str, int], None],
                 on_click: Callable[[], None] | None = None) -> None:
        self._fallback = fallback
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable() and QSystemTrayIcon.supportsMessages():
            icon: QIcon = window.windowIcon()
            if icon.isNull():
                icon = window.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
            self.tray = QSystemTrayIcon(icon, window)
            self.tray.setToolTip(window.windowTitle())
            if on_click is not None:  # a click on the notice brings up the queue
                self.tray.messageClicked.connect(on_click)
            self.tray.show()
        else:
            log.info("no system tray: notifications go to the status bar")

    def notify(self, title: str, message: str) -> None:
        if self.tray is not None:
            self.tray.showMessage(title, message, QSystemTrayIcon.MessageIcon.Warning,
                                  NOTICE_MS)
        else:
            self._fallback(f"{title}: {message}", NOTICE_MS)

    def close(self) -> None:
        if self.tray is not None:
            self.tray.hide()  # an icon left behind lingers in some trays until hovered


class RecordingNotifier:
    """Keeps what it was asked to show: the fake tests inject."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def notify(self, title: str, message: str) -> None:
        self.sent.append((title, message))
