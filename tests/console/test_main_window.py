"""The window as a desktop app: remembered layout and theme, shortcuts in the menus,
the status bar's segments, errors shown instead of a dead window."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMessageBox

from agentcore import Request, SettingsError
from console.main_window import KEY_GEOMETRY, KEY_WORKSPACE
from console.theme import Theme
from console.workspaces import Workspace


def test_geometry_workspace_sizes_and_theme_are_restored(make_console, settings,
                                                        window_store_path, qtbot):
    first = make_console(settings)
    window = first.window
    window.show()
    window.resize(790, 640)  # inside the offscreen screen (restoreGeometry clamps to it)
    qtbot.waitUntil(lambda: window.size().width() == 790)
    watch = window.workspaces.splitters["watch"]
    qtbot.waitUntil(lambda: sum(watch.sizes()) > 0)
    watch.setSizes([400, 385])  # the operator drags the feed wider
    dragged = watch.sizes()
    window.show_workspace(Workspace.ESCALATIONS)
    window.set_theme(Theme.LIGHT)
    window.traffic_panel.rate.setValue(42)
    make_console.close(first)  # closing saves

    saved = QSettings(str(window_store_path), QSettings.Format.IniFormat)
    assert saved.value(KEY_GEOMETRY) is not None and saved.value(KEY_WORKSPACE) == "escalations"

    second = make_console(settings).window
    second.show()
    qtbot.waitExposed(second)
    assert (second.width(), second.height()) == (790, 640)
    assert second.workspaces.current is Workspace.ESCALATIONS  # where the operator left off
    assert second.workspace_actions[Workspace.ESCALATIONS].isChecked()
    second.show_workspace(Workspace.WATCH)
    qtbot.waitUntil(lambda: second.workspaces.splitters["watch"].sizes() == dragged)
    assert second.theme is Theme.LIGHT and not second.act_theme.isChecked()
    assert second.traffic_panel.rate.value() == 42

    second.reset_layout()
    feed, detail = second.workspaces.splitters["watch"].sizes()
    assert feed > detail and feed != dragged[0]  # the default shares again
    second.set_theme(Theme.DARK)  # the shared QApplication goes back to the default


def test_one_key_per_job_switches_the_whole_window(console, qtbot):
    window = console.window
    window.resize(1024, 700)
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    for key, workspace, shown in ((Qt.Key.Key_2, Workspace.RULES, window.rules),
                                  (Qt.Key.Key_3, Workspace.ESCALATIONS, window.escalation),
                                  (Qt.Key.Key_1, Workspace.WATCH, window.feed)):
        qtbot.keyClick(window, key, Qt.KeyboardModifier.ControlModifier)
        assert window.workspaces.current is workspace
        qtbot.waitUntil(shown.isVisible)
    # The rules view alone in its workspace: the window's whole width, most of its height.
    window.show_workspace(Workspace.RULES)
    qtbot.waitUntil(lambda: window.rules.width() > 0.95 * window.width())
    assert window.rules.height() > 0.7 * window.height()
    assert not window.feed.isVisible()
    # "Next escalation" brings the escalations workspace forward.
    window.show_workspace(Workspace.WATCH)
    window.escalations.act_next.trigger()
    assert window.workspaces.current is Workspace.ESCALATIONS


def test_every_workspace_stays_usable_at_1024x700(make_console, settings, qtbot):
    window = make_console(settings, rows=[]).window
    window.resize(1024, 700)
    window.show()
    qtbot.waitExposed(window)
    assert window.width() == 1024  # no panel's minimum forces the window wider
    assert window.minimumSizeHint().width() <= 1024
    # Watch: the feed shows a dozen rows' height, the detail most of its column.
    qtbot.waitUntil(lambda: window.feed.view.height() > 200)
    assert window.detail.height() > 3 * window.compose.height()
    assert window.feed.width() >= 400 and window.detail.width() >= 360
    window.show_workspace(Workspace.ESCALATIONS)
    qtbot.waitUntil(window.escalation.isVisible)
    assert window.escalations.width() >= 260 and window.escalation.width() >= 480
    assert window.escalation.height() > 0.7 * window.height()
    assert window.width() == 1024


def test_f1_lists_every_shortcut_where_it_works(console):
    sections = dict(console.window.shortcut_sections())
    rules = dict(sections["Rules workspace"])
    assert rules["Apply"] == "Ctrl+S" and rules["Undo"] == "Ctrl+Z"
    assert "Ctrl+Shift+Z" in rules["Redo"]
    everywhere = dict(sections["Everywhere"])
    assert everywhere["Watch"] == "Ctrl+1" and everywhere["Keyboard shortcuts"] == "F1"
    escalations = dict(sections["Escalations workspace"])
    assert escalations["Next escalation"] == "Ctrl+J"
    assert escalations["Insert saved reply"] == "Ctrl+Shift+M"  # a part of the reply box


def test_common_actions_have_shortcuts_shown_in_the_menus(console, qtbot):
    window = console.window
    window.show()
    menu_actions = {a.text().replace("&", ""): a for menu in window.menuBar().actions()
                    for a in menu.menu().actions()}
    expected = {"New request": "Ctrl+N", "Send request": "Ctrl+Return",
                "Start traffic": "Ctrl+R", "Settings…": "Ctrl+,", "Dark theme": "Ctrl+T",
                "Clear filters": "Ctrl+Shift+F", "Quit": "Ctrl+Q", "Find in feed": "Ctrl+F"}
    for text, keys in expected.items():
        assert menu_actions[text].shortcut() == QKeySequence(keys), text

    # Ctrl+N puts the cursor in the compose box, wherever the focus was.
    window.feed.view.setFocus()
    window.act_new.trigger()
    qtbot.waitUntil(lambda: window.compose.text.hasFocus())
    # The theme toggles and the application follows.
    dark_window = QApplication.palette().window().color().lightness()
    window.act_theme.trigger()
    assert window.theme is Theme.LIGHT
    assert QApplication.palette().window().color().lightness() > dark_window
    window.act_theme.trigger()
    assert window.theme is Theme.DARK


def test_no_two_actions_share_a_shortcut(console):
    # Two actions on one key make Qt do neither ("ambiguous shortcut"): a dead key.
    owners: dict[str, list[QAction]] = {}
    for action in console.window.findChildren(QAction):
        for sequence in action.shortcuts():
            owners.setdefault(sequence.toString(), []).append(action)
    shared = {keys: [a.text() for a in actions] for keys, actions in owners.items()
              if len(actions) > 1}
    assert shared == {}
    assert len(owners) >= 25  # the window's, the queue's and the rules view's


def test_settings_open_from_the_menu(console, qtbot):
    window = console.window
    window.show()
    window.act_settings.trigger()
    dialog = window.settings_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.reject()
    qtbot.waitUntil(lambda: window.settings_dialog is None)


def test_status_bar_counts_escalations_and_dollars(console, qtbot, run_async):
    window = console.window
    engine = console.engine
    qtbot.waitUntil(lambda: window.escalations_segment.count == 0)
    assert "0" in window.escalations_segment.text()

    order, customer = engine.domain.shop.conn.execute(
        "SELECT id, customer_id FROM orders WHERE status = 'delivered' LIMIT 1").fetchone()
    outcomes = run_async(asyncio.gather(
        engine.submit(Request("I want to talk to a human agent now", customer)),
        engine.submit(Request(f"I want a refund for order {order}, it arrived damaged", customer))))
    escalated = [o for o in outcomes if str(o.status) == "escalated"]
    assert escalated
    qtbot.waitUntil(lambda: window.escalations_segment.count == len(escalated))
    spent = sum(o.usage.dollars for o in outcomes)
    assert spent > 0
    assert abs(window.dollars_segment.dollars - spent) < 1e-12
    assert f"${spent:,.4f}" in window.dollars_segment.text()
    window.rate_segment.refresh()
    assert window.rate_segment.rate > 0


def test_dollars_today_survive_a_restart(make_console, settings, qtbot, run_async):
    first = make_console(settings)
    outcome = run_async(first.engine.submit(Request("The promo code field gives an error")))
    assert outcome.usage.dollars > 0
    make_console.close(first)
    second = make_console(settings)
    assert abs(second.window.dollars_segment.dollars - outcome.usage.dollars) < 1e-9


def test_errors_are_shown_not_fatal(console, qtbot, qasync_loop):
    window = console.window
    window.show()
    reporter = window.errors
    reporter.install(qasync_loop)
    try:
        def broken() -> None:
            raise RuntimeError("a bug in a callback")

        qasync_loop.call_soon(broken)
        qtbot.waitUntil(lambda: reporter.box is not None and reporter.box.isVisible())
        assert "a bug in a callback" in reporter.box.informativeText()

        def user_mistake() -> None:
            raise SettingsError("the base URL must start with http")

        qasync_loop.call_soon(user_mistake)
        qtbot.waitUntil(lambda: "base URL" in window.statusBar().currentMessage())
        assert window.isVisible()  # the window carries on
        box = reporter.box
        box.button(QMessageBox.StandardButton.Close).click()
        qtbot.waitUntil(lambda: reporter.box is None)
    finally:
        reporter.uninstall()


def test_closing_the_window_pauses_traffic(console, qtbot):
    window = console.window
    window.show()
    window.traffic.start()
    qtbot.waitUntil(lambda: window.traffic.submitted > 0)
    window.activateWindow()
    qtbot.waitActive(window)
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible())
    assert not window.traffic.running


def test_a_fresh_layout_gives_the_reading_panels_the_room(make_console, settings, qtbot):
    window = make_console(settings, rows=[]).window
    window.resize(1600, 1000)
    window.show()
    qtbot.waitUntil(lambda: window.detail.height() > 0)
    assert window.detail.height() > 3 * window.compose.height()
    assert window.charts.height() > 0.35 * (window.feed.height() + window.charts.height())
    window.show_workspace(Workspace.ESCALATIONS)
    qtbot.waitUntil(lambda: window.escalation.height() > 0)
    assert window.escalation.width() > 1.5 * window.escalations.width()
