"""Status-bar segments, one small widget each: breaker, requests/s, escalations, dollars,
tool servers.

Each takes what it shows in `__init__` (the bridge, and the core object it
reads) and updates from the bridge's signals. Where a value is a rolling one
(requests per second) the segment redraws on a slow timer, not per request.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from agentcore import (
    BreakerChanged,
    CircuitBreaker,
    EscalationQueue,
    Outcome,
    RequestRepository,
)
from console.bridge import EngineBridge
from console.theme import BREAKER_COLOURS, TOOL_SERVER_COLOURS
from console.tool_servers_model import Badge, ServerStates

log = logging.getLogger("console.statusbar")

Now = Callable[[], float]


class BreakerSegment(QLabel):
    """The LLM circuit breaker's state, in colour, with why in the tooltip."""

    def __init__(self, bridge: EngineBridge, breaker: CircuitBreaker,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = str(breaker.state)
        self.mode = str(breaker.mode)
        self.cause: str | None = None  # while open: why, in an operator's words
        self._show(breaker.reason)
        bridge.breaker_changed.connect(self._on_changed)

    def _on_changed(self, event: BreakerChanged) -> None:
        self.state, self.mode = event.new, event.mode
        if event.new == "open":
            self.cause = event.cause
        elif event.new == "closed":
            self.cause = None  # half-open keeps it: still the same outage, probing
        self._show(event.reason)

    def _show(self, reason: str) -> None:
        colour = BREAKER_COLOURS.get(self.state, "#8b949e")
        forced = "" if self.mode == "auto" else " (forced)"
        label = self.state.replace("_", "-")
        cause = f" · {html.escape(self.cause)}" if self.cause and self.mode == "auto" else ""
        self.setText(f"<span style='color:{colour}'>●</span> LLM breaker: "
                     f"<b>{label}</b>{forced}{cause}")
        self.setToolTip(f"LLM circuit breaker {label}{forced}: {html.escape(reason)}")


class RateSegment(QLabel):
    """Requests finished per second over the last `window_s` seconds."""

    def __init__(self, bridge: EngineBridge, *, window_s: int = 10, now: Now = time.monotonic,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window_s = window_s
        self._now = now
        # Per-second buckets: memory is bounded by the window, not by the traffic.
        self._buckets: deque[list[int]] = deque()  # [second, count]
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        bridge.outcome.connect(self._on_outcome)
        self.setToolTip(f"Requests finished per second, over the last {window_s} s")
        self.refresh()

    def _on_outcome(self, _outcome: Outcome) -> None:
        second = int(self._now())
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += 1
        else:
            self._buckets.append([second, 1])

    @property
    def rate(self) -> float:
        oldest = int(self._now()) - self.window_s
        while self._buckets and self._buckets[0][0] <= oldest:
            self._buckets.popleft()
        return sum(count for _, count in self._buckets) / self.window_s

    def refresh(self) -> None:
        self.setText(f"{self.rate:,.1f} req/s")


class EscalationsSegment(QLabel):
    """Open items in the escalation queue: counted on each escalation (debounced) and
    every few seconds, since claims expire and items are resolved elsewhere."""

    def __init__(self, bridge: EngineBridge, queue: EscalationQueue, *,
                 interval_ms: int = 5000, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.count: int | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._again = False
        # A burst of escalations is one count, a moment after the burst.
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.refresh)
        self._periodic = QTimer(self)
        self._periodic.setInterval(interval_ms)
        self._periodic.timeout.connect(self.refresh)
        self._periodic.start()
        # Not restarted while pending: a steady stream of escalations still counts.
        bridge.escalated.connect(lambda _outcome: self._debounce.isActive()
                                 or self._debounce.start())
        bridge.escalation_changed.connect(lambda _id: self._debounce.start())  # claimed
        self.setToolTip("Escalations waiting for an operator (open items)")
        self._show()
        self._debounce.start()  # the first count, once the event loop runs

    def stop(self) -> None:
        """No more counts: called before the engine (and its database) closes."""
        self._periodic.stop()
        self._debounce.stop()
        if self._refreshing is not None:
            self._refreshing.cancel()

    def refresh(self) -> None:
        if not self._periodic.isActive():
            return  # stopped for shutdown
        if self._refreshing is not None and not self._refreshing.done():
            self._again = True  # one more count once this one is in
            return
        self._refreshing = asyncio.ensure_future(self._count())

    async def _count(self) -> None:
        try:
            count = await self.queue.count(state="open")
        except Exception:  # a locked database is not worth a dialog: try again next time
            log.warning("counting open escalations failed", exc_info=True)
            return
        self.count = count
        self._show()
        if self._again:
            self._again = False
            self._debounce.start()

    def _show(self) -> None:
        if self.count is None:
            self.setText("Escalations: …")
            return
        colour = "#e3a33b" if self.count else "#8b949e"
        self.setText(f"Escalations waiting: <b style='color:{colour}'>{self.count}</b>")


class DollarsSegment(QLabel):
    """Dollars spent on the LLM since local midnight."""

    def __init__(self, bridge: EngineBridge, *, spent_today: float = 0.0,
                 now: Now = time.time, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._now = now
        self.day = self._today()
        self.dollars = spent_today
        bridge.outcome.connect(self._on_outcome)
        self.setToolTip("LLM spend since local midnight")
        self._show()

    def _today(self) -> str:
        return datetime.fromtimestamp(self._now()).date().isoformat()

    def _on_outcome(self, outcome: Outcome) -> None:
        if not outcome.usage.dollars:  # the fast path is free: nothing to redraw
            return
        today = self._today()
        if today != self.day:  # the first paid outcome after midnight starts a new day
            self.day, self.dollars = today, 0.0
        self.dollars += outcome.usage.dollars
        self._show()

    def _show(self) -> None:
        self.setText(f"Today: <b>${self.dollars:,.4f}</b>")


def spent_today(requests: RequestRepository, now: Now = time.time) -> float:
    """What the engine's database says was spent since local midnight (survives restarts)."""
    midnight = datetime.fromtimestamp(now()).replace(hour=0, minute=0, second=0,
                                                      microsecond=0).timestamp()
    return requests.dollars_since(midnight)


class ToolsSegment(QLabel):
    """Each tool server's state, compactly ("shop ● ready (8) · crm ● reconnecting"),
    failed ones in the error colour; why and since when in the tooltip. Hidden while no
    server is configured. Fed by `ServerStates` (the engine's reports, then each
    `ToolServerChanged` through the bridge)."""

    _MAX_WIDTH = 420  # many servers elide, in the tooltip in full: the bar stays usable

    def __init__(self, bridge: EngineBridge, states: ServerStates,
                 on_click: Callable[[], object] = lambda: None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.states = states
        self._on_click = on_click  # the main window's: Settings, on the Tool servers group
        self.setMaximumWidth(self._MAX_WIDTH)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
        states.on_change.append(self._show)
        bridge.tool_server_changed.connect(states.update)
        self._show()

    def _show(self) -> None:
        badges = self.states.badges()
        self.setVisible(bool(badges))
        parts = []
        for badge in badges:
            colour = (TOOL_SERVER_COLOURS["failed"] if badge.held_back
                      else TOOL_SERVER_COLOURS.get(str(badge.state), "#8b949e"))
            name, _, rest = badge.text.partition(" ● ")
            parts.append(f"{html.escape(name)} <span style='color:{colour}'>●</span> "
                         f"<span style='color:{colour}'>{html.escape(rest)}</span>")
        text = "Tools: " + " · ".join(parts)
        # Rich text does not elide: past the width, only the count of servers shows.
        if self.fontMetrics().horizontalAdvance(
                "Tools: " + " · ".join(b.text for b in badges)) > self._MAX_WIDTH:
            bad = sum(str(b.state) != "ready" or b.held_back for b in badges)
            colour = TOOL_SERVER_COLOURS["failed" if bad else "ready"]
            text = (f"Tools: {len(badges)} servers, <span style='color:{colour}'>"
                    f"{bad} not ready</span>")
        self.setText(text)
        self._tip(badges)

    def _tip(self, badges: list[Badge]) -> None:
        self.setToolTip("\n\n".join([*(b.tooltip for b in badges),
                                      "Click to open the tool servers' settings."]))

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            self._tip(self.states.badges())  # "since 21:40 (3 min ago)": as of the hover
        return super().event(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._on_click()
        super().mousePressEvent(event)
