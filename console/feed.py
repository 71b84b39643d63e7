"""The live feed: every outcome, newest first, in a table over a bounded buffer.

`FeedModel` is a table-model adapter over a deque of outcomes (no widget per
row). Outcomes are queued and inserted in one beginInsertRows at row 0 at most
ten times a second, and the oldest rows are trimmed at the end, so memory stays
bounded at any traffic. Each insert repaints the table (every row moves down),
and a paint asks `data()` for every visible cell and role: the cells' text is
therefore worked out once per row, when it is inserted, not once per paint.
`FeedFilter` narrows the rows by route, intent, status and a search text. While
the operator reads, `hold` (console/feed_hold.py) keeps new rows back, at most
`max_rows` of them; `console.feed_panel.FeedPanel` draws all this.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor

from agentcore import Outcome
from console.feed_hold import HoldBack
from console.table_model import HeaderedTableModel, Index
from console.theme import ROUTE_COLOURS, STATUS_COLOURS
from console.waterfall import format_ms

MAX_ROWS = 5_000
FLUSH_INTERVAL_MS = 100  # rows arrive in batches at most 10 times a second
OUTCOME_ROLE = Qt.ItemDataRole.UserRole  # the Outcome behind a row
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # a raw value to sort by
ALL = ""  # the "any" choice of a filter combo


class Column(IntEnum):
    TIME = 0
    CUSTOMER = 1
    TEXT = 2
    ROUTE = 3
    INTENT = 4
    LATENCY = 5
    COST = 6
    STATUS = 7


HEADERS = ["Time", "Customer", "Request", "Route", "Intent", "Latency", "Cost", "Status"]
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


_ALIGNMENT = [_RIGHT if c in (Column.CUSTOMER, Column.LATENCY, Column.COST) else _LEFT
              for c in Column]
_GREY = "#8b949e"


class _Row:
    """An outcome and its cells as the table shows them."""

    __slots__ = ("cells", "outcome", "route_colour", "status_colour")

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.cells = tuple(_display(outcome, column) for column in Column)
        self.route_colour = _colour(ROUTE_COLOURS.get(str(outcome.route), _GREY))
        self.status_colour = _colour(STATUS_COLOURS.get(str(outcome.status), _GREY))


_COLOURS: dict[str, QColor] = {}


def _colour(name: str) -> QColor:
    colour = _COLOURS.get(name)
    if colour is None:
        colour = _COLOURS[name] = QColor(name)
    return colour


class FeedModel(HeaderedTableModel):
    intent_seen = Signal(str)  # a new intent, for the filter's choices
    held_changed = Signal(int)  # how many new rows wait behind the "N new" pill
    rows_changed = Signal()  # after rows went in, out, or all were cleared

    def __init__(self, max_rows: int = MAX_ROWS, parent: QObject | None = None) -> None:
        super().__init__(HEADERS, parent)
        self.max_rows = max_rows
        self._rows: deque[_Row] = deque()
        self._pending: list[Outcome] = []
        self._intents: set[str] = set()
        # While the operator reads, new rows wait here (the panel tells it when).
        self.hold: HoldBack[Outcome] = HoldBack(max_rows, on_release=self._insert,
                                                on_count=self.held_changed.emit)
        self.changing = False  # inside an insert, trim or reset of rows
        # One flush for all the outcomes of the next 100 ms: at 200 requests a
        # second, one repaint instead of twenty.
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self.flush)

    # -- feeding ---------------------------------------------------------------

    def add(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def flush(self) -> None:
        if not self._pending:
            return
        self._flush_timer.stop()  # a flush called directly (tests, shutdown) takes all
        batch, self._pending = self._pending[-self.max_rows:], []
        for outcome in batch:
            if outcome.intent and outcome.intent not in self._intents:
                self._intents.add(outcome.intent)
                self.intent_seen.emit(outcome.intent)
        self._insert(self.hold.offer(batch))

    def release_held(self) -> None:
        """Lets the rows held behind the "N new" pill in."""
        self.flush()
        self.hold.release()

    def _insert(self, batch: list[Outcome]) -> None:
        if not batch:
            return
        batch = batch[-self.max_rows:]
        self.changing = True
        try:
            self.beginInsertRows(QModelIndex(), 0, len(batch) - 1)
            self._rows.extendleft(map(_Row, batch))  # extendleft reverses: the newest on top
            self.endInsertRows()
            excess = len(self._rows) - self.max_rows
            if excess > 0:
                self.beginRemoveRows(QModelIndex(), self.max_rows, len(self._rows) - 1)
                for _ in range(excess):
                    self._rows.pop()
                self.endRemoveRows()
        finally:
            self.changing = False
        self.rows_changed.emit()

    def clear(self) -> None:
        self.changing = True
        try:
            self.beginResetModel()
            self._rows.clear()
            self._pending.clear()
            self.hold.clear()
            self.endResetModel()
        finally:
            self.changing = False
        self.rows_changed.emit()

    def reload(self, stored: Iterable[Outcome]) -> None:
        """The rows become `stored` (the store's recent outcomes: a station opening, or
        its live link back after a loss) merged with what is shown: a request in both
        keeps the row shown (it has its spans), the rest are ordered by when they
        finished, newest first, at most `max_rows`. Rows held behind the pill are let
        in: after a gap the feed is read afresh, not topped up."""
        by_id = {outcome.request.id: outcome for outcome in stored}
        shown = [*self.hold.held, *self._pending, *(row.outcome for row in self._rows)]
        by_id.update((outcome.request.id, outcome) for outcome in shown)
        rows = sorted(by_id.values(), key=finished_at, reverse=True)[:self.max_rows]
        self.changing = True
        try:
            self.beginResetModel()
            self._pending.clear()
            self.hold.clear()
            self._rows = deque(map(_Row, rows))
            self.endResetModel()
        finally:
            self.changing = False
        for outcome in rows:
            if outcome.intent and outcome.intent not in self._intents:
                self._intents.add(outcome.intent)
                self.intent_seen.emit(outcome.intent)
        self.rows_changed.emit()

    def settle(self, request_id: str, settled: Callable[[Outcome], Outcome]) -> bool:
        """The request's newest row shows `settled(its outcome)` from now on (an
        escalation an operator resolved); False when the request has left the feed."""
        self.flush()  # it may still be waiting for the next batch
        held = self.hold.held  # newer than every row shown: looked at first
        for position in range(len(held) - 1, -1, -1):
            if held[position].request.id == request_id:
                held[position] = settled(held[position])
                return True
        for row, shown in enumerate(self._rows):
            if shown.outcome.request.id == request_id:
                self._rows[row] = _Row(settled(shown.outcome))
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(HEADERS) - 1))
                return True
        return False

    def outcome(self, row: int) -> Outcome:
        return self._rows[row].outcome

    # -- the model interface -----------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return row.cells[column]
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == Column.ROUTE:
                return row.route_colour
            if column == Column.STATUS:
                return row.status_colour
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _ALIGNMENT[column]
        outcome = row.outcome
        if role == OUTCOME_ROLE:
            return outcome
        if role == SORT_ROLE:
            return _sort_key(outcome, Column(column))
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == Column.TEXT:
                return outcome.request.text[:1000]
            if column == Column.TIME:
                return (f"received {_ms_clock(outcome.request.received_at)}, "
                        f"finished {_ms_clock(finished_at(outcome))}")
        return None


def finished_at(outcome: Outcome) -> float:
    return outcome.request.received_at + outcome.latency_ms / 1000


def _ms_clock(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%H:%M:%S.%f")[:-3]


def _display(outcome: Outcome, column: Column) -> str:
    request = outcome.request
    match column:
        case Column.TIME:
            # When it finished: rows arrive in that order, so the column reads in order.
            return datetime.fromtimestamp(finished_at(outcome)).strftime("%H:%M:%S")
        case Column.CUSTOMER:
            return "—" if request.customer_id is None else str(request.customer_id)
        case Column.TEXT:
            # One line: the view elides the rest; the detail shows it whole.
            return " ".join(request.text[:300].split())
        case Column.ROUTE:
            return str(outcome.route)
        case Column.INTENT:
            return outcome.intent or "—"
        case Column.LATENCY:
            return format_ms(outcome.latency_ms)
        case Column.COST:
            return f"${outcome.usage.dollars:.4f}" if outcome.usage.dollars else "—"
        case Column.STATUS:
            return str(outcome.status)


def _sort_key(outcome: Outcome, column: Column) -> Any:
    match column:
        case Column.TIME:
            return finished_at(outcome)
        case Column.CUSTOMER:
            return outcome.request.customer_id or 0
        case Column.LATENCY:
            return outcome.latency_ms
        case Column.COST:
            return outcome.usage.dollars
        case _:
            return _display(outcome, column)


class FeedFilter(QSortFilterProxyModel):
    """Route, intent and status filters and a case-insensitive search, all at once."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.route = ALL
        self.intent = ALL
        self.status = ALL
        self.search = ""
        self.setSortRole(SORT_ROLE)

    def set_filters(self, *, route: str | None = None, intent: str | None = None,
                    status: str | None = None, search: str | None = None) -> None:
        self.beginFilterChange()
        if route is not None:
            self.route = route
        if intent is not None:
            self.intent = intent
        if status is not None:
            self.status = status
        if search is not None:
            self.search = search.strip().casefold()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    @property
    def active(self) -> bool:
        return bool(self.route or self.intent or self.status or self.search)

    def filterAcceptsRow(self, row: int, parent: Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, FeedModel)
        outcome = model.outcome(row)
        if self.route and str(outcome.route) != self.route:
            return False
        if self.intent and outcome.intent != self.intent:
            return False
        if self.status and str(outcome.status) != self.status:
            return False
        if self.search:
            request = outcome.request
            haystack = " ".join((request.text, outcome.answer, str(request.customer_id or ""),
                                 outcome.intent or "", request.id))
            return self.search in haystack.casefold()
        return True
