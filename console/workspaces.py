"""Four workspaces, one per job, each using the whole window: watch the agent (feed,
charts, detail, compose, traffic), tune the rules (the rules view alone), handle
escalations (the queue beside the escalation's context), and see who did what (the
audit listing alone).

The first version put every panel in one dock layout, so the rules view lived in
the feed's dock (a one-line pattern field, a one-row backtest table) and the
escalation's context was clipped sideways; at 1024x700 nothing was usable. Here
each job gets a page of splitters; the window switches pages (Ctrl+1/2/3/4) and
remembers each page's splitter positions. A splitter never lets a panel be
squeezed below what it needs to be read (`MIN_*`), so a small window scrolls
inside panels instead of hiding them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from enum import StrEnum

from PySide6.QtCore import QByteArray, QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QSplitter, QStackedWidget, QWidget

log = logging.getLogger("console.workspaces")


class Workspace(StrEnum):
    WATCH = "watch"
    RULES = "rules"
    ESCALATIONS = "escalations"
    AUDIT = "audit"


TITLES = {Workspace.WATCH: "&Watch", Workspace.RULES: "R&ules",
          Workspace.ESCALATIONS: "&Escalations", Workspace.AUDIT: "Aud&it"}
SHORTCUTS = {Workspace.WATCH: "Ctrl+1", Workspace.RULES: "Ctrl+2",
             Workspace.ESCALATIONS: "Ctrl+3", Workspace.AUDIT: "Ctrl+4"}
TIPS = {Workspace.WATCH: "Watch the agent: live feed, charts, request detail, compose",
        Workspace.RULES: "Edit, backtest and apply the rules",
        Workspace.ESCALATIONS: "Handle the requests the agent escalated",
        Workspace.AUDIT: "Who did what: every operator's claims, replies, approvals and "
                         "rule changes"}

# Default shares of each splitter (they scale with the window) and the least each
# panel keeps when the operator drags a splitter or the window is small.
_SHARES: dict[str, list[int]] = {
    "watch": [57, 43],  # feed and charts | detail, compose and traffic
    "watch/left": [55, 45],  # feed over charts
    "watch/right": [72, 16, 12],  # detail over compose over traffic
    "escalations": [32, 68],  # queue | context
}
MIN_FEED_WIDTH = 400
MIN_DETAIL_WIDTH = 360
MIN_QUEUE_WIDTH = 260
MIN_CONTEXT_WIDTH = 480


def _splitter(orientation: Qt.Orientation, name: str, *widgets: QWidget) -> QSplitter:
    splitter = QSplitter(orientation)
    splitter.setObjectName(name)
    splitter.setChildrenCollapsible(False)  # a dragged splitter never hides a panel
    for widget in widgets:
        splitter.addWidget(widget)
    return splitter


class Workspaces(QStackedWidget):
    changed = Signal(str)  # the Workspace shown now

    def __init__(self, *, feed: QWidget, charts: QWidget, detail: QWidget, compose: QWidget,
                 traffic: QWidget, rules: QWidget, queue: QWidget, context: QWidget,
                 audit: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        feed.setMinimumWidth(MIN_FEED_WIDTH)
        detail.setMinimumWidth(MIN_DETAIL_WIDTH)
        queue.setMinimumWidth(MIN_QUEUE_WIDTH)
        context.setMinimumWidth(MIN_CONTEXT_WIDTH)
        vertical, horizontal = Qt.Orientation.Vertical, Qt.Orientation.Horizontal
        left = _splitter(vertical, "watch/left", feed, charts)
        right = _splitter(vertical, "watch/right", detail, compose, traffic)
        watch = _splitter(horizontal, "watch", left, right)
        escalations = _splitter(horizontal, "escalations", queue, context)
        self.splitters: dict[str, QSplitter] = {
            s.objectName(): s for s in (watch, left, right, escalations)}
        self.pages: dict[Workspace, QWidget] = {
            Workspace.WATCH: watch, Workspace.RULES: rules, Workspace.ESCALATIONS: escalations,
            Workspace.AUDIT: audit}
        for page in self.pages.values():
            self.addWidget(page)
        self._sized: set[str] = set()  # splitters given their default shares once shown
        for splitter in self.splitters.values():
            splitter.installEventFilter(self)
        self.currentChanged.connect(lambda _index: self.changed.emit(self.current.value))

    @property
    def current(self) -> Workspace:
        page = self.currentWidget()
        return next(w for w, p in self.pages.items() if p is page)

    def show_workspace(self, workspace: Workspace) -> None:
        self.setCurrentWidget(self.pages[workspace])

    # -- sizes kept between runs ----------------------------------------------------

    def states(self) -> Iterator[tuple[str, QByteArray]]:
        for name, splitter in self.splitters.items():
            yield name, splitter.saveState()

    def restore(self, name: str, state: object) -> None:
        splitter = self.splitters.get(name)
        if splitter is None or not isinstance(state, QByteArray | bytes):
            return
        if splitter.restoreState(QByteArray(state)):
            self._sized.add(name)
        else:
            log.warning("saved sizes of %s ignored: unreadable", name)

    def reset_sizes(self) -> None:
        self._sized.clear()
        self._default_sizes()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() is QEvent.Type.Resize and isinstance(watched, QSplitter):
            self._default_size(watched)
        return False

    def _default_sizes(self) -> None:
        for splitter in self.splitters.values():
            self._default_size(splitter)

    def _default_size(self, splitter: QSplitter) -> None:
        """Default shares, applied once a splitter has a real size: a page laid out for
        the first time (only the current page of a stack is), not one still at 0 px."""
        name = splitter.objectName()
        length = (splitter.width() if splitter.orientation() is Qt.Orientation.Horizontal
                  else splitter.height())
        if name in self._sized or length < 200:
            return
        shares = _SHARES[name]
        total = sum(shares)
        splitter.setSizes([length * share // total for share in shares])
        self._sized.add(name)
