"""The rules view: the rule set as a table, an editor with a sample tester, the
backtest of the draft as it is typed, suggestions from traffic, and the history
of versions with undo, redo and revert.

Edits go to a draft; nothing reaches the running router until Apply, which
records a version and swaps the whole set at once. What each action does is the
Qt-free `RuleSession`'s (tested headless); the view shows it and asks the
questions: Apply first reads the draft's backtest (waiting for it if typing
outran it) and asks before a change that moves much of the traffic or answers it
worse; an import that would leave no rule enabled asks too.

The view fills a workspace of its own: the rule table beside the editor, the
backtest under the editor (its lists are what the operator reads while typing),
suggestions and history under the table; every part sits in a splitter, so it
stays usable at 1024x700. It takes the session and the backtest runner, not the
engine; what happened goes to `console.message`, refusals stay in its own status
line until the next change.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QAction, QKeySequence, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QScrollArea,
    QSplitter,
    QTableView,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from agentcore import (
    EmptyRuleSetError,
    RuleBook,
    RuleError,
    RuleSession,
    Suggestion,
    Told,
)
from console import message
from console.backtest_panel import BacktestPanel
from console.backtest_runner import BacktestRunner, RuleStats
from console.confirm import Confirmation
from console.history_panel import HistoryPanel
from console.rule_editor import RuleEditor
from console.rules_model import RuleColumn, RulesModel
from console.status_label import StatusLabel
from console.suggestions_panel import SuggestionsPanel


class RulesView(QWidget):
    def __init__(self, session: RuleSession, runner: BacktestRunner,
                 parent: QWidget | None = None) -> None:
        """`session`: the draft, the rule book and the suggestions turned down, with
        the operator's actions on them (Qt-free); `runner`: backtests off the GUI thread."""
        super().__init__(parent)
        self.session = session
        self.book = session.book
        self.draft = session.draft
        self.runner = runner
        self.model = RulesModel(self.draft, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.table.setDragEnabled(True)
        self.table.setDropIndicatorShown(True)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)  # one line a rule, elided: more rules in view
        for column, width in ((RuleColumn.ENABLED, 34), (RuleColumn.PRIORITY, 60),
                              (RuleColumn.NAME, 200), (RuleColumn.PATTERN, 240),
                              (RuleColumn.TEMPLATE, 160)):
            self.table.setColumnWidth(column, width)
        self.editor = RuleEditor(self.draft)
        self.backtest = BacktestPanel()
        self.suggestions = SuggestionsPanel()
        self.history = HistoryPanel(session.book.diff)
        self.state = StatusLabel()
        self.state.setObjectName("rules state")
        self.confirmation: Confirmation | None = None  # the question open now, if any
        self._apply_waiting = False  # Apply pressed before the draft's backtest finished
        # The live rules another process saved under unapplied edits, said until they
        # are applied or discarded; and the router the draft last followed.
        self._underneath: str | None = None
        self._live_seen = session.live

        self.toolbar = QToolBar("Rules")
        self.actions_in_order: list[QAction] = []  # for the window's menus and F1 help
        self._build_actions()
        self._build_layout()
        self._wire()
        self.history.set_versions(self.book.log())
        self._update_state()
        self._started = False

    @property
    def operator(self) -> str:
        """Who the versions name; the window sets it when the settings change it."""
        return self.session.operator

    @operator.setter
    def operator(self, name: str) -> None:
        self.session.operator = name

    # -- construction ------------------------------------------------------------

    def _action(self, text: str, shortcut: str | None, tip: str,
                also: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut:
            keys = [QKeySequence(shortcut)] + ([QKeySequence(also)] if also else [])
            action.setShortcuts(keys)
            # Only while the rules view has focus: Ctrl+Z elsewhere is not a rule undo.
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        keys_said = " or ".join(k for k in (shortcut, also) if k)
        action.setToolTip(f"{tip} ({keys_said})" if shortcut else tip)
        action.setStatusTip(tip)
        self.addAction(action)
        self.toolbar.addAction(action)
        self.actions_in_order.append(action)
        return action

    def _build_actions(self) -> None:
        self.act_add = self._action("Add", "Ctrl+Shift+N", "Add a rule")
        self.act_duplicate = self._action("Duplicate", "Ctrl+D",
                                          "Copy the selected rule (disabled)")
        self.act_toggle = self._action("Enable/disable", "Ctrl+E", "Switch the rule on or off")
        self.act_delete = self._action("Delete", "Ctrl+Del", "Remove the rule from the draft")
        self.act_up = self._action("Up", "Alt+Up", "Move up (wins ties of priority)")
        self.act_down = self._action("Down", "Alt+Down", "Move down")
        self.toolbar.addSeparator()
        self.act_apply = self._action("Apply", "Ctrl+S", "Make the draft the live rule set "
                                      "(asks first if the backtest shows a big or worse change)")
        self.act_undo = self._action("Undo", "Ctrl+Z",
                                     "Discard unapplied edits, else undo the last change")
        self.act_redo = self._action("Redo", "Ctrl+Shift+Z", "Redo the change undone",
                                     also="Ctrl+Y")
        self.toolbar.addSeparator()
        self.act_suggest = self._action("Find suggestions", None,
                                        "Mine the slow path for rules it keeps answering")
        self.act_import = self._action("Import…", None, "Load a rule set from YAML")
        self.act_export = self._action("Export…", None, "Save the live rule set as YAML")
        self.act_refresh = self._action("Refresh", "F5", "Reload the recorded traffic")

    def _build_layout(self) -> None:
        # Scrolls rather than growing the window at 1024x700.
        editor_scroll = QScrollArea()
        editor_scroll.setWidgetResizable(True)
        editor_scroll.setFrameShape(QFrame.Shape.NoFrame)
        editor_scroll.setWidget(self.editor)
        self.tabs = QTabWidget()  # under the table: what to add, and what was done
        self.tabs.addTab(self.suggestions, "Suggestions")
        self.tabs.addTab(self.history, "History")
        self.left = _splitter(Qt.Orientation.Vertical, self.table, self.tabs, (3, 2))
        # A taller window gives the backtest's lists the rows: the editor has what it needs.
        self.right = _splitter(Qt.Orientation.Vertical, editor_scroll, self.backtest, (0, 1))
        self.split = _splitter(Qt.Orientation.Horizontal, self.left, self.right, (1, 1))
        self._arranged_by_hand = False
        for split in (self.left, self.right, self.split):
            split.splitterMoved.connect(self._arranged)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.split, 1)
        layout.addWidget(self.state)

    def _wire(self) -> None:
        runner, draft = self.runner, self.draft
        self.table.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self._select(current.row()))
        # Every edit (editor, table checkbox, toolbar) schedules a backtest; debounced.
        draft.subscribe(lambda _event, _index: self._draft_changed())
        runner.started.connect(self.backtest.running)
        runner.finished.connect(self._show_backtest)
        runner.failed.connect(self._backtest_failed)
        runner.stats_ready.connect(self._show_stats)
        runner.suggestions_ready.connect(self._show_suggestions)
        runner.suggestions_failed.connect(self.suggestions.search_failed)
        self.suggestions.find_requested.connect(self.find_suggestions)
        self.suggestions.counted.connect(self._count_suggestions)
        self.suggestions.accept_requested.connect(self.accept_suggestion)
        self.suggestions.edit_requested.connect(self.edit_suggestion)
        self.suggestions.reject_requested.connect(self.reject_suggestion)
        self.history.revert_requested.connect(self.revert)
        self.act_add.triggered.connect(lambda: self._select(draft.add()))
        self.act_duplicate.triggered.connect(self._duplicate)
        self.act_toggle.triggered.connect(self._toggle)
        self.act_delete.triggered.connect(self._delete)
        self.act_up.triggered.connect(lambda: self._move(-1))
        self.act_down.triggered.connect(lambda: self._move(+1))
        self.act_apply.triggered.connect(self.apply)
        self.act_undo.triggered.connect(self.undo)
        self.act_redo.triggered.connect(self.redo)
        self.act_suggest.triggered.connect(self.find_suggestions)
        self.act_import.triggered.connect(self._choose_import)
        self.act_export.triggered.connect(self._choose_export)
        self.act_refresh.triggered.connect(self.refresh)

    # -- lifecycle -----------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._started:  # the first look loads the traffic, not the start-up
            self._started = True
            self.refresh()
            self.find_suggestions()  # in the worker, after the backtest: there on a first look

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if not self._arranged_by_hand:
            self._share_room()

    def _arranged(self, *_args: object) -> None:
        self._arranged_by_hand = True

    def _share_room(self) -> None:
        """How the room the view is given is shared until the operator drags a splitter:
        45% of the width for the table, the rest for the editor; the editor as tall as
        its fields and a pattern error (at most 55%), the backtest the rest; the table
        over the suggestions at 3:2."""
        width, height = self.split.width(), self.split.height()
        self.split.setSizes([width * 9 // 20, width - width * 9 // 20])
        # Room for the two lines of a pattern error too, shown or not: the backtest does
        # not jump while the operator types "(" and then ")".
        error_lines = 3 * self.editor.fontMetrics().lineSpacing() + 8
        editor = min(self.editor.sizeHint().height() + error_lines, int(height * 0.55))
        self.right.setSizes([editor, height - editor])
        self.left.setSizes([height * 3 // 5, height - height * 3 // 5])

    def refresh(self) -> None:
        """Reloads the recorded traffic, the figures per rule and the draft's backtest."""
        self.runner.refresh()
        self.runner.request_stats()
        self._schedule()

    def on_rules_changed(self, version_id: int | None) -> None:
        """The live rule set changed underneath (another station or service saved
        it; None: read again after a lost link). Without edits the draft follows it;
        unapplied edits are kept, and the operator told: Apply would replace the new
        set with them."""
        # Undo and redo walk the history as the store now has it: a book still on the
        # stacks it read at start would undo this station's last change back past the
        # other's, silently dropping it. (A RuleBook that rereads its history would say
        # this in agentcore; until then a new book over the same store does.)
        self.book = self.session.book = RuleBook(self.book.engine)
        self.history.set_versions(self.book.log())
        if self.session.draft.dirty:
            if self.session.live is not self._live_seen:
                self._underneath = (f"The live rule set changed underneath (version "
                                    f"{self.book.current.id}, saved elsewhere): your "
                                    f"unapplied edits are kept; Apply replaces it with "
                                    f"them, Undo discards them.")
                message.warning(self._underneath)
        else:
            self._live_seen = self.session.live
            self.session.reset()
            row = self._selected_row()
            self._select(min(max(row, 0), len(self.draft.rules) - 1))
            self._schedule()
        self.runner.request_stats()
        self._update_state()

    def close_runner(self) -> None:
        self.runner.close()

    # -- the draft -------------------------------------------------------------------

    def _selected_row(self) -> int:
        return self.editor.row

    def _select(self, row: int) -> None:
        if 0 <= row < self.model.rowCount():
            index = self.model.index(row, RuleColumn.NAME)
            if self.table.currentIndex().row() != row:
                self.table.selectionModel().setCurrentIndex(
                    index, QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows)
            if self.editor.row != row:
                self.editor.show_rule(row)
            self._schedule()
        else:
            self.editor.show_rule(-1)

    def _draft_changed(self) -> None:
        self._apply_waiting = False  # still typing: Apply is pressed again for the new text
        self._update_state()
        self._schedule()

    def _schedule(self) -> None:
        rule = self.editor.current()
        self.runner.schedule(self.draft.rules, self.draft.fragments,
                             rule.id if rule else None)

    def _duplicate(self) -> None:
        if self._selected_row() >= 0:
            self._select(self.draft.duplicate(self._selected_row()))

    def _toggle(self) -> None:
        if self._selected_row() >= 0:
            self.draft.toggle(self._selected_row())

    def _delete(self) -> None:
        row = self._selected_row()
        if row >= 0:
            self.draft.remove(row)
            self._select(min(row, len(self.draft.rules) - 1))

    def _move(self, step: int) -> None:
        row = self._selected_row()
        target = row + step
        if row >= 0 and 0 <= target < len(self.draft.rules):
            self.draft.move(row, target)
            self._select(target)

    def _update_state(self) -> None:
        state = self.session.state()
        if not self.draft.dirty:
            self._underneath = None  # applied, undone or reset: nothing kept any more
            self._live_seen = self.session.live
        self.state.setText(self._underneath or state.text)
        self.act_apply.setEnabled(state.can_apply)
        self.act_undo.setEnabled(state.can_undo)
        self.act_redo.setEnabled(state.can_redo)

    # -- going live -----------------------------------------------------------------

    def apply(self) -> bool:
        """Makes the draft live once its backtest is read: at once when it shows nothing
        to confirm, else after "Apply anyway" in the question it opens. If the backtest
        of these very edits has not finished, Apply starts it now and goes on when it
        does. True: applied now; False: refused (the reason shown) or waiting."""
        errors = self.draft.errors()
        if errors:
            self._update_state()
            return False
        if self.confirmation is not None:  # already asking about it
            return False
        result = self.runner.result_for(self.draft.rules, self.draft.fragments)
        if result is None:
            self._apply_waiting = True
            rule = self.editor.current()
            self.runner.run_now(self.draft.rules, self.draft.fragments,
                                rule.id if rule else None)
            self.state.setText("Apply waits for the backtest of these edits…")
            return False
        return self._review(self.session.warnings(result))

    def _review(self, warnings: list[str]) -> bool:
        if not warnings:
            return self._told(self.session.apply())
        asked = self.session.asked()
        self._ask("Apply these rules?", "The backtest of these edits over recorded traffic "
                  "shows a change to confirm:", warnings, "&Apply anyway",
                  lambda: self._told(self.session.apply(asked)))
        return False

    def _told(self, told: Told) -> bool:
        """Shows what an action of the session did: done, in the status bar (and the
        view follows the new rules); not done, in the view's own status line."""
        if told.done:
            self._after_change(told.text)
        else:
            self.state.setText(told.text)
        return told.done

    def _ask(self, title: str, text: str, reasons: list[str], go: str,
             on_go: Callable[[], object], *,
             cancelled: str = "Not applied: the live rules are unchanged.") -> None:
        def answered(then: Callable[[], object]) -> Callable[[], None]:
            def run() -> None:
                self.confirmation = None
                then()
            return run

        self.confirmation = Confirmation(
            self, title=title, text=text, reasons=reasons, go=go, on_go=answered(on_go),
            on_cancel=answered(lambda: self.state.setText(cancelled)))
        self.confirmation.open()

    def undo(self) -> None:
        self._told(self.session.undo())

    def redo(self) -> None:
        self._told(self.session.redo())

    def revert(self, version_id: int) -> None:
        self._told(self.session.revert(version_id))

    def import_file(self, path: Path) -> bool:
        """Imports a rule file; one that would leave no rule enabled is asked about
        first. True: imported now."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.state.setText(f"Not imported: {exc}")
            return False
        return self._import(path.name, text, allow_empty=False)

    def _import(self, name: str, text: str, *, allow_empty: bool) -> bool:
        try:
            return self._told(self.session.import_text(name, text, allow_empty=allow_empty))
        except EmptyRuleSetError as exc:
            self._ask("Import an empty rule set?", f"Importing {name} would leave no rule "
                      "enabled: every request would go to the LLM.",
                      [f"{exc.found.capitalize()}. A cut-short export looks like this: check "
                       "it is the file you meant."],
                      "&Import anyway", lambda: self._import(name, text, allow_empty=True),
                      cancelled="Not imported: the live rules are unchanged.")
            return False

    def export_file(self, path: Path) -> bool:
        try:
            path.write_text(self.session.export_text(), encoding="utf-8")
        except OSError as exc:  # a read-only folder, a full disk
            self.state.setText(f"Not exported: {exc}")
            return False
        message.info(f"Rules exported to {path}")
        return True

    def _after_change(self, text: str) -> None:
        """The live rules or the draft changed: the view follows, and says so."""
        row = self._selected_row()
        self._select(min(max(row, 0), len(self.draft.rules) - 1))
        self.history.set_versions(self.book.log())
        self.runner.request_stats()
        self._update_state()
        message.info(text)  # logged there

    def _choose_import(self) -> None:
        # open(), not exec(): a nested event loop would re-enter the asyncio loop.
        dialog = QFileDialog(self, "Import rules", "", "YAML (*.yaml *.yml)")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda name: self.import_file(Path(name)))
        dialog.open()

    def _choose_export(self) -> None:
        dialog = QFileDialog(self, "Export rules", "rules.yaml", "YAML (*.yaml *.yml)")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda name: self.export_file(Path(name)))
        dialog.open()

    # -- figures ---------------------------------------------------------------------

    def _show_backtest(self, result: object) -> None:
        self.backtest.show_result(result)  # type: ignore[arg-type]
        self.model.set_figures(precision=result.precision)  # type: ignore[attr-defined]
        if self._apply_waiting and self.runner.result_for(self.draft.rules,
                                                          self.draft.fragments) is not None:
            self._apply_waiting = False
            self.apply()

    def _backtest_failed(self, why: str) -> None:
        self.backtest.failed(why)
        if not self._apply_waiting:
            return
        self._apply_waiting = False
        try:
            self.draft.router()  # the set as a whole may not compile (too large a matcher)
        except RuleError as exc:
            self.state.setText(f"Cannot apply: {exc}")
            return
        if self.confirmation is None:  # no figures to read: the operator decides without
            self._review([f"{why.rstrip('.')}, so what these edits change is unknown.",
                          *self.session.warnings(None)])

    def _show_stats(self, stats: RuleStats) -> None:
        precision = None if self.draft.dirty else stats.baseline.precision
        self.model.set_figures(hits=stats.hits_today, precision=precision)

    # -- suggestions -----------------------------------------------------------------

    def find_suggestions(self) -> None:
        self.suggestions.searching()
        self.runner.request_suggestions(self.session.rejected_keys())

    def _show_suggestions(self, found: list[Suggestion]) -> None:
        self.suggestions.set_suggestions(self.session.not_rejected(found))

    def accept_suggestion(self, suggestion: Suggestion) -> None:
        """Goes live at once as its own version; unapplied edits stay in the draft."""
        if self._told(self.session.accept(suggestion)):
            self.suggestions.remove(suggestion)

    def edit_suggestion(self, suggestion: Suggestion) -> None:
        self.suggestions.remove(suggestion)
        self._select(self.draft.add(suggestion.rule))

    def reject_suggestion(self, suggestion: Suggestion) -> None:
        told = self.session.reject(suggestion)
        if told.done:
            self.suggestions.remove(suggestion)
            message.info(told.text)
        else:
            self.state.setText(told.text)

    def _count_suggestions(self, count: int) -> None:
        index = self.tabs.indexOf(self.suggestions)
        self.tabs.setTabText(index, f"Suggestions ({count})" if count else "Suggestions")


def _splitter(orientation: Qt.Orientation, first: QWidget, second: QWidget,
              stretch: tuple[int, int]) -> QSplitter:
    split = QSplitter(orientation)
    split.addWidget(first)
    split.addWidget(second)
    split.setChildrenCollapsible(False)  # a dragged handle never makes a part vanish
    split.setStretchFactor(0, stretch[0])
    split.setStretchFactor(1, stretch[1])
    return split
