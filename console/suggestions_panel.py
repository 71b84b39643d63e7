"""Suggested rules mined from the slow path, with their backtest figures; the operator
accepts one (it goes live as a new version), edits it in the draft, or rejects it
(never offered again)."""

from __future__ import annotations

from PySide6.QtCore import Signal, SignalInstance
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from agentcore import Suggestion
from console.backtest_panel import RowsModel, _table
from console.rules_wording import money, plural
from console.status_label import StatusLabel


class SuggestionsPanel(QWidget):
    find_requested = Signal()
    accept_requested = Signal(object)  # Suggestion
    edit_requested = Signal(object)
    reject_requested = Signal(object)
    counted = Signal(int)  # suggestions listed now (the view's tab says how many)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.suggestions: list[Suggestion] = []
        self.status = StatusLabel("Rules suggested from requests the LLM answered the same "
                                  "way.")
        self.status.setObjectName("suggestions status")
        self.model = RowsModel(("Pattern", "Intent", "Requests", "Gained", "Precision",
                                "Cost per day", "Examples"), self)
        self.view = _table(self.model)
        # The pattern and what it saves are what the operator decides on: room for them.
        for column, width in ((0, 260), (2, 70), (3, 60), (4, 70), (5, 150)):
            self.view.setColumnWidth(column, width)
        self.find_button = QPushButton("Find suggestions")
        self.accept_button = QPushButton("Accept")
        self.edit_button = QPushButton("Edit in draft")
        self.reject_button = QPushButton("Reject")
        buttons = QHBoxLayout()
        for button in (self.find_button, self.accept_button, self.edit_button,
                       self.reject_button):
            # May be squeezed (their texts clipped) rather than set the window's width.
            button.setMinimumWidth(32)
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        layout.addWidget(self.view, 1)
        self.find_button.clicked.connect(self.find_requested)
        self.accept_button.clicked.connect(lambda: self._emit(self.accept_requested))
        self.edit_button.clicked.connect(lambda: self._emit(self.edit_requested))
        self.reject_button.clicked.connect(lambda: self._emit(self.reject_requested))
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self._update_buttons()

    def searching(self) -> None:
        self.status.setText("Mining the slow path…")
        self.find_button.setEnabled(False)

    def search_failed(self, message: str) -> None:
        self.find_button.setEnabled(True)  # try again, once the cause is fixed
        self.status.setText(message)

    def set_suggestions(self, suggestions: list[Suggestion]) -> None:
        self.suggestions = list(suggestions)
        self.find_button.setEnabled(True)
        self.status.setText(f"{plural(len(suggestions), 'suggestion')}." if suggestions else
                            "No suggestions: no recurring slow-path shape has one intent and "
                            "an existing template.")
        self.model.set_rows([
            (s.rule.pattern, s.rule.intent, s.support, s.gained,
             f"{s.precision:.0%}" if s.precision is not None else "—",
             money(s.result.dollars_per_day, per="a day"), " | ".join(s.examples[:3]))
            for s in self.suggestions])
        if self.suggestions:
            self.view.selectRow(0)
        self._update_buttons()
        self.counted.emit(len(self.suggestions))

    def remove(self, suggestion: Suggestion) -> None:
        self.set_suggestions([s for s in self.suggestions if s.key != suggestion.key])

    def selected(self) -> Suggestion | None:
        rows = self.view.selectionModel().selectedRows()
        return self.suggestions[rows[0].row()] if rows else None

    def _emit(self, signal: SignalInstance) -> None:
        suggestion = self.selected()
        if suggestion is not None:
            signal.emit(suggestion)

    def _update_buttons(self, *_args: object) -> None:
        chosen = self.selected() is not None
        for button in (self.accept_button, self.edit_button, self.reject_button):
            button.setEnabled(chosen)
