"""Every version of the live rules: who changed what and when, its diff, and a way
back to any of them (a revert is itself a new version, so it can be undone)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from agentcore import VersionEntry
from console.backtest_panel import RowsModel, _table


class HistoryPanel(QWidget):
    revert_requested = Signal(int)  # version id

    def __init__(self, diff: Callable[[int], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._diff = diff
        self.versions: list[VersionEntry] = []
        self.model = RowsModel(("Version", "When", "Who", "Action", "Summary"), self)
        self.view = _table(self.model)
        self.diff_view = QPlainTextEdit()
        self.diff_view.setReadOnly(True)
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.TypeWriter)
        self.diff_view.setFont(font)
        self.revert_button = QPushButton("Revert to this version")
        buttons = QHBoxLayout()
        buttons.addWidget(self.revert_button)
        buttons.addStretch(1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.view)
        splitter.addWidget(self.diff_view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(splitter, 1)
        self.view.selectionModel().selectionChanged.connect(self._show_diff)
        self.revert_button.clicked.connect(self._revert)

    def set_versions(self, versions: list[VersionEntry]) -> None:
        self.versions = versions
        self.model.set_rows([
            (v.id, datetime.fromtimestamp(v.created_at).strftime("%Y-%m-%d %H:%M:%S"),
             v.author, v.action, v.summary) for v in versions])
        self.diff_view.clear()
        self.revert_button.setEnabled(False)

    def selected(self) -> VersionEntry | None:
        rows = self.view.selectionModel().selectedRows()
        return self.versions[rows[0].row()] if rows else None

    def _show_diff(self, *_args: object) -> None:
        version = self.selected()
        self.revert_button.setEnabled(version is not None)
        self.diff_view.setPlainText(self._diff(version.id) if version else "")

    def _revert(self) -> None:
        version = self.selected()
        if version is not None:
            self.revert_requested.emit(version.id)
