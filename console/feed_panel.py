"""The live feed's panel: the filter bar, the table, and the "N new" pill over it.

While the operator reads (scrolled down, the pointer over the table, or a request
selected) new rows wait behind the pill, so nothing moves under the cursor; the
rule is `console.feed_hold.HoldBack`, the rows are `console.feed.FeedModel`'s.
The request the operator chose stays chosen through filter changes and new rows.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from agentcore import Outcome, Route, Status
from console.feed import ALL, OUTCOME_ROLE, Column, FeedFilter, FeedModel

# The columns beside the request's text, at their starting widths; the text stretches.
COLUMN_WIDTHS = {Column.TIME: 72, Column.CUSTOMER: 74, Column.ROUTE: 74, Column.INTENT: 120,
                 Column.LATENCY: 74, Column.COST: 72, Column.STATUS: 82}
MIN_TEXT_WIDTH = 200
SHOW_NEW_KEYS = "Ctrl+Shift+Up"  # the pill's key: up to the newest (the window's action)
DROPPED_FIRST = (Column.COST, Column.CUSTOMER, Column.LATENCY)  # the detail shows them
_PILL_STYLE = ("QPushButton { background: #2f81f7; color: white; border: none;"
               " border-radius: 11px; padding: 3px 12px; font-weight: 600; }"
               " QPushButton:hover { background: #1f6feb; }")


class FeedPanel(QWidget):
    """The filter bar over the table, and the "N new" pill over it.

    Emits `selected` with the request the operator picks (None when they clear the
    selection), and only then: a filter change or new rows never switch it. The
    chosen request stays chosen through filter changes; while a filter hides it the
    table shows no selection and `hidden_by_filter(True)` says why.
    """

    selected = Signal(object)
    hidden_by_filter = Signal(bool)  # the chosen request is (no longer) hidden by a filter

    def __init__(self, model: FeedModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = FeedFilter(self)
        self.proxy.setSourceModel(model)
        model.hold.nothing_shown = lambda: self.proxy.rowCount() == 0
        self._chosen = QPersistentModelIndex()  # the chosen request's row in the model
        self._has_choice = False
        self._hidden = False
        self._syncing = False  # the panel itself moves the table's current row

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
        for column, width in COLUMN_WIDTHS.items():
            header.resizeSection(column, width)

        # Over the table, not in the layout: showing it must not move the rows.
        self.new_pill = QPushButton(self.view)
        self.new_pill.setObjectName("new rows pill")
        self.new_pill.setCursor(Qt.CursorShape.PointingHandCursor)
        self.new_pill.setToolTip("New requests wait here while you read; click to show them "
                                 f"({QKeySequence(SHOW_NEW_KEYS).toString()})")
        self.new_pill.setStyleSheet(_PILL_STYLE)
        self.new_pill.hide()

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

        self.search.textChanged.connect(lambda text: self._set_filters(search=text))
        self.route.currentIndexChanged.connect(
            lambda _: self._set_filters(route=self.route.currentData()))
        self.intent.currentIndexChanged.connect(
            lambda _: self._set_filters(intent=self.intent.currentData()))
        self.status.currentIndexChanged.connect(
            lambda _: self._set_filters(status=self.status.currentData()))
        self.clear_button.clicked.connect(self.clear_filters)
        model.intent_seen.connect(self._add_intent)
        self.proxy.rowsInserted.connect(self._update_count)
        self.proxy.rowsRemoved.connect(self._update_count)
        self.proxy.modelReset.connect(self._update_count)
        self.proxy.layoutChanged.connect(self._update_count)
        self.view.selectionModel().currentRowChanged.connect(self._on_current)
        model.held_changed.connect(self._update_pill)
        model.rows_changed.connect(self._reconcile)
        self.new_pill.clicked.connect(self.show_new)
        # Queued: the scroll bar moves while the view lays out rows, and letting held
        # rows in must not start a model change inside another.
        self.view.verticalScrollBar().valueChanged.connect(
            self._on_scrolled, Qt.ConnectionType.QueuedConnection)
        self.view.installEventFilter(self)  # the pointer over the table, Esc, resizes
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

    # -- the operator's place: hold new rows, keep the chosen request -------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.view:
            kind = event.type()
            if kind == QEvent.Type.Enter:
                self.model.hold.set_hovering(True)
            elif kind == QEvent.Type.Leave:
                self.model.hold.set_hovering(False)
            elif kind == QEvent.Type.Resize:
                self._place_pill()
                self._fit_columns()
            elif (kind == QEvent.Type.KeyPress and isinstance(event, QKeyEvent)
                  and event.key() == Qt.Key.Key_Escape and self.view.currentIndex().isValid()):
                self.view.selectionModel().clear()  # Esc: done reading, let new rows in
                return True
        return super().eventFilter(watched, event)

    def _fit_columns(self) -> None:
        """A narrow feed (the watch workspace at 1024 px) drops its least-read columns
        before the request's text is squeezed to nothing; a wider one shows them again."""
        # The view's width, not the viewport's: this runs before the view lays it out.
        scrollbar = self.view.verticalScrollBar().sizeHint().width()
        room = self.view.width() - scrollbar - 4 - MIN_TEXT_WIDTH
        shown = dict(COLUMN_WIDTHS)
        for column in DROPPED_FIRST:
            drop = sum(shown.values()) > room
            self.view.setColumnHidden(column, drop)
            if drop:
                del shown[column]

    def _on_scrolled(self) -> None:
        self.model.hold.set_scrolled(self.view.verticalScrollBar().value() > 0)

    def _update_pill(self, count: int) -> None:
        if count:
            self.new_pill.setText(f"{count:,} new ↑")
            self.new_pill.adjustSize()
            self._place_pill()
            self.new_pill.show()
            self.new_pill.raise_()
        else:
            self.new_pill.hide()

    def _place_pill(self) -> None:
        top = self.view.horizontalHeader().height() + 6
        self.new_pill.move(max(0, (self.view.width() - self.new_pill.width()) // 2), top)

    def show_new(self) -> None:
        """Lets the held rows in and goes to the top (the pill's click)."""
        self.model.release_held()
        self.view.scrollToTop()

    def _set_filters(self, **filters: str) -> None:
        self._syncing = True  # the rows a filter removes must not move the choice
        try:
            self.proxy.set_filters(**filters)
        finally:
            self._syncing = False
        self._reconcile()
        index = self._chosen_index()
        if index.isValid():
            self.view.scrollTo(index)

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._syncing or self.model.changing:
            return  # not the operator's doing: rows moved or a filter changed
        outcome = current.data(OUTCOME_ROLE) if current.isValid() else None
        self._chosen = (QPersistentModelIndex(self.proxy.mapToSource(current))
                        if current.isValid() else QPersistentModelIndex())
        self._has_choice = outcome is not None
        self._set_hidden(False)
        self.model.hold.set_selected(self._has_choice)
        self.selected.emit(outcome)

    def _chosen_index(self) -> QModelIndex:
        """The chosen request's row in the table; invalid when none, gone or filtered out."""
        if not self._has_choice or not self._chosen.isValid():
            return QModelIndex()
        return self.proxy.mapFromSource(self.model.index(self._chosen.row(), 0))

    def _reconcile(self) -> None:
        """Shows the chosen request selected when the filters let it be seen, and no
        selection while they hide it (after rows or filters changed)."""
        if not self._has_choice:
            return
        index = self._chosen_index()
        self._syncing = True
        try:
            if index.isValid():
                if self.view.currentIndex().row() != index.row():
                    self.view.selectionModel().setCurrentIndex(
                        index, QItemSelectionModel.SelectionFlag.ClearAndSelect
                        | QItemSelectionModel.SelectionFlag.Rows)
            elif self.view.currentIndex().isValid():
                self.view.selectionModel().clear()
        finally:
            self._syncing = False
        if not self._chosen.isValid():  # it left the feed (trimmed, cleared): the detail keeps it
            self._has_choice = False
            self._set_hidden(False)
            self.model.hold.set_selected(False)
            return
        self._set_hidden(not index.isValid())

    def _set_hidden(self, hidden: bool) -> None:
        if hidden != self._hidden:
            self._hidden = hidden
            self.hidden_by_filter.emit(hidden)

    def select_row(self, row: int) -> None:
        """Selects a visible row (as a click would)."""
        self.view.selectRow(row)

    def select_outcome(self, outcome: Outcome) -> bool:
        """Makes `outcome` the chosen request, as a request sent from Compose: the held
        rows go in, its row is selected, or `hidden_by_filter(True)` when a filter hides
        it (selected once the filter lets it be seen). False when it is not in the feed.
        Does not emit `selected`: the detail shows it already."""
        self.model.release_held()
        request_id = outcome.request.id
        for row in range(self.model.rowCount()):
            if self.model.outcome(row).request.id == request_id:
                self._chosen = QPersistentModelIndex(self.model.index(row, 0))
                self._has_choice = True
                self.model.hold.set_selected(True)
                self._reconcile()
                index = self._chosen_index()
                if index.isValid():
                    self.view.scrollTo(index)
                return True
        return False
