"""The Audit workspace (Ctrl+4): who did what at every station on the engine
database, newest first, filtered by operator, kind of action and period. A widget
over `console.audit_model.AuditListing`: the listing reads and words the rows, this
shows them. It reloads when shown, on Ctrl+F5, and every few seconds while shown (the
other stations' actions reach no signal here)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.audit_model import HEADERS, KIND_WORDS, PERIODS, AuditListing
from console.backtest_panel import RowsModel, _table

RELOAD_MS = 5000
ANY_OPERATOR = "Every operator"
ANY_KIND = "Every action"


class AuditView(QWidget):
    def __init__(self, listing: AuditListing, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("audit view")
        self.listing = listing
        self.operator = QComboBox()
        self.operator.setObjectName("audit operator")
        self.operator.setMinimumContentsLength(14)
        self.operator.addItem(ANY_OPERATOR, None)
        self.kind = QComboBox()
        self.kind.setObjectName("audit kind")
        self.kind.addItem(ANY_KIND, None)
        for kind, words in KIND_WORDS.items():
            self.kind.addItem(words, kind)
        self.period = QComboBox()
        self.period.setObjectName("audit period")
        for label, _seconds in PERIODS:
            self.period.addItem(label)
        self.period.setCurrentIndex(listing.period)
        self.act_reload = QAction("&Reload audit listing", self)
        self.act_reload.setShortcut(QKeySequence("Ctrl+F5"))
        # Not F5: that is the Rules workspace's reload of its traffic.
        self.act_reload.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.addAction(self.act_reload)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("The rows shown, as CSV or JSONL")
        reload_button = QPushButton("Reload")
        reload_button.setToolTip("Read the log again (Ctrl+F5)")
        reload_button.clicked.connect(self.act_reload.trigger)
        self.status = QLabel()
        self.status.setObjectName("audit status")
        self.model = RowsModel(HEADERS, self)
        self.table = _table(self.model, wide=len(HEADERS) - 1)
        self.table.setObjectName("audit table")

        filters = QHBoxLayout()
        for label, box in (("Operator", self.operator), ("Action", self.kind),
                           ("Period", self.period)):
            filters.addWidget(QLabel(label))
            filters.addWidget(box)
        filters.addStretch(1)
        filters.addWidget(reload_button)
        filters.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(filters)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(RELOAD_MS)
        self._wire()

    def _wire(self) -> None:
        self.listing.on_changed.append(self._show)
        for box in (self.operator, self.kind, self.period):
            box.activated.connect(self._filter)
        self.act_reload.triggered.connect(self.listing.reload)
        self.timer.timeout.connect(self.listing.reload)

    def set_in_view(self, shown: bool) -> None:
        """Read when shown and kept fresh while shown; nothing read behind another
        workspace."""
        if shown:
            self.listing.reload()
            self.timer.start()
        else:
            self.timer.stop()

    def store_changed(self) -> None:
        """Another process wrote to the audit log: read again if shown (else when it
        is next shown)."""
        if self.timer.isActive():
            self.listing.reload()

    def stop(self) -> None:
        self.timer.stop()
        if self._show in self.listing.on_changed:
            self.listing.on_changed.remove(self._show)

    def choose(self, *, operator: str | None = None, kind: str | None = None,
               period: int | None = None) -> None:
        """Sets the filters as the operator would (tests, and a click elsewhere); an
        empty operator or kind is any."""
        if operator is not None:
            self._pick(self.operator, operator)
        if kind is not None:
            self._pick(self.kind, kind)
        if period is not None:
            self.period.setCurrentIndex(period)
        self._filter()

    @staticmethod
    def _pick(box: QComboBox, value: str) -> None:
        """`value` chosen in `box`; empty: the first entry, "every ..."."""
        index = box.findData(value) if value else 0
        if index < 0:  # an operator with no entry yet: offered all the same
            box.addItem(value, value)
            index = box.count() - 1
        box.setCurrentIndex(index)

    def _filter(self, *_args: object) -> None:
        self.listing.set_filters(operator=self.operator.currentData(),
                                 kind=self.kind.currentData(),
                                 period=self.period.currentIndex())

    def _show(self) -> None:
        listing = self.listing
        self.model.set_rows([(r.when, r.operator, r.what, r.item, r.detail)
                             for r in listing.rows])
        for column in range(len(HEADERS) - 1):  # the detail takes what they leave
            self.table.resizeColumnToContents(column)
        self._offer_operators(listing.operators)
        self.status.setText(listing.summary())
        self.export_button.setEnabled(bool(listing.rows))

    def _offer_operators(self, names: list[str]) -> None:
        have = {self.operator.itemData(i) for i in range(1, self.operator.count())}
        for name in names:
            if name not in have:
                self.operator.addItem(name, name)
