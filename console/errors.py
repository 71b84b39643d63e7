"""The one place unhandled errors go: logged, then shown, never a dead window.

Installed as `sys.excepthook` (exceptions escaping Qt slots and virtual
methods) and as the asyncio loop's exception handler (exceptions in tasks and
callbacks). An error the operator can fix (`UserFacingError`: a bad setting,
a broken rule) is a status-bar message; anything else is a bug, shown in one
non-modal message box that gathers repeats instead of stacking dialogs.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from agentcore import UserFacingError, redact
from console import message

log = logging.getLogger("console.errors")


class ErrorReporter(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.window: QWidget | None = None
        self.box: QMessageBox | None = None
        self.bugs = 0
        self._previous_hook = sys.excepthook
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        self._previous_hook = sys.excepthook
        sys.excepthook = self.excepthook
        self._loop = loop
        loop.set_exception_handler(self.loop_exception)

    def uninstall(self) -> None:
        sys.excepthook = self._previous_hook
        if self._loop is not None and not self._loop.is_closed():
            self._loop.set_exception_handler(None)
        self._loop = None

    # -- the two entry points ----------------------------------------------------

    def excepthook(self, kind: type[BaseException], exc: BaseException,
                   tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self._previous_hook(kind, exc, tb)
            return
        self.report(exc, "unhandled error", tb)

    def loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if exc is None:  # asyncio's own complaints ("Task was destroyed but is pending")
            log.warning("asyncio: %s", context.get("message"))
            return
        self.report(exc, context.get("message") or "error in a background task",
                    exc.__traceback__)

    # -- reporting -------------------------------------------------------------

    def report(self, exc: BaseException, where: str, tb: TracebackType | None = None) -> None:
        try:
            if isinstance(exc, UserFacingError):
                log.warning("%s: %s", where, exc)
                message.error(str(exc))  # the operator can act on it: the status bar
                return
            log.error("%s", where, exc_info=(type(exc), exc, tb or exc.__traceback__))
            self._show_bug(exc, tb or exc.__traceback__)
        except Exception:  # reporting must never raise into Qt or asyncio
            sys.__excepthook__(type(exc), exc, tb)

    def _show_bug(self, exc: BaseException, tb: TracebackType | None) -> None:
        self.bugs += 1
        # Shown to be copied into a bug report: no credential a message quoted with it.
        details = redact("".join(traceback.format_exception(type(exc), exc, tb)))
        if self.box is None:
            self.box = QMessageBox(self.window)
            self.box.setIcon(QMessageBox.Icon.Critical)
            self.box.setWindowTitle("Something went wrong")
            self.box.setStandardButtons(QMessageBox.StandardButton.Close)
            self.box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.box.finished.connect(self._box_closed)
        summary = redact(f"{type(exc).__name__}: {exc}")
        more = f"\n\n({self.bugs} errors so far; the log has them all.)" if self.bugs > 1 else ""
        self.box.setText("The console hit an unexpected error and carried on.")
        self.box.setInformativeText(summary[:500] + more)
        self.box.setDetailedText(details)
        # Non-modal: a nested event loop here would re-enter asyncio callbacks.
        self.box.show()

    def _box_closed(self, _result: int) -> None:
        self.box = None
        self.bugs = 0
