"""The rules view as an operator uses it: edit a pattern (checked as typed), read the
backtest over recorded traffic, apply, undo, and accept a suggested rule."""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from agentcore import Request, Route, Router
from agentcore.guard import normalise
from console import message
from console.rules_model import RuleColumn

BROADER = r"\b(?:hours|open|locked)\b"  # gains "why is my account locked", loses "close today"
LOCKED = "Why is my account locked?"  # recorded, and no rule takes it: the LLM's account


@pytest.fixture
def view(make_console, recorded, qtbot):
    console = make_console(recorded)
    window = console.window
    window.show()
    window.show_rules()
    view = window.rules
    qtbot.waitUntil(lambda: not view.runner.busy and view.runner.completed >= 1, timeout=20_000)
    view.console = console  # the engine, for the tests' own requests
    return view


def click_rule(qtbot, view, rule_id: str) -> None:
    row = view.draft.index_of(rule_id)
    index = view.model.index(row, RuleColumn.NAME)
    view.table.scrollTo(index)
    rect = view.table.visualRect(index)
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert view.editor.rule_id.text() == rule_id


def type_pattern(qtbot, view, pattern: str) -> None:
    done = view.runner.completed
    view.editor.pattern.selectAll()
    qtbot.keyClicks(view.editor.pattern, pattern)
    assert view.editor.pattern.text() == pattern
    qtbot.waitUntil(lambda: not view.runner.busy, timeout=20_000)
    return done


def find_suggestions(qtbot, panel) -> None:
    """Clicks Find and waits for that search (the view ran one on its first look)."""
    qtbot.waitUntil(panel.find_button.isEnabled, timeout=20_000)
    qtbot.mouseClick(panel.find_button, Qt.MouseButton.LeftButton)
    assert not panel.find_button.isEnabled()
    qtbot.waitUntil(lambda: panel.find_button.isEnabled() and bool(panel.suggestions),
                    timeout=20_000)


def recorded_texts(settings) -> list[str]:
    with sqlite3.connect(settings.engine_db) as conn:
        return [t for (t,) in conn.execute(
            "SELECT r.text FROM requests r JOIN outcomes o ON o.request_id = r.id "
            "WHERE o.route != 'guard'")]


def test_a_pattern_with_a_syntax_error_is_shown_and_cannot_be_applied(view, qtbot):
    engine = view.console.engine
    click_rule(qtbot, view, "contact-hours")
    view.editor.pattern.selectAll()
    qtbot.keyClicks(view.editor.pattern, r"\b(?:hours|open\b")

    assert view.editor.pattern_error.isVisible()
    assert "invalid pattern: missing )" in view.editor.pattern_error.text()
    assert "Traceback" not in view.editor.pattern_error.text()
    assert not view.act_apply.isEnabled()
    assert "Cannot apply: contact-hours" in view.state.text()
    # No figures for a pattern that does not compile: the last ones are not shown as its.
    qtbot.waitUntil(lambda: "Not backtested" in view.backtest.status.text(), timeout=20_000)
    assert view.backtest.summary.text() == "" and view.backtest.changes.rowCount() == 0
    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert view.apply() is False
    assert engine.router.route("when are you open?").rule.id == "contact-hours"
    assert len(view.book.versions()) == 1  # nothing was recorded either

    qtbot.keyClick(view.editor.pattern, Qt.Key.Key_End)
    qtbot.keyClicks(view.editor.pattern, ")")  # fixed: the error goes, apply comes back
    assert not view.editor.pattern_error.isVisible()
    assert view.act_apply.isEnabled()


@pytest.mark.parametrize("pattern", [".*", r"\b", "{greeting}"])
def test_a_pattern_that_matches_every_request_is_refused_as_it_is_typed(view, qtbot, pattern):
    engine = view.console.engine
    click_rule(qtbot, view, "contact-hours")
    view.editor.pattern.selectAll()
    qtbot.keyClicks(view.editor.pattern, pattern)

    error = view.editor.pattern_error
    assert error.isVisible() and error.wordWrap()
    assert f"the pattern '{pattern}'" in error.text() and "all traffic" in error.text()
    assert "(?:" not in error.text()  # the operator's pattern, never the expanded one
    assert not view.act_apply.isEnabled()
    assert "Cannot apply: contact-hours" in view.state.text()
    assert view.apply() is False
    assert engine.router.route(normalise("my router is on fire")) is None
    assert len(view.book.versions()) == 1


def test_a_valid_edit_shows_the_requests_it_gains_and_loses(view, recorded, qtbot):
    live = view.console.engine.router
    click_rule(qtbot, view, "contact-hours")
    type_pattern(qtbot, view, BROADER)
    result = view.backtest.result
    assert result is not None and result.focus == "contact-hours"

    edited = Router(view.draft.rules, view.draft.handlers, fragments=view.draft.fragments)
    expected: Counter[tuple[str, str]] = Counter()
    for text in recorded_texts(recorded):
        before, after = live.route(normalise(text)), edited.route(normalise(text))
        if before is None and after is not None:
            expected["gained", text] += 1
        elif before is not None and after is None:
            expected["lost", text] += 1
    shown = Counter((row[0], row[1]) for row in view.backtest.changes.rows
                    if row[0] in ("gained", "lost"))
    assert shown == expected
    assert {k for k, _ in expected} == {"gained", "lost"}
    assert ("gained", LOCKED) in shown
    # Precision: the LLM called it 'account', so the rule disagrees, listed first.
    first = view.backtest.samples.rows[0]
    assert first[0] == "NO" and "locked" in first[1] and first[4] == "account"
    assert "Precision of contact-hours" in view.backtest.summary.text()
    assert "Fast path:" in view.backtest.summary.text()


def test_an_edit_that_moves_most_traffic_lists_a_page_and_counts_it_all(view, qtbot):
    view.backtest.listed = 50  # the corpus is small
    click_rule(qtbot, view, "contact-hours")
    type_pattern(qtbot, view, "[aeiou]")  # matches nearly everything (not digits alone)
    result = view.backtest.result
    assert len(result.change_rows) > 50
    assert view.backtest.changes.rowCount() == 50
    gained = sum(1 for row in result.change_rows if row[1] == "gained")
    assert f"gained {gained}," in view.backtest.summary.text()


def test_apply_swaps_the_router_and_undo_restores_the_old_route(view, qtbot, run_async):
    engine = view.console.engine
    assert run_async(engine.submit(Request(LOCKED))).route is Route.LLM
    click_rule(qtbot, view, "contact-hours")
    type_pattern(qtbot, view, BROADER)

    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    outcome = run_async(engine.submit(Request(LOCKED)))
    assert (outcome.route, outcome.rule_id) == (Route.RULE, "contact-hours")
    latest = view.book.versions()[0]
    assert latest.action == "apply" and latest.summary == "contact-hours: pattern"
    assert view.history.model.rows[0][3] == "apply"
    assert "Live: version" in view.state.text()

    qtbot.keyClick(view.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert run_async(engine.submit(Request(LOCKED))).route is Route.LLM
    assert view.editor.pattern.text() != BROADER  # the editor shows the live rule again
    assert view.history.model.rows[0][3] == "undo"

    qtbot.keyClick(view.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert run_async(engine.submit(Request(LOCKED))).rule_id == "contact-hours"

    qtbot.keyClick(view.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(view.table, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)  # redo too
    assert run_async(engine.submit(Request(LOCKED))).rule_id == "contact-hours"
    assert [a.toolTip() for a in view.actions_in_order if a.text() in ("Apply", "Redo")] == [
        "Make the draft the live rule set (asks first if the backtest shows a big or worse "
        "change) (Ctrl+S)", "Redo the change undone (Ctrl+Shift+Z or Ctrl+Y)"]


def test_what_the_view_did_is_said_in_the_status_bar_through_the_message_bridge(
        view, qtbot):
    window = view.window()
    click_rule(qtbot, view, "hello")
    qtbot.keyClick(view.table, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    with qtbot.waitSignal(message.global_bridge.shown, timeout=20_000) as said:
        view.apply()
    assert said.args[0] == "info" and said.args[1].startswith("Applied version 2: hello")
    assert window.statusBar().currentMessage() == said.args[1]
    with qtbot.waitSignal(message.global_bridge.shown) as said:
        view.undo()
    assert said.args[1].startswith("Undone: undo: back to version 1")


def test_counts_and_savings_read_the_same_in_the_suggestions_and_the_backtest(view, qtbot):
    panel = view.suggestions
    find_suggestions(qtbot, panel)
    found = len(panel.suggestions)
    assert panel.status.text() == f"{found} suggestion{'' if found == 1 else 's'}."
    assert view.tabs.tabText(view.tabs.indexOf(panel)) == f"Suggestions ({found})"
    panel.set_suggestions(panel.suggestions[:1])
    assert panel.status.text() == "1 suggestion."

    top = panel.selected()
    cell = panel.model.rows[0][5]
    # It answers from a template what the LLM answered: cheaper, said as a saving.
    assert top.result.dollars_per_day < 0 and cell.startswith("saves $") and cell.endswith(
        " a day")
    done = view.runner.completed
    qtbot.mouseClick(panel.edit_button, Qt.MouseButton.LeftButton)  # the same rule set
    qtbot.waitUntil(lambda: view.runner.completed > done and not view.runner.busy,
                    timeout=20_000)
    summary = view.backtest.summary.text()
    assert f"Per day at the recorded rate: <b>{cell}</b>" in summary
    costs = {row[5] for row in view.backtest.changes.rows}
    assert costs and all(c.startswith(("saves $", "adds $")) or c == "no change in cost"
                         for c in costs)
    assert not any(c.startswith(("+", "-")) for c in costs)


def test_an_accepted_suggestion_becomes_a_rule_and_its_traffic_takes_the_fast_path(
        view, qtbot, run_async):
    engine = view.console.engine
    panel = view.suggestions
    view.tabs.setCurrentWidget(panel)
    find_suggestions(qtbot, panel)
    top = panel.selected()
    assert top is not None and top.gained > 0
    assert panel.model.rows[0][0] == top.rule.pattern
    example = top.examples[0]
    assert run_async(engine.submit(Request(example))).route is Route.LLM

    qtbot.mouseClick(panel.accept_button, Qt.MouseButton.LeftButton)
    assert top.rule.id in {r.id for r in engine.router.rules}
    assert view.draft.index_of(top.rule.id) >= 0 and not view.draft.dirty
    outcome = run_async(engine.submit(Request(example)))
    assert (outcome.route, outcome.rule_id) == (Route.RULE, top.rule.id)
    assert all(engine.router.route(normalise(t)) is not None for t in top.examples)
    assert view.book.versions()[0].summary == f"accepted suggestion {top.rule.id}"


def test_a_rejected_suggestion_does_not_come_back(view, qtbot):
    panel = view.suggestions
    find_suggestions(qtbot, panel)
    top = panel.selected()
    qtbot.mouseClick(panel.reject_button, Qt.MouseButton.LeftButton)
    assert top.key not in {s.key for s in panel.suggestions}
    panel.suggestions = []
    qtbot.mouseClick(panel.find_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.find_button.isEnabled(), timeout=20_000)
    assert "failed" not in panel.status.text()  # the second search ran to the end
    assert top.key not in {s.key for s in panel.suggestions}


def test_the_sample_box_highlights_matches_and_says_which_rule_fires(view, qtbot):
    click_rule(qtbot, view, "contact-hours")
    type_pattern(qtbot, view, BROADER)
    qtbot.keyClicks(view.editor.sample, "Are you open on Sunday? What are your hours?")
    assert view.editor.highlighted() == ["open", "hours"]
    assert "Fires: contact-hours" in view.editor.fires.text()

    view.editor.sample.setPlainText("hi")
    assert "Fires: hello" in view.editor.fires.text()
    view.editor.sample.setPlainText("my router is on fire")
    assert "No rule matches" in view.editor.fires.text()


def test_the_sample_box_marks_what_the_router_matches_in_the_text_as_typed(view, qtbot):
    # The router matches normalised text: a line break or a run of spaces is one
    # space, "ﬁ" is "fi". The marks must cover what was typed, emoji and all.
    click_rule(qtbot, view, "contact-hours")
    type_pattern(qtbot, view, r"open on sunday|\bfind\b")
    view.editor.sample.setPlainText("\U0001F600 Are you OPEN\non   Sunday? I can't ﬁnd it")
    assert view.editor.highlighted() == ["OPEN\non   Sunday", "ﬁnd"]
    assert "Fires: contact-hours" in view.editor.fires.text()


def test_add_duplicate_toggle_and_reorder_from_the_keyboard_and_by_drag(view, qtbot):
    draft = view.draft
    count = len(draft.rules)
    click_rule(qtbot, view, "hello")
    row = draft.index_of("hello")
    qtbot.keyClick(view.table, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert draft.rules[row + 1].id == "hello-copy" and not draft.rules[row + 1].enabled
    assert view.editor.rule_id.text() == "hello-copy"
    qtbot.keyClick(view.table, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert draft.rules[row + 1].enabled
    qtbot.keyClick(view.table, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert draft.rules[row].id == "hello-copy"
    qtbot.keyClick(view.table, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert len(draft.rules) == count + 2 and view.editor.rule_id.text() == "new-rule"
    assert not view.act_apply.isEnabled()  # a new rule has no pattern yet
    # Dragging the first row below the third: the model moves it in the draft.
    model = view.model
    first = draft.rules[0].id
    data = model.mimeData([model.index(0, RuleColumn.NAME)])
    model.dropMimeData(data, Qt.DropAction.MoveAction, 3, 0, model.index(-1, -1))
    assert draft.rules[2].id == first
    # The checkbox in the table switches a rule off.
    index = model.index(draft.index_of("hello"), RuleColumn.ENABLED)
    model.setData(index, Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    assert not draft.rules[draft.index_of("hello")].enabled
    # Undo with unapplied edits discards them all.
    view.undo()
    assert len(draft.rules) == count and not draft.dirty


def test_history_export_import_and_revert(view, qtbot, tmp_path):
    engine = view.console.engine
    exported = tmp_path / "rules.yaml"
    assert view.export_file(exported)
    assert not view.export_file(tmp_path / "no such folder" / "rules.yaml")
    assert "Not exported" in view.state.text()  # said, not raised
    click_rule(qtbot, view, "hello")
    qtbot.keyClick(view.table, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    view.apply()  # once its backtest is in: a small change, so no question
    qtbot.waitUntil(lambda: not view.draft.dirty, timeout=20_000)
    assert "hello" not in {r.id for r in engine.router.rules if r.enabled}

    assert view.import_file(exported)
    assert "hello" in {r.id for r in engine.router.rules if r.enabled}
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [", encoding="utf-8")
    assert not view.import_file(bad)
    assert "not valid YAML" in view.state.text()

    actions = [row[3] for row in view.history.model.rows]
    assert actions == ["import", "apply", "seed"]
    view.history.view.selectRow(1)
    assert "-  enabled: true\n+  enabled: false" in view.history.diff_view.toPlainText()
    qtbot.mouseClick(view.history.revert_button, Qt.MouseButton.LeftButton)
    assert "hello" not in {r.id for r in engine.router.rules if r.enabled}
    assert view.history.model.rows[0][3] == "revert"


def test_the_table_shows_hits_today_and_the_backtests_precision(view, qtbot, run_async):
    model = view.model
    hello = view.draft.index_of("hello")
    hits = model.index(hello, RuleColumn.HITS)
    before = hits.data()
    assert before > 0  # the corpus was answered today
    run_async(view.console.engine.submit(Request("hi")))
    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: hits.data() == before + 1, timeout=20_000)

    click_rule(qtbot, view, "contact-hours")
    type_pattern(qtbot, view, BROADER)
    agree, known = view.backtest.result.precision["contact-hours"]
    cell = model.index(view.draft.index_of("contact-hours"), RuleColumn.PRECISION).data()
    assert known > 0 and cell == f"{agree / known:.0%} of {known}"


def test_a_backtest_superseded_by_more_typing_is_never_shown(view, qtbot, recorded):
    runner = view.runner
    live = view.console.engine.router
    wide = [replace(r, pattern=BROADER) if r.id == "contact-hours" else r for r in live.rules]
    off = [replace(r, enabled=False) if r.id == "contact-hours" else r for r in live.rules]
    shown: list = []
    runner.finished.connect(shown.append)
    once = []

    def type_more() -> None:  # the operator types again just as the first one starts
        if not once:
            once.append(True)
            runner.schedule(off, live.fragments, "contact-hours")

    runner.started.connect(type_more)
    runner.schedule(wide, live.fragments, "contact-hours")
    qtbot.waitUntil(lambda: bool(shown) and not runner.busy, timeout=20_000)
    qtbot.wait(300)
    assert len(shown) == 1  # the first one's result was dropped
    assert shown[0].gained == [] and shown[0].lost  # disabling only loses: the second edit
    assert view.backtest.result is shown[0]


def test_a_suggestion_edited_goes_to_the_draft_not_live(view, qtbot):
    panel = view.suggestions
    find_suggestions(qtbot, panel)
    top = panel.selected()
    qtbot.mouseClick(panel.edit_button, Qt.MouseButton.LeftButton)
    assert view.tabs.currentIndex() == 0
    assert view.editor.rule_id.text() == top.rule.id
    assert view.draft.dirty and top.rule.id not in {r.id for r in view.console.engine.router.rules}
    assert view.act_apply.isEnabled()


def test_a_rule_without_id_or_intent_cannot_be_applied(view, qtbot):
    click_rule(qtbot, view, "hello")
    view.editor.rule_id.selectAll()
    qtbot.keyClick(view.editor.rule_id, Qt.Key.Key_Delete)
    assert view.editor.rule_error.text() == "the rule needs an id"
    assert not view.act_apply.isEnabled()
    qtbot.keyClicks(view.editor.rule_id, "hello")
    view.editor.intent.setEditText("")
    assert "needs an intent" in view.editor.rule_error.text()
    assert not view.act_apply.isEnabled()


# -- Apply and import ask before a change that takes over or empties the fast path --

TAKEOVER = "[aeiou]"  # about nothing in particular: most requests have a vowel
FIRE = "My router is on fire"  # no shipped rule's; the LLM's today


def asked(qtbot, view):
    """The question the view has open, as the operator sees it: shown, modal, on top."""
    qtbot.waitUntil(lambda: view.confirmation is not None and view.confirmation.isVisible())
    box = view.confirmation
    assert box.isModal() and QApplication.activeModalWidget() is box
    return box


def focus_table(qtbot, view) -> None:
    # Offscreen, no window manager hands activation back once a closed dialog is
    # deleted (and shortcuts need an active window): the operator's click, done here.
    window = view.window()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    view.table.setFocus()


def press_apply(qtbot, view) -> None:
    focus_table(qtbot, view)
    qtbot.keyClick(view.table, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)


def test_apply_of_an_edit_that_takes_over_traffic_asks_and_cancel_keeps_the_live_rules(
        view, qtbot, run_async):
    engine = view.console.engine
    live = engine.router
    click_rule(qtbot, view, "contact-hours")
    type_pattern(qtbot, view, TAKEOVER)
    assert view.act_apply.isEnabled()  # not a catch-all: the backtest is what tells

    press_apply(qtbot, view)
    box = asked(qtbot, view)
    assert box.go_button.text() == "&Apply anyway"
    reasons = box.informativeText()
    assert "replayed requests would be answered differently" in reasons
    assert "Rule contact-hours would be right on only" in reasons
    qtbot.mouseClick(box.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.confirmation is None)
    assert engine.router is live  # the router in use was never swapped
    assert run_async(engine.submit(Request(FIRE))).route is Route.LLM
    assert len(view.book.versions()) == 1 and view.draft.dirty  # the edits are kept
    assert "Not applied" in view.state.text()

    # Enter takes the default button, Cancel: a reflex never confirms.
    press_apply(qtbot, view)
    qtbot.keyClick(asked(qtbot, view), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: view.confirmation is None)
    assert engine.router is live

    press_apply(qtbot, view)
    qtbot.mouseClick(asked(qtbot, view).go_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.draft.dirty)
    outcome = run_async(engine.submit(Request(FIRE)))
    assert (outcome.route, outcome.rule_id) == (Route.RULE, "contact-hours")
    assert view.book.versions()[0].summary == "contact-hours: pattern"


def test_apply_pressed_before_the_backtest_finished_waits_for_it(view, qtbot):
    engine = view.console.engine
    live = engine.router
    click_rule(qtbot, view, "contact-hours")
    view.editor.pattern.selectAll()
    qtbot.keyClicks(view.editor.pattern, TAKEOVER)
    press_apply(qtbot, view)  # within the debounce: no result for this text yet
    assert "waits for the backtest" in view.state.text()
    assert engine.router is live and view.confirmation is None
    box = asked(qtbot, view)  # the backtest came in, and it asks
    assert "answered differently" in box.informativeText()
    qtbot.keyClick(box, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: view.confirmation is None)
    assert engine.router is live

    # A small edit applied before its backtest is in goes live once it is, unasked.
    view.undo()
    click_rule(qtbot, view, "hello")
    focus_table(qtbot, view)
    qtbot.keyClick(view.table, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    press_apply(qtbot, view)
    assert engine.router is live
    qtbot.waitUntil(lambda: engine.router is not live, timeout=20_000)
    assert view.confirmation is None
    assert "hello" not in {r.id for r in engine.router.rules if r.enabled}


def test_typing_on_after_apply_was_pressed_cancels_the_waiting_apply(view, qtbot):
    live = view.console.engine.router
    click_rule(qtbot, view, "hello")
    qtbot.keyClick(view.table, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    press_apply(qtbot, view)
    click_rule(qtbot, view, "contact-hours")
    type_pattern(qtbot, view, BROADER)  # a different draft than the one Apply was for
    qtbot.wait(300)
    assert view.console.engine.router is live and view.draft.dirty


@pytest.mark.parametrize("rules", ["rules: []\n", "disabled"])
def test_importing_a_file_with_no_rule_enabled_asks_first(view, qtbot, tmp_path, rules):
    engine = view.console.engine
    live = engine.router
    if rules == "disabled":
        rules = view.book.export_yaml().replace("enabled: true", "enabled: false")
    empty = tmp_path / "empty.yaml"
    empty.write_text(rules, encoding="utf-8")

    assert view.import_file(empty) is False
    box = asked(qtbot, view)
    assert "Importing empty.yaml would leave no rule enabled" in box.text()
    found = ("It has no rules." if rules.startswith("rules: []")
             else f"All {len(live.rules)} of its rules are disabled.")
    assert box.informativeText().startswith(f"• {found}")
    assert "allow_empty" not in box.informativeText()  # the core's words, not the operator's
    assert box.go_button.text() == "&Import anyway"
    qtbot.mouseClick(box.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.confirmation is None)
    assert engine.router is live and len(view.book.versions()) == 1
    assert "Not imported" in view.state.text()

    view.import_file(empty)
    qtbot.mouseClick(asked(qtbot, view).go_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: engine.router is not live)
    assert len(engine.router) == 0  # no rule enabled: what the operator confirmed
    assert view.history.model.rows[0][3] == "import"


def test_apply_when_the_backtest_cannot_run_asks_instead_of_waiting_for_ever(view, qtbot):
    engine = view.console.engine
    live = engine.router
    db = engine.settings.engine_db
    away = db.with_name("moved-away.sqlite")
    db.rename(away)  # the engine keeps its open file; the backtest can't open the path
    try:
        view.refresh()  # read the traffic again: it is gone
        click_rule(qtbot, view, "hello")
        focus_table(qtbot, view)
        qtbot.keyClick(view.table, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
        press_apply(qtbot, view)
        box = asked(qtbot, view)
        reasons = box.informativeText()
        assert reasons.startswith("• The backtest failed: ")
        assert "so what these edits change is unknown." in reasons
        assert engine.router is live
        qtbot.mouseClick(box.go_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: engine.router is not live)
        assert "hello" not in {r.id for r in engine.router.rules if r.enabled}
    finally:
        away.rename(db)


def test_traffic_answered_while_editing_reaches_the_backtest_without_a_whole_read(
        view, qtbot, run_async, monkeypatch):
    """Every little while the sample takes in what was answered since, read and routed
    alone: the operator's next backtest counts it, and the traffic is not read whole."""
    from console import backtest_runner

    reads: list[int] = []
    load = backtest_runner.load_recorded
    monkeypatch.setattr(backtest_runner, "load_recorded",
                        lambda *args: reads.append(1) or load(*args))
    monkeypatch.setattr(backtest_runner, "TOP_UP_AFTER_S", 0.0)  # every backtest looks
    click_rule(qtbot, view, "contact-hours")
    type_pattern(qtbot, view, BROADER)
    before = view.backtest.result
    run_async(view.console.engine.submit(Request(LOCKED, customer_id=7)))
    type_pattern(qtbot, view, BROADER.replace("locked", "locked|lock"))
    after = view.backtest.result
    assert after.total == before.total + 1
    assert after.count("gained") == before.count("gained") + 1  # the new one's text gains
    assert reads == []


def test_the_sample_size_comes_from_the_settings(view, qtbot):
    total = view.backtest.result.total if view.backtest.result else None
    view.console.engine.settings.backtest.sample = 100
    click_rule(qtbot, view, "contact-hours")
    type_pattern(qtbot, view, BROADER)
    assert total != 100 and view.backtest.result.total == 100


def test_a_backtest_that_first_reads_the_traffic_says_so(view, qtbot):
    """A first look, a Refresh or a new sample size reads the recorded traffic whole
    (seconds, for a million): the panel says so rather than a bare 'Backtesting…'."""
    said: list[str] = []
    view.runner.started.connect(lambda _n: said.append(view.backtest.status.text()))
    view.console.engine.settings.backtest.sample = 100
    click_rule(qtbot, view, "contact-hours")
    type_pattern(qtbot, view, BROADER)
    type_pattern(qtbot, view, BROADER.replace("locked", "locked|lock"))
    assert said[0] == "Reading the newest 100 recorded requests, then backtesting…"
    assert said[-1] == "Backtesting…"  # the sample is loaded: the next one only backtests
