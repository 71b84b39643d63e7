"""One banner across the top of the window while the LLM is out, instead of a notice
per request: since when, the cause, how many answered degraded and escalated, and
the outage's escalated items as a group ("Show them", "Hand back all 7").

The banner reads an `OutageTracker` (agentcore.outage), which does the counting; it
redraws at most a few times a second however fast requests fail, and every few
seconds for the growing duration. Once the endpoint is back it says so, and keeps
saying so until dismissed; only then can the items be handed back, one at a time
through the queue's own claim and hand-back (`hand_back_all`).

The window puts it above whichever workspace is shown (`MainWindow.banners`); it
shows itself only while it has something to say.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from agentcore import (
    EscalationSettings,
    HandBackQueue,
    HandBackReport,
    Outage,
    OutageTracker,
    StorageError,
    hand_back_all,
)
from console import message

log = logging.getLogger("console.outage")

REDRAW_MS = 250  # a burst of failures is one redraw
TICK_MS = 5_000  # the duration moves by the minute: a slow tick is enough
# Amber while out, green once back: readable on the dark and the light theme alike.
OUT_STYLE = "background:#5a3d00; color:#ffe6a8; border-radius:4px;"
BACK_STYLE = "background:#0f4023; color:#c8f7d4; border-radius:4px;"


class OutageBanner(QFrame):
    def __init__(self, tracker: OutageTracker, queue: HandBackQueue,
                 settings: Callable[[], EscalationSettings], now: Callable[[], float], *,
                 show_items: Callable[[Sequence[int]], None] | None = None,
                 parent: QWidget | None = None) -> None:
        """`settings` is read at each hand-back (the operator's name, the lease);
        `show_items` filters the queue to the outage's items (no button without it)."""
        super().__init__(parent)
        self.setObjectName("outageBanner")  # the style sheet's selector: one word
        self.tracker = tracker
        self.queue = queue
        self._settings = settings
        self._now = now
        self._show_items = show_items
        self._handing_back: asyncio.Task[None] | None = None
        self.shown = True  # until the first refresh hides it
        self.report: HandBackReport | None = None  # of the outage shown, once handed back
        self._reported_for: Outage | None = None

        self.text = QLabel()
        self.text.setTextFormat(Qt.TextFormat.PlainText)  # it quotes refusals, names
        self.text.setWordWrap(True)  # never widens the window, whatever the cause says
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.show_button = QPushButton("Show them")
        self.show_button.setToolTip("Show only this outage's escalated items in the queue")
        self.hand_back_button = QPushButton("Hand back all")
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setToolTip("Hide this until the next outage")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 6, 4)
        layout.addWidget(self.text, 1)
        for button in (self.show_button, self.hand_back_button, self.dismiss_button):
            layout.addWidget(button)

        self.show_button.clicked.connect(self._show_them)
        self.hand_back_button.clicked.connect(self.hand_back)
        self.dismiss_button.clicked.connect(self.dismiss)
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(REDRAW_MS)
        self._redraw.timeout.connect(self.refresh)
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self.refresh)
        self._tick.start()
        self._unsubscribe = tracker.subscribe(lambda _outage: self._soon())
        self.refresh()

    @property
    def outage(self) -> Outage | None:
        return self.tracker.current

    def stop(self) -> None:
        """No more redraws or hand-backs: before the engine closes."""
        self._unsubscribe()
        self._tick.stop()
        self._redraw.stop()
        if self._handing_back is not None:
            self._handing_back.cancel()

    def _soon(self) -> None:
        if not self._redraw.isActive():  # not restarted: a steady stream still redraws
            self._redraw.start()

    def refresh(self) -> None:
        outage = self.outage
        # Shown while there is an outage to tell (ongoing, or back and not dismissed).
        if self.shown != (outage is not None):
            self.shown = outage is not None
            self.setVisible(self.shown)
        if outage is None:
            return
        busy = self._handing_back is not None and not self._handing_back.done()
        if self._reported_for is not outage or (outage.ongoing and not busy):
            # A new outage, or this one failing again: the last report is stale.
            self.report, self._reported_for = None, outage
        text = outage.summary(self._now())
        if self.report is not None:
            text += f" Handed back: {self.report.text()}."
        self.text.setText(text)
        style = f"QFrame#outageBanner {{{OUT_STYLE if outage.ongoing else BACK_STYLE}}}"
        if style != self.styleSheet():  # a new sheet re-polishes every child
            self.setStyleSheet(style)
        listed = len(outage.escalation_ids)
        items = len(outage.to_hand_back)
        self.show_button.setVisible(self._show_items is not None and listed > 0)
        self.show_button.setText(f"Show them ({listed:,})")
        self.hand_back_button.setVisible(items > 0 or busy)
        if not busy:
            self.hand_back_button.setText(f"Hand back all {items:,} to the agent")
        self.hand_back_button.setEnabled(not outage.ongoing and not busy)
        self.hand_back_button.setToolTip(
            "Once the endpoint is back: the agent answers them again, one at a time"
            if outage.ongoing else "Claim each item and hand it back to the agent, "
                                   "one at a time")
        self.dismiss_button.setVisible(not outage.ongoing)
        self.dismiss_button.setEnabled(not busy)

    def _show_them(self) -> None:
        if self._show_items is not None and self.outage is not None:
            self._show_items(tuple(self.outage.escalation_ids))

    def dismiss(self) -> None:
        self.tracker.dismiss()
        self.refresh()

    def hand_back(self) -> None:
        outage = self.outage
        if outage is None or outage.ongoing or (
                self._handing_back is not None and not self._handing_back.done()):
            return
        self._handing_back = asyncio.ensure_future(self._hand_back(outage))
        self.refresh()

    async def _hand_back(self, outage: Outage) -> None:
        settings = self._settings()
        ids = tuple(outage.to_hand_back)

        def progress(done: int, total: int) -> None:
            self.hand_back_button.setText(f"Handing back {done:,} of {total:,}…")

        try:
            report = await hand_back_all(self.queue, ids, settings.operator,
                                         note=outage.hand_back_note, lease_s=settings.lease_s,
                                         progress=progress)
        except StorageError as exc:  # a locked database: say so; try again later
            log.warning("handing back the outage's items failed", exc_info=True)
            message.error(f"Handing back the outage's items stopped: {exc}")
            QTimer.singleShot(0, self.refresh)  # once this task is done: not busy
            return
        outage.handed_back.update(report.done)
        if outage is self.outage:
            self.report = report
        message.info(f"Outage items: {report.text()}")
        QTimer.singleShot(0, self.refresh)  # once this task is done: not busy
