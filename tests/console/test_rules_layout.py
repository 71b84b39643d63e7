"""The rules view in a window of its own at 1024x700, as an operator types: no message
may change the window's size, and an error points at the typed pattern."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow

from agentcore import RejectedSuggestions, RuleBook, RuleSession
from console.backtest_runner import BacktestRunner
from console.rules_model import RuleColumn
from console.rules_view import RulesView

WIDTH, HEIGHT = 1024, 700


@pytest.fixture
def window(make_console, recorded, qtbot):
    """A RulesView filling a 1024x700 main window, as in the rules workspace."""
    engine = make_console(recorded).engine
    runner = BacktestRunner(lambda: engine.router, engine.store.traffic,
                            now=engine.clock.now)
    session = RuleSession(RuleBook(engine), RejectedSuggestions(engine.store.rules),
                          now=engine.clock.now, operator="dana")
    view = RulesView(session, runner)
    main = QMainWindow()
    main.setCentralWidget(view)
    main.resize(WIDTH, HEIGHT)
    main.show()
    qtbot.waitExposed(main)
    qtbot.waitUntil(lambda: not runner.busy and runner.completed >= 1, timeout=20_000)
    main.view = view
    yield main
    runner.close()
    main.close()
    main.deleteLater()


def select(qtbot, view: RulesView, rule_id: str) -> None:
    index = view.model.index(view.draft.index_of(rule_id), RuleColumn.NAME)
    view.table.scrollTo(index)
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.table.visualRect(index).center())
    assert view.editor.rule_id.text() == rule_id


def type_at_end(qtbot, view: RulesView, text: str) -> None:
    view.editor.pattern.setFocus()
    qtbot.keyClick(view.editor.pattern, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(view.editor.pattern, text)


def caret_column(view: RulesView) -> tuple[str, int]:
    shown, caret = view.editor.pattern_caret.text().split("\n")
    return shown, caret.index("^")


def assert_same_size(qtbot, window: QMainWindow) -> None:
    qtbot.wait(50)  # let a layout request from the new text run
    assert window.width() == WIDTH and window.height() == HEIGHT
    assert window.minimumSizeHint().width() <= WIDTH
    assert window.minimumSizeHint().height() <= HEIGHT


def test_a_typed_paren_shows_the_operators_pattern_with_a_caret_and_keeps_the_size(
        window, qtbot):
    view = window.view
    select(qtbot, view, "contact-hours")
    pattern = view.editor.pattern.text()
    assert "{" in pattern  # a shipped rule written with fragments
    before = window.minimumSizeHint().width()

    type_at_end(qtbot, view, "(")

    error = view.editor.pattern_error
    assert error.isVisible() and "missing )" in error.text()
    assert f"at character {len(pattern) + 1}" in error.text()
    shown, column = caret_column(view)
    assert view.editor.pattern_caret.isVisible()
    assert shown[column] == "(" and shown.rstrip("…").endswith(pattern[-10:] + "(")
    assert "(?:" not in error.text() + view.editor.pattern_caret.text()  # never expanded
    assert "Cannot apply: contact-hours" in view.state.text()
    assert_same_size(qtbot, window)
    assert window.minimumSizeHint().width() <= before

    qtbot.keyClick(view.editor.pattern, Qt.Key.Key_Backspace)  # fixed: the error goes
    assert not error.isVisible() and not view.editor.pattern_caret.isVisible()
    assert_same_size(qtbot, window)


def test_a_two_thousand_character_pattern_keeps_the_size_and_points_at_its_fault(
        window, qtbot):
    view = window.view
    select(qtbot, view, "contact-hours")
    long = "x" * 1200 + "(" + "y" * 799
    view.editor.pattern.selectAll()
    view.editor.pattern.insertPlainText(long)  # as pasted
    assert view.editor.pattern.text() == long

    shown, column = caret_column(view)
    assert shown[column] == "(" and len(shown) < 100
    assert "at character 1201" in view.editor.pattern_error.text()
    assert_same_size(qtbot, window)
    # An unbreakable word in a status line is elided there, and whole in its tooltip.
    view.state.setText("Cannot apply: " + long)
    assert_same_size(qtbot, window)
    assert view.state.toolTip().endswith(long)
    assert len(view.state.text()) < len(long)
    assert view.state.width() <= WIDTH


def test_enter_in_the_pattern_field_inserts_no_line_break(window, qtbot):
    view = window.view
    select(qtbot, view, "hello")
    view.editor.pattern.selectAll()
    qtbot.keyClicks(view.editor.pattern, r"\bhi\b")
    qtbot.keyClick(view.editor.pattern, Qt.Key.Key_Return)
    qtbot.keyClicks(view.editor.pattern, "x")
    assert view.editor.pattern.text() == r"\bhi\bx"
    view.editor.pattern.selectAll()
    view.editor.pattern.insertFromMimeData(_text_mime("\\bhello\n|\\bhey\\b\r\n"))
    assert view.editor.pattern.text() == r"\bhello|\bhey\b"  # the lines joined as they are
    assert view.draft.rules[view.draft.index_of("hello")].pattern == r"\bhello|\bhey\b"


def test_the_editor_table_and_backtest_share_the_window(window, qtbot):
    view = window.view
    select(qtbot, view, "contact-hours")
    pattern_field = view.editor.pattern
    assert pattern_field.height() >= 3 * pattern_field.fontMetrics().lineSpacing()
    table_right = view.table.mapTo(view, view.table.rect().topRight()).x()
    editor_left = view.editor.mapTo(view, view.editor.rect().topLeft()).x()
    assert table_right < editor_left  # side by side, not stacked
    changes = view.backtest.tabs.currentWidget()
    rows = changes.height() // max(1, changes.verticalHeader().defaultSectionSize())
    assert rows >= 5  # the backtest lists rows, not one
    assert view.suggestions.isVisible()
    # Narrow enough to share a 1024 px window with another panel: splitters, no fixed widths.
    assert view.minimumSizeHint().width() < WIDTH // 2


def _text_mime(text: str):
    from PySide6.QtCore import QMimeData

    data = QMimeData()
    data.setText(text)
    return data
