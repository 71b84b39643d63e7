"""The rules table: a Qt model adapter over a `RuleDraft` (agentcore), plus the
figures measured for each rule (hits today, precision from the backtests).

The first column's check box enables or disables a rule; rows are reordered by
drag and drop (the order breaks ties of priority). Every change goes through the
draft's methods; the model only listens to its events.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QByteArray,
    QMimeData,
    QModelIndex,
    QObject,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from agentcore import RuleDraft
from console.table_model import HeaderedTableModel, Index

MIME = "application/x-agent-console-rule-row"


class RuleColumn(IntEnum):
    ENABLED = 0
    PRIORITY = 1
    NAME = 2
    PATTERN = 3
    INTENT = 4
    HANDLER = 5
    TEMPLATE = 6
    CACHE = 7
    HITS = 8
    PRECISION = 9


HEADERS = ("On", "Priority", "Name", "Pattern", "Intent", "Handler", "Template", "Cache",
           "Hits today", "Precision")
_ERROR = QBrush(QColor("#e5534b"))


class RulesModel(HeaderedTableModel):
    def __init__(self, draft: RuleDraft, parent: QObject | None = None) -> None:
        super().__init__(HEADERS, parent)
        self.draft = draft
        self.hits: dict[str, int] = {}
        self.precision: dict[str, tuple[int, int]] = {}
        self._errors: dict[str, str] = draft.errors()
        draft.subscribe(self._on_draft)

    # -- figures from the runner ---------------------------------------------------

    def set_figures(self, hits: dict[str, int] | None = None,
                    precision: dict[str, tuple[int, int]] | None = None) -> None:
        if hits is not None:
            self.hits = hits
        if precision is not None:
            self.precision = precision
        self._refresh_columns(RuleColumn.HITS, RuleColumn.PRECISION)

    def error(self, row: int) -> str | None:
        return self._errors.get(self.draft.rules[row].id)

    # -- the Qt model --------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.draft.rules)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        rule = self.draft.rules[index.row()]
        column = RuleColumn(index.column())
        if role == Qt.ItemDataRole.CheckStateRole and column is RuleColumn.ENABLED:
            return Qt.CheckState.Checked if rule.enabled else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(column, rule)
        error = self._errors.get(rule.id)
        if role == Qt.ItemDataRole.ForegroundRole and error:
            return _ERROR
        if role == Qt.ItemDataRole.ToolTipRole:
            return error or (rule.template if column is RuleColumn.TEMPLATE else rule.pattern)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (
                RuleColumn.PRIORITY, RuleColumn.HITS, RuleColumn.PRECISION):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _display(self, column: RuleColumn, rule: Any) -> Any:
        match column:
            case RuleColumn.ENABLED:
                return ""
            case RuleColumn.PRIORITY:
                return rule.priority
            case RuleColumn.NAME:
                return rule.name
            case RuleColumn.PATTERN:
                return rule.pattern
            case RuleColumn.INTENT:
                return rule.intent
            case RuleColumn.HANDLER:
                return rule.handler
            case RuleColumn.TEMPLATE:
                return " ".join(rule.template.split())
            case RuleColumn.CACHE:
                return rule.cache
            case RuleColumn.HITS:
                return self.hits.get(rule.id, 0)
            case RuleColumn.PRECISION:
                agree, known = self.precision.get(rule.id, (0, 0))
                return f"{agree / known:.0%} of {known}" if known else "—"

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = Qt.ItemFlag.ItemIsDropEnabled  # between rows
        if not index.isValid():
            return flags
        flags |= (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                  | Qt.ItemFlag.ItemIsDragEnabled)
        if index.column() == RuleColumn.ENABLED:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role == Qt.ItemDataRole.CheckStateRole and index.column() == RuleColumn.ENABLED:
            checked = Qt.CheckState(value) == Qt.CheckState.Checked
            if checked != self.draft.rules[index.row()].enabled:
                self.draft.toggle(index.row())
            return True
        return False

    # -- reorder by drag and drop -----------------------------------------------------

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:
        return [MIME]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        data = QMimeData()
        rows = sorted({i.row() for i in indexes if i.isValid()})
        data.setData(MIME, QByteArray(str(rows[0] if rows else -1).encode()))
        return data

    def dropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int, column: int,
                     parent: Index) -> bool:
        if action != Qt.DropAction.MoveAction or not data.hasFormat(MIME):
            return False
        source = int(bytes(data.data(MIME).data()).decode() or -1)
        if source < 0:
            return False
        target = row if row >= 0 else (parent.row() if parent.isValid() else self.rowCount())
        if target > source:
            target -= 1  # the dragged row leaves its place first
        if target != source:
            self.draft.move(source, target)
        # False: the move is done; a True would make the view delete the "source" rows.
        return False

    # -- the draft's events -----------------------------------------------------------

    def _on_draft(self, event: str, index: int) -> None:
        self._errors = self.draft.errors()
        if event == "changed":
            self.dataChanged.emit(self.index(index, 0),
                                  self.index(index, len(HEADERS) - 1))
            self._refresh_columns(RuleColumn.NAME)  # an id clash colours another row too
        else:  # rows came, went or moved: cheap to redo for a few hundred rules
            self.beginResetModel()
            self.endResetModel()

    def _refresh_columns(self, *columns: RuleColumn) -> None:
        if self.rowCount():
            for column in columns:
                self.dataChanged.emit(self.index(0, column),
                                      self.index(self.rowCount() - 1, column))
