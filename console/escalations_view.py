"""The escalation queue: every item not yet resolved, oldest first, with how long it
has waited against the target (red when late), the reason, the customer, the
intent and the money at stake; filtered by reason. A second listing looks back at
what was resolved, latest first: who settled it, how (the write approved), and
how long it took.

`QueueModel` is a table adapter over the page a `QueueWatcher` (agentcore) read;
`QueuePanel` is its view: it asks for a load (a coroutine on the qasync loop)
when an operator acts on an item, at most once a second while the agent
escalates, and every few seconds, since leases lapse on their own. Behind
another tab it only announces what is new; it loads the page when it is shown.
A new item is announced through a `Notifier` (a tray balloon, or the status bar
where there is no tray).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QObject,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QFont, QKeySequence, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from agentcore import (
    Announcement,
    Clock,
    Escalation,
    EscalationReason,
    EscalationSettings,
    EscalationState,
    QueueWatcher,
    Stake,
)
from console import message
from console.bridge import EngineBridge
from console.escalation_format import settled_writes, waiting_text
from console.notifier import Notifier
from console.table_model import HeaderedTableModel, Index

log = logging.getLogger("console.escalations")

ID_ROLE = Qt.ItemDataRole.UserRole  # the escalation id behind a row
LATE_COLOUR = "#e5534b"
ALL = ""
RELOAD_THROTTLE_MS = 1000  # a stream of escalations reloads at most this often
NARROW_PX = 640  # narrower than this, the queue shows fewer columns
NARROWER_PX = 420  # and fewer again (the customer is in the item's card)


class Column(IntEnum):
    WAITING = 0
    REASON = 1
    CUSTOMER = 2
    INTENT = 3
    AT_STAKE = 4
    STATE = 5
    REQUEST = 6


HEADERS = ["Waiting", "Reason", "Customer", "Intent", "At stake", "State", "Request"]
RESOLVED_HEADERS = ["Took", "Reason", "Customer", "Intent", "At stake", "Settled",
                    "Request"]
WAITING_ITEMS, RESOLVED_ITEMS = "waiting", "resolved"  # the two listings


class QueueModel(HeaderedTableModel):
    def __init__(self, now: Callable[[], float], settings: Callable[[], EscalationSettings],
                 at_stake: Callable[[Escalation], Stake], parent: QObject | None = None) -> None:
        super().__init__(HEADERS, parent)
        self._now = now
        self.at_stake = at_stake  # the domain's: what an item is about
        self._settings = settings
        self.items: list[Escalation] = []

    def set_items(self, items: list[Escalation], *, resolved: bool = False) -> None:
        self.beginResetModel()
        self.items = items
        headers = tuple(RESOLVED_HEADERS if resolved else HEADERS)
        changed, self.headers = headers != self.headers, headers
        self.endResetModel()
        if changed:
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(headers) - 1)

    def tick(self) -> None:
        """Time passes: only the waiting column changes."""
        if self.items:
            self.dataChanged.emit(self.index(0, Column.WAITING),
                                  self.index(len(self.items) - 1, Column.WAITING))

    def waited(self, item: Escalation) -> float:
        """How long it has waited; for a resolved item, how long it took."""
        took = item.time_to_resolve_s
        return took if took is not None else self._now() - item.created_at

    def is_late(self, item: Escalation) -> bool:
        return (item.state is EscalationState.OPEN
                and self.waited(item) > self._settings().waiting_target_s)

    def row_of(self, escalation_id: int) -> int | None:
        return next((r for r, i in enumerate(self.items) if i.id == escalation_id), None)

    # -- QAbstractTableModel ---------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self.items[index.row()]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(item, column)
        if role == ID_ROLE:
            return item.id
        if column is Column.WAITING and self.is_late(item):
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor(LATE_COLOUR)
            if role == Qt.ItemDataRole.FontRole:
                font = QFont()
                font.setBold(True)
                return font
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(item, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (Column.WAITING,
                                                                     Column.AT_STAKE):
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return None

    def _text(self, item: Escalation, column: Column) -> str:
        if column is Column.WAITING:
            return waiting_text(self.waited(item))
        if column is Column.REASON:
            return item.reason
        if column is Column.CUSTOMER:
            cid = item.request.customer_id
            return "anonymous" if cid is None else str(cid)
        if column is Column.INTENT:
            return item.intent or "—"
        if column is Column.AT_STAKE:
            return self.at_stake(item).label
        if column is Column.STATE:
            if item.state is EscalationState.CLAIMED:
                return f"claimed by {item.claimed_by}"
            if item.state is EscalationState.RESOLVED:  # "replied by alice · refund approved"
                return (item.resolution or "resolved") + (
                    "" if item.resolved_by == "agent" else f" by {item.resolved_by}"
                ) + "".join(f" · {done}" for done in settled_writes(item))
            return "agent re-running" if item.state is EscalationState.HANDED_BACK else "open"
        return item.request.text.replace("\n", " ")[:200]

    def _tooltip(self, item: Escalation, column: Column) -> str | None:
        if column is Column.WAITING and item.state is EscalationState.RESOLVED:
            return f"resolved {waiting_text(self.waited(item))} after it was escalated"
        if column is Column.WAITING:
            target = waiting_text(self._settings().waiting_target_s)
            late = "late: " if self.is_late(item) else ""
            return f"{late}waiting {waiting_text(self.waited(item))}, target {target}"
        if column is Column.STATE and item.lease_expires_at is not None:
            return f"lease ends in {waiting_text(item.lease_expires_at - self._now())}"
        if column is Column.REQUEST:
            return item.request.text[:1000]
        return None


class QueuePanel(QWidget):
    selected = Signal(object)  # the selected escalation's id, or None
    # An item that left the queue resolved, here or by another console on the same
    # database: the window's feed row for its request says how it was settled.
    resolved = Signal(object)

    def __init__(self, watcher: QueueWatcher, bridge: EngineBridge, clock: Clock,
                 settings: Callable[[], EscalationSettings], notifier: Notifier,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.watcher = watcher
        self.notifier = notifier
        self.model = QueueModel(clock.now, settings, watcher.at_stake, self)
        self._loading: asyncio.Task[None] | None = None
        self._again = False
        self._stopped = False
        watcher.on_announced.append(self._announced)
        watcher.on_resolved.append(self.resolved.emit)

        self.listing = QComboBox()
        self.listing.addItem("Waiting or in hand", WAITING_ITEMS)
        self.listing.addItem("Resolved, latest first", RESOLVED_ITEMS)
        self.listing.setToolTip("The queue, or a look back at what was resolved and by whom")
        self.reason = QComboBox()
        self.reason.addItem("All reasons", ALL)
        for reason in EscalationReason:
            self.reason.addItem(str(reason), str(reason))
        self.reason.setToolTip("Show only items escalated for this reason")
        # The bar must not widen the window: the combos shrink to a few characters
        # (their lists still show whole names) and the count gives way first.
        for combo, chars in ((self.listing, 12), (self.reason, 14)):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(chars)
        self.count = QLabel()
        self.count.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.count.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().hide()
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)  # one line per item: more of the queue in view
        header = self.view.horizontalHeader()
        # Never sideways: the workspace gives the queue a third of the window. Numbers
        # and states keep their width; the texts share the rest, elided.
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header.setMinimumSectionSize(30)
        for column in Column:
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents
                                        if column in (Column.WAITING, Column.AT_STAKE,
                                                      Column.CUSTOMER)
                                        else QHeaderView.ResizeMode.Stretch)

        self.act_next = QAction("&Next escalation", self)
        self.act_next.setShortcut(QKeySequence("Ctrl+J"))
        self.act_next.setToolTip("Select the next item nobody else has claimed (Ctrl+J)")
        self.act_next.triggered.connect(self._next_requested)

        top = QHBoxLayout()
        top.addWidget(self.listing)
        top.addWidget(self.reason)
        top.addWidget(self.count, 1)  # the rest of the bar, right-aligned
        # Shown while the listing is narrowed to a group (an outage's items).
        self.group = QWidget()
        group_row = QHBoxLayout(self.group)
        group_row.setContentsMargins(0, 0, 0, 0)
        self.group_label = QLabel()
        self.group_label.setWordWrap(True)
        self.show_all = QPushButton("Show all")
        self.show_all.clicked.connect(lambda: self.show_only(None))
        group_row.addWidget(self.group_label, 1)
        group_row.addWidget(self.show_all)
        self.group.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.group)
        layout.addWidget(self.view)

        self.reason.currentIndexChanged.connect(lambda _i: self.refresh())
        self.listing.currentIndexChanged.connect(lambda _i: self.refresh())
        self.view.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self.selected.emit(
                current.data(ID_ROLE) if current.isValid() else None))
        self._throttle = QTimer(self)
        self._throttle.setSingleShot(True)
        self._throttle.setInterval(RELOAD_THROTTLE_MS)
        self._throttle.timeout.connect(self.refresh)
        bridge.escalated.connect(self._soon)
        bridge.escalation_changed.connect(self._changed)  # an operator's act
        # Waiting times grow by the second; leases lapse unannounced: reload now and then.
        self._ticks = 0
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self._show_count()
        QTimer.singleShot(0, self.refresh)  # the first load, once the event loop runs

    def show_only(self, ids: Sequence[int] | None, what: str = "") -> None:
        """Lists only these items (an outage's, `what` says so), or all again (None)."""
        self.watcher.only = tuple(ids) if ids is not None else None
        self.group.setVisible(ids is not None)
        if ids is not None:
            self.group_label.setText(f"Showing only {what or 'the chosen'} items "
                                     f"({len(ids):,}; the settled ones drop out).")
        self.refresh()

    def resizeEvent(self, event: QResizeEvent) -> None:
        # In a third of the window the text columns would each be a few letters: the
        # intent and the request (both in the item's own view) give way first.
        width = event.size().width()
        for column in (Column.INTENT, Column.REQUEST):
            self.view.setColumnHidden(column, width < NARROW_PX)
        self.view.setColumnHidden(Column.CUSTOMER, width < NARROWER_PX)
        super().resizeEvent(event)

    # -- loading ---------------------------------------------------------------

    def stop(self) -> None:
        """No more loads: called before the engine (and its database) closes."""
        self._stopped = True
        self._timer.stop()
        self._throttle.stop()
        if self._loading is not None:
            self._loading.cancel()

    def refresh(self) -> None:
        if self._stopped:
            return
        if self._loading is not None and not self._loading.done():
            self._again = True  # one more load once this one is in
            return
        self._loading = asyncio.ensure_future(self._load())

    @property
    def loads(self) -> int:
        return self.watcher.loads

    @property
    def in_view(self) -> bool:
        return self.watcher.in_view

    @property
    def page(self) -> int:
        return self.watcher.page

    @page.setter
    def page(self, size: int) -> None:
        self.watcher.page = size

    def set_in_view(self, in_view: bool) -> None:
        """Told by the window when the queue's tab comes to the front or leaves it (a
        tab behind another still counts as visible to Qt)."""
        self.watcher.in_view = in_view
        if in_view:
            self.refresh()  # what changed while another tab was in front

    @property
    def showing_resolved(self) -> bool:
        return bool(self.listing.currentData() == RESOLVED_ITEMS)

    def _next_requested(self) -> None:
        if self.watcher.next_wanted:
            return  # pressed again before the page is in: one "next", not two
        if self.showing_resolved:  # the next item to work on is in the queue
            self.watcher.want_next()
            self.listing.setCurrentIndex(self.listing.findData(WAITING_ITEMS))
        else:
            self.select_next()

    def _changed(self, _escalation_id: object = None) -> None:
        self.watcher.changed()
        self.refresh()

    def _soon(self, _outcome: object = None) -> None:
        self.watcher.changed()
        # Not restarted while pending: under a steady stream it still fires.
        if not self._throttle.isActive():
            self._throttle.start()

    async def _load(self) -> None:
        try:
            await self._load_page()
        finally:
            if self._again:  # asked for while this load ran (shown, filtered, acted on)
                self._again = False
                QTimer.singleShot(0, self.refresh)  # once this task is done, not refused

    async def _load_page(self) -> None:
        self.watcher.reason = EscalationReason(self.reason.currentData()) if (
            self.reason.currentData()) else None
        self.watcher.resolved = self.showing_resolved
        page = await self.watcher.load()
        if page is None:
            return
        current = self.current_id()
        self.model.set_items(page.items, resolved=page.resolved)
        if current is not None:
            self.select(current, announce=False)
        self._show_count(len(page.items), page.matching, page.total)
        wanted, item = self.watcher.take_next()
        if wanted:
            self._select_next(item)

    def _announced(self, said: Announcement) -> None:
        self.notifier.notify(said.title, said.body)

    def _tick(self) -> None:
        self._ticks += 1
        self.model.tick()
        if self._ticks % 5 == 0:
            self.refresh()

    def _show_count(self, shown: int = 0, matching: int = 0, total: int = 0) -> None:
        """"12 waiting or in hand", "3 of 12" when filtered, "500 of 3,214" when only
        the oldest page is shown."""
        late = sum(1 for i in self.model.items if self.model.is_late(i))
        # The oldest are shown: when all of a full page are late, more may be.
        late_text = f"{late:,}+" if late == shown == self.page < matching else f"{late:,}"
        text = f"{shown:,} of {total:,}" if shown != total else f"{total:,}"
        what = "resolved" if self.showing_resolved else "waiting or in hand"
        self.count.setText(f"{text} {what}" + (f", <b style='color:{LATE_COLOUR}'>"
                                               f"{late_text} late</b>" if late else ""))

    # -- selection -------------------------------------------------------------

    def current_id(self) -> int | None:
        index = self.view.currentIndex()
        return index.data(ID_ROLE) if index.isValid() else None

    def select(self, escalation_id: int, *, announce: bool = True) -> bool:
        row = self.model.row_of(escalation_id)
        if row is None:
            return False
        selection = self.view.selectionModel()
        if not announce:
            selection.blockSignals(True)
        try:
            selection.setCurrentIndex(
                self.model.index(row, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows)
        finally:
            selection.blockSignals(False)
        self.view.scrollTo(self.model.index(row, 0))
        return True

    def select_next(self) -> int | None:
        """The oldest open item: what the operator should take next (the watcher's
        `want_next`). Claimed items are someone's work, and skipping them is what
        "next" means at a help desk; the oldest is never skipped, so pressing "next"
        twice lands where once did (the arrow keys move past an item deliberately).
        From a stale page it is selected once a fresh one is in."""
        if self.showing_resolved:
            self._next_requested()
            return None
        item = self.watcher.want_next()
        if self.watcher.next_wanted:
            self.refresh()
            return None
        return self._select_next(item)

    def _select_next(self, item: Escalation | None) -> int | None:
        if item is None:
            message.info("Nothing to take next: every item shown is claimed or with the agent")
            return None
        if item.id == self.current_id():
            message.info(f"#{item.id} is the oldest open item: claim it (Ctrl+Shift+C)")
        self.select(item.id)
        self.view.setFocus()
        return item.id
