"""The window as a desktop app: remembered layout and theme, shortcuts in the menus,
the status bar's segments, errors shown instead of a dead window."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMessageBox

from agentcore import Request, SettingsError
from console.main_window import KEY_GEOMETRY, KEY_STATE
from console.theme import Theme


def test_geometry_docks_and_theme_are_restored(make_console, settings, window_store_path,
                                               qtbot):
    first = make_console(settings)
    window = first.window
    window.show()
    window.resize(740, 600)  # inside the offscreen screen (800x800): no clamping
    window.charts_dock.hide()
    window.compose_dock.setFloating(True)
    window.set_theme(Theme.LIGHT)
    window.traffic_panel.rate.setValue(42)
    qtbot.waitUntil(lambda: window.size().width() == 740)
    make_console.close(first)  # closing saves

    saved = QSettings(str(window_store_path), QSettings.Format.IniFormat)
    assert saved.value(KEY_GEOMETRY) is not None and saved.value(KEY_STATE) is not None

    second = make_console(settings).window
    second.show()
    qtbot.waitExposed(second)
    assert (second.width(), second.height()) == (740, 600)
    assert second.charts_dock.isHidden()
    assert second.compose_dock.isFloating()
    assert not second.feed_dock.isHidden() and not second.feed_dock.isFloating()
    assert second.theme is Theme.LIGHT and not second.act_theme.isChecked()
    assert second.traffic_panel.rate.value() == 42

    second.reset_layout()
    assert not second.charts_dock.isHidden() and not second.compose_dock.isFloating()
    second.set_theme(Theme.DARK)  # the shared QApplication goes back to the default


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
        engine.submit(Request(f"I want a refund for order {order}", customer))))
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
    # With the queue, rules and escalation tabbed in, the detail (and the escalation's
    # context behind it) still get most of the right column, the charts their share.
    window = make_console(settings, rows=[]).window
    window.resize(1600, 1000)
    window.show()
    qtbot.waitUntil(lambda: window.detail_dock.height() > 0)
    assert window.detail_dock.height() > 3 * window.compose_dock.height()
    assert window.escalation_dock.height() > 3 * window.compose_dock.height()
    assert window.charts_dock.height() > 0.35 * (window.feed_dock.height()
                                                 + window.charts_dock.height())
