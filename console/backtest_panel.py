"""The backtest's answer, as the operator reads it while typing: what changes route,
the fast-path share, dollars and waiting per day, conflicts, precision, and
sample matches to eyeball (disagreements first). Money and waiting are worded as
everywhere in the rules view (`rules_wording`): "saves $0.12 a day"."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from agentcore import BacktestResult
from console.rules_wording import money, plural, waiting
from console.status_label import StatusLabel
from console.table_model import HeaderedTableModel, Index

LISTED = 500  # rows of changes and conflicts shown; the summary counts them all
_TABS = ("Changes", "Sample matches", "Conflicts")


class RowsModel(HeaderedTableModel):
    """A read-only table of rows computed elsewhere (a backtest's lists)."""

    def __init__(self, headers: Sequence[str], parent: QObject | None = None) -> None:
        super().__init__(headers, parent)
        self.rows: list[tuple[Any, ...]] = []

    def set_rows(self, rows: list[tuple[Any, ...]]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if index.isValid() and role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            value = self.rows[index.row()][index.column()]
            return "" if value is None else str(value)
        return None


def _table(model: RowsModel, wide: int | None = None) -> QTableView:
    """A read-only table, one line a row (the tooltip has the whole text); the `wide`
    column (a request's text) takes the room the others leave."""
    view = QTableView()
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    if wide is None:
        header.setStretchLastSection(True)
    else:
        header.setSectionResizeMode(wide, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(60)
    return view


class BacktestPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: BacktestResult | None = None
        self.listed = LISTED
        self.status = StatusLabel("The backtest runs as you edit.")
        self.status.setObjectName("backtest status")
        self.summary = QLabel()
        self.summary.setObjectName("backtest summary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        # It names a rule id: wrapped, and never a reason for the window to widen.
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.changes = RowsModel(("Change", "Request", "Before", "After", "Recorded path",
                                  "Cost per request"), self)
        self.samples = RowsModel(("Agrees", "Request", "Rule", "Rule intent", "Known intent"),
                                 self)
        self.conflicts = RowsModel(("Request", "Rules matched"), self)
        self.tabs = QTabWidget()
        for model, name, request in zip((self.changes, self.samples, self.conflicts), _TABS,
                                        (1, 1, 0), strict=True):
            table = _table(model, wide=request)  # the request's text takes the room
            table.setMinimumHeight(120)  # a few rows, however tight the split
            self.tabs.addTab(table, name)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.status)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)

    def running(self, reading: int = 0) -> None:
        """A backtest set off; `reading`: it first reads that many recorded requests."""
        self.status.setText(f"Reading the newest {plural(reading, 'recorded request')}, "
                            "then backtesting…" if reading else "Backtesting…")

    def failed(self, message: str) -> None:
        """No figures for the draft as it stands: the last ones are about other rules,
        so they go rather than sit under "Not backtested" as if they were its."""
        self.status.setText(f"Not backtested: {message}")
        self.result = None
        self.summary.setText("")
        for model in (self.changes, self.samples, self.conflicts):
            model.set_rows([])
        for i, name in enumerate(_TABS):
            self.tabs.setTabText(i, name)

    def show_result(self, result: BacktestResult) -> None:
        self.result = result
        r = result
        self.status.setText(f"Replayed {plural(r.total, 'recorded request')} "
                            f"({_span(r.span_s)} of traffic).")
        conflicts = len(r.conflict_rows)
        lines = [
            f"Fast path: <b>{r.share(r.fast_before):.1%} → {r.share(r.fast_after):.1%}</b>"
            f" &nbsp; gained {r.count('gained')}, lost {r.count('lost')}, "
            f"switched rule {r.count('switched')}",
            f"Per day at the recorded rate: <b>{money(r.dollars_per_day, per='a day')}</b>, "
            f"{waiting(r.latency_s_per_day, per='a day')}",
            f"Conflicts: {plural(conflicts, 'request')} "
            f"{'matches' if conflicts == 1 else 'match'} more than one rule",
        ]
        if r.focus:
            precision = r.rule_precision(r.focus)
            agree, known = r.precision.get(r.focus, (0, 0))
            lines.append(f"Precision of {html.escape(r.focus)}: " + (
                f"<b>{precision:.0%}</b> ({agree} of {known} with a known intent agree)"
                if precision is not None else "no matched request has a known intent"))
        self.summary.setText("<br>".join(lines))
        # Listed up to `listed`: an edit that moves 10,000 requests is read from its
        # counts and first rows, not built into a table on every pause in typing.
        self.changes.set_rows([(c.kind, c.request.text, c.before or "LLM", c.after or "LLM",
                                c.request.route, money(c.dollars, places=4))
                               for c in r.changes_head(self.listed)])
        mark = {True: "yes", False: "NO", None: "unknown"}
        self.samples.set_rows([(mark[s.agrees], s.request.text, s.rule_id, s.rule_intent,
                                s.request.known_intent) for s in r.samples])
        self.conflicts.set_rows([(req.text, ", ".join(ids))
                                 for req, ids in r.conflicts_head(self.listed)])
        shown = {0: len(r.change_rows), 1: len(r.samples), 2: conflicts}
        for i, name in enumerate(_TABS):
            self.tabs.setTabText(i, f"{name} ({shown[i]:,})")


def _span(seconds: float) -> str:
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min"
