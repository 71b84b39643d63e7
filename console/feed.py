"""The live feed: every outcome, newest first, in a table over a bounded buffer.

`FeedModel` is a table-model adapter over a deque of outcomes (no widget per
row). Outcomes are queued and inserted in one beginInsertRows at row 0 at most
ten times a second, and the oldest rows are trimmed at the end, so memory stays
bounded at any traffic. Each insert repaints the table (every row moves down),
and a paint asks `data()` for every visible cell and role: the cells' text is
therefore worked out once per row, when it is inserted, not once per paint.
`FeedFilter` narrows the rows by route, intent, status and a search text.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
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
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from agentcore import Outcome, Route, Status
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

    def __init__(self, max_rows: int = MAX_ROWS, parent: QObject | None = None) -> None:
        super().__init__(HEADERS, parent)
        self.max_rows = max_rows
        self._rows: deque[_Row] = deque()
        self._pending: list[Outcome] = []
        self._intents: set[str] = set()
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
        self.beginInsertRows(QModelIndex(), 0, len(batch) - 1)
        self._rows.extendleft(map(_Row, batch))  # extendleft reverses: the newest on top
        self.endInsertRows()
        excess = len(self._rows) - self.max_rows
        if excess > 0:
            self.beginRemoveRows(QModelIndex(), self.max_rows, len(self._rows) - 1)
            for _ in range(excess):
                self._rows.pop()
            self.endRemoveRows()
        for outcome in batch:
            if outcome.intent and outcome.intent not in self._intents:
                self._intents.add(outcome.intent)
                self.intent_seen.emit(outcome.intent)

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self._pending.clear()
        self.endResetModel()

    def settle(self, request_id: str, settled: Callable[[Outcome], Outcome]) -> bool:
        """The request's newest row shows `settled(its outcome)` from now on (an
        escalation an operator resolved); False when the request has left the feed."""
        self.flush()  # it may still be waiting for the next batch
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


class FeedPanel(QWidget):
    """The filter bar over the table. Emits the selected outcome (None when cleared)."""

    selected = Signal(object)

    def __init__(self, model: FeedModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = FeedFilter(self)
        self.proxy.setSourceModel(model)

        self.search = QLineEdit(placeholderText="Search text, answer, customer, request id…")
        self.search.setClearButtonEnabled(True)
        self.route = self._combo("route", [str(r) for r in Route])
        self.intent = self._combo("intent", [])
        self.status = self._combo("status", [str(s) for s in Status])
        self.clear_button = QToolButton()
        self.clear_button.setText("Clear")
        self.clear_button.setToolTip("Clear all filters")
        self.count = QLabel()

        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setAlternatingRowColors(True)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(24)
        # Newest first is the model's own order; a header click sorts, a third click
        # would need a reset, so "sort by time" is the way back. "No column" must be
        # ascending: for column -1 Qt sorts by source row, so a descending order would
        # put the rows a filter change lets back in oldest first.
        self.view.setSortingEnabled(True)
        self.view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header = self.view.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(Column.TEXT, QHeaderView.ResizeMode.Stretch)
        for column, width in [(Column.TIME, 72), (Column.CUSTOMER, 74), (Column.ROUTE, 74),
                              (Column.INTENT, 120), (Column.LATENCY, 74), (Column.COST, 72),
                              (Column.STATUS, 82)]:
            header.resizeSection(column, width)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.search, 3)
        for combo in (self.route, self.intent, self.status):
            bar.addWidget(combo, 1)
        bar.addWidget(self.clear_button)
        bar.addWidget(self.count)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.view)

        self.search.textChanged.connect(lambda text: self.proxy.set_filters(search=text))
        self.route.currentIndexChanged.connect(
            lambda _: self.proxy.set_filters(route=self.route.currentData()))
        self.intent.currentIndexChanged.connect(
            lambda _: self.proxy.set_filters(intent=self.intent.currentData()))
        self.status.currentIndexChanged.connect(
            lambda _: self.proxy.set_filters(status=self.status.currentData()))
        self.clear_button.clicked.connect(self.clear_filters)
        model.intent_seen.connect(self._add_intent)
        self.proxy.rowsInserted.connect(self._update_count)
        self.proxy.rowsRemoved.connect(self._update_count)
        self.proxy.modelReset.connect(self._update_count)
        self.proxy.layoutChanged.connect(self._update_count)
        self.view.selectionModel().currentRowChanged.connect(self._on_current)
        self._update_count()

    @staticmethod
    def _combo(what: str, values: list[str]) -> QComboBox:
        combo = QComboBox()
        combo.addItem(f"any {what}", ALL)
        for value in values:
            combo.addItem(value, value)
        combo.setToolTip(f"Show only requests of one {what}")
        # Narrow when the dock is narrow; the popup still shows the whole names.
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(7)
        return combo

    def _add_intent(self, intent: str) -> None:
        # Kept sorted after "any intent", so the list reads like a menu.
        row = 1
        while row < self.intent.count() and self.intent.itemData(row) < intent:
            row += 1
        self.intent.insertItem(row, intent, intent)

    def clear_filters(self) -> None:
        for combo in (self.route, self.intent, self.status):
            combo.setCurrentIndex(0)
        self.search.clear()

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count.setText(f"{shown:,} of {total:,}" if self.proxy.active else f"{total:,}")

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.selected.emit(current.data(OUTCOME_ROLE) if current.isValid() else None)

    def select_row(self, row: int) -> None:
        """Selects a visible row (as a click would)."""
        self.view.selectRow(row)

    def select_outcome(self, outcome: Outcome) -> bool:
        """Selects the row of `outcome`; False when it is gone or filtered out."""
        for row in range(self.model.rowCount()):
            if self.model.outcome(row) is outcome:
                index = self.proxy.mapFromSource(self.model.index(row, 0))
                if not index.isValid():
                    return False
                self.view.selectRow(index.row())
                self.view.scrollTo(index)
                return True
        return False
