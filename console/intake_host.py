"""The console hosting the HTTP intake in process (Settings > Intake API), and its
status-bar segment: "Intake: http://127.0.0.1:8088 · 12 req/min", "Intake: off", or
why it could not start."""

from __future__ import annotations

import logging

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QWidget

from agentcore import Engine, IntakeSettings, KeyringCredentials, UserFacingError, intake_server

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

    def per_minute(self) -> int:
        intake = getattr(self._server, "intake", None)
        return intake.per_minute() if intake is not None else 0

    async def apply(self, settings: IntakeSettings) -> None:
        """In force: on, off, or restarted when its settings changed."""
        if settings == self._running and (self._server is not None) == settings.enabled:
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
            return
        self._server = server

    async def stop(self) -> None:
        server, self._server = self._server, None
        self.error = None
        if server is not None:
            await server.close()  # type: ignore[attr-defined]


class IntakeSegment(QLabel):
    """The intake's address and load, refreshed every two seconds."""

    def __init__(self, host: IntakeHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._host = host
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(2000)
        self.refresh()

    def refresh(self) -> None:
        host = self._host
        if host.error:
            self.setText("Intake: failed")
            self.setToolTip(host.error)
        elif host.url:
            self.setText(f"Intake: {host.url} · {host.per_minute()} req/min")
            self.setToolTip("the HTTP intake this console hosts (Settings > Intake API)")
        else:
            self.setText("Intake: off")
            self.setToolTip("Settings > Intake API hosts the HTTP intake in this console")

    def stop(self) -> None:
        self._timer.stop()
