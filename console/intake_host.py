"""The console hosting the HTTP intake in process (Settings > Intake API), and its
status-bar segment: "Intake: http://127.0.0.1:8088 · 12 req/min", "Intake: off", or
why it could not start."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QLabel, QWidget

from agentcore import Engine, IntakeSettings, KeyringCredentials, UserFacingError, intake_server
from console.theme import TOOL_SERVER_COLOURS

log = logging.getLogger("console.intake")


class IntakeHost:
    """Starts, restarts and stops one intake server on the console's loop."""

    def __init__(self, engine: Engine, credentials: KeyringCredentials) -> None:
        self._engine = engine
        self._credentials = credentials
        self._server: object | None = None
        self._running: IntakeSettings | None = None
        self.error: str | None = None

    @property
    def url(self) -> str | None:
        return getattr(self._server, "url", None)

    @property
    def attached_via(self) -> str | None:
        """An attached station's: the services' intake its requests go through. It
        hosts none of its own: its engine answers nothing itself."""
        return self._engine.attach_to

    def per_minute(self) -> int:
        intake = getattr(self._server, "intake", None)
        return intake.per_minute() if intake is not None else 0

    async def apply(self, settings: IntakeSettings, *, restart: bool = False) -> None:
        """In force: on, off, or restarted when its settings changed. `restart`: also
        when they did not (its token in the keyring did: a server reads it at start)."""
        if self.attached_via is not None:
            return  # never hosted: the services behind `attached_via` answer
        running = self._server is not None
        if settings == self._running and running == settings.enabled and not restart:
            return
        await self.stop()
        self._running = settings
        if not settings.enabled:
            return
        server = intake_server(self._engine, settings, self._credentials)
        try:
            await server.start()
        except UserFacingError as exc:
            self.error = str(exc)
            log.error("the intake did not start: %s", exc)
            # Closed all the same: it already listens to the engine's outcomes, and a
            # server per failed Apply would go on hearing every request.
            await server.close()
            return
        self._server = server

    async def stop(self) -> None:
        server, self._server = self._server, None
        self.error = None
        if server is not None:
            await server.close()  # type: ignore[attr-defined]


class IntakeSegment(QLabel):
    """The intake's address and load, refreshed every two seconds; a click opens
    Settings on the Intake API group."""

    def __init__(self, host: IntakeHost, parent: QWidget | None = None, *,
                 on_click: Callable[[], object] = lambda: None) -> None:
        super().__init__(parent)
        self._host = host
        self._on_click = on_click
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(2000)
        self.refresh()

    def refresh(self) -> None:
        host = self._host
        if host.error:
            self.setText(f"Intake: failed · {_cause(host.error)}")
            self.setStyleSheet(f"color: {TOOL_SERVER_COLOURS['failed']};")
            self.setToolTip(f"{host.error}\n\nClick to open Settings > Intake API.")
            return
        self.setStyleSheet("")
        if host.url:
            self.setText(f"Intake: {host.url} · {host.per_minute()} req/min")
            self.setToolTip("the HTTP intake this console hosts (click: Settings > "
                            "Intake API)")
        else:
            self.setText("Intake: off")
            self.setToolTip("Settings > Intake API (click) hosts the HTTP intake in this "
                            "console")

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._on_click()
        super().mousePressEvent(event)

    def stop(self) -> None:
        self._timer.stop()


def _cause(error: str) -> str:
    """What the bar has room for: the OS's words for a failed bind ("Address already in
    use"), or a pointer to the tooltip."""
    cause = error.rpartition(": ")[2]
    return cause if len(cause) <= 40 else "click for why"
