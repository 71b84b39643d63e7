"""The main window: docks for feed, detail, compose, traffic and charts; menus with
shortcuts; status-bar segments; a remembered layout and theme.

The window builds its panels from the engine and the bridge it is given and
connects them in `_wire`, the one place signals are wired. It owns no engine
state: the composition root (`console.app`) creates and closes the engine.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QStyle,
    QToolBar,
    QWidget,
)

from agentcore import (
    ClaimSession,
    Engine,
    Escalation,
    EscalationState,
    KeyringCredentials,
    Outcome,
    QueueWatcher,
    RuleBook,
    SavedReplies,
    Settings,
)
from agentcore.settings import EscalationSettings
from console import message
from console.backtest_runner import BacktestRunner
from console.bridge import EngineBridge
from console.charts import ChartsPanel
from console.compose import ComposePanel
from console.detail import DetailPanel
from console.errors import ErrorReporter
from console.escalation_context import EscalationContextPanel
from console.escalations_view import QueuePanel
from console.feed import FeedModel, FeedPanel
from console.message import SHOWN_MS, Level
from console.notifier import DesktopNotifier, Notifier
from console.reply_draft import drafter
from console.rules_view import RulesView
from console.settings_dialog import SettingsDialog
from console.statusbar import (
    BreakerSegment,
    DollarsSegment,
    EscalationsSegment,
    RateSegment,
)
from console.theme import Theme, apply_theme
from console.traffic import TrafficGenerator, TrafficPanel

log = logging.getLogger("console.window")
T = TypeVar("T")

# Bump when docks are added or renamed: Qt then ignores a saved layout it can't apply.
STATE_VERSION = 3
KEY_GEOMETRY = "window/geometry"
KEY_STATE = "window/state"
KEY_THEME = "window/theme"
KEY_RATE = "traffic/rate"


def _stored(store: QSettings, key: str, convert: Callable[[Any], T], default: T) -> T:
    """A remembered value, or the default when it is missing or unreadable (a hand edit)."""
    value = store.value(key)
    if value is None:
        return default
    try:
        return convert(value)
    except (TypeError, ValueError):
        log.warning("ignoring the stored %s: %r", key, value)
        return default


class MainWindow(QMainWindow):
    closed = Signal()  # after the layout is saved: the composition root shuts down

    def __init__(self, engine: Engine, bridge: EngineBridge, *, store: QSettings,
                 settings_path: Path, credentials: KeyringCredentials,
                 corpus: Sequence[dict[str, Any]], errors: ErrorReporter | None = None,
                 spent_today: float = 0.0, notifier: Notifier | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.bridge = bridge
        self.store = store
        self.settings_path = settings_path
        self.credentials = credentials
        self.errors = errors if errors is not None else ErrorReporter(self)
        self.errors.window = self
        self.settings_dialog: SettingsDialog | None = None
        self.setObjectName("main window")
        self.setDockNestingEnabled(True)

        self.feed_model = FeedModel(parent=self)
        self.feed = FeedPanel(self.feed_model)
        self.detail = DetailPanel()
        self.compose = ComposePanel(engine)
        rate = _stored(store, KEY_RATE, float, 5.0)
        self.traffic = TrafficGenerator(engine, corpus, rate=rate, parent=self)
        self.traffic_panel = TrafficPanel(self.traffic)
        self.charts = ChartsPanel(bridge, engine)
        self.notifier = notifier if notifier is not None else DesktopNotifier(
            self, self.statusBar().showMessage, on_click=self._show_queue)
        # Read at each use: the settings dialog may change the operator or the lease.
        def escalation_settings() -> EscalationSettings:
            return self.engine.settings.escalations

        self.queue_watcher = QueueWatcher(engine.escalations, engine.domain.at_stake)
        self.escalations = QueuePanel(self.queue_watcher, bridge, engine.clock,
                                      escalation_settings, self.notifier)
        queue = engine.escalations
        self.claim_session = ClaimSession(
            queue, engine.clock, escalation_settings,
            draft=drafter(lambda: escalation_settings().operator, queue.limits_for))
        self.saved_replies = SavedReplies(engine.store.replies, engine.clock)
        self.escalation = EscalationContextPanel(self.claim_session, queue.limits_for,
                                                 self.saved_replies)
        self.rules = RulesView(engine, RuleBook(engine), BacktestRunner(engine, parent=self),
                               operator=engine.settings.escalations.operator)

        self.breaker_segment = BreakerSegment(bridge, engine)
        self.rate_segment = RateSegment(bridge)
        self.escalations_segment = EscalationsSegment(bridge, engine.escalations)
        self.dollars_segment = DollarsSegment(bridge, spent_today=spent_today)
        for segment in (self.breaker_segment, self.rate_segment, self.escalations_segment,
                        self.dollars_segment):
            self.statusBar().addPermanentWidget(segment)

        self._build_docks()
        self._build_actions()
        self._build_menus_and_toolbar()
        self._wire()
        self._default_state = self.saveState(STATE_VERSION)  # for View > Reset layout
        self.theme = Theme.DARK
        self._restore()
        self._update_title(engine.settings)

    # -- construction ------------------------------------------------------------

    def _dock(self, title: str, name: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # saveState keys docks by object name
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        return dock

    def _build_docks(self) -> None:
        self.feed_dock = self._dock("Live feed", "feed", self.feed)
        self.charts_dock = self._dock("Charts", "charts", self.charts)
        self.detail_dock = self._dock("Request detail", "detail", self.detail)
        self.compose_dock = self._dock("Compose", "compose", self.compose)
        self.traffic_dock = self._dock("Traffic", "traffic", self.traffic_panel)
        self.queue_dock = self._dock("Escalations", "escalations", self.escalations)
        self.escalation_dock = self._dock("Escalation", "escalation", self.escalation)
        self.rules_dock = self._dock("Rules", "rules", self.rules)
        self.docks = [self.feed_dock, self.charts_dock, self.detail_dock, self.compose_dock,
                      self.traffic_dock, self.queue_dock, self.escalation_dock, self.rules_dock]
        # No central widget: every panel is a dock the operator can move or hide.
        self.setCentralWidget(None)  # type: ignore[arg-type]  # Qt takes None: no widget
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.addDockWidget(left, self.feed_dock)
        self.addDockWidget(right, self.detail_dock)
        self.splitDockWidget(self.feed_dock, self.charts_dock, Qt.Orientation.Vertical)
        self.splitDockWidget(self.detail_dock, self.compose_dock, Qt.Orientation.Vertical)
        self.splitDockWidget(self.compose_dock, self.traffic_dock, Qt.Orientation.Vertical)
        self.resize(1560, 960)
        self.resizeDocks([self.feed_dock, self.detail_dock], [950, 610],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.feed_dock, self.charts_dock], [470, 430], Qt.Orientation.Vertical)
        self.resizeDocks([self.detail_dock, self.compose_dock, self.traffic_dock],
                         [640, 150, 110], Qt.Orientation.Vertical)
        # The queue, the rules and the escalation's context are tabs beside the feed
        # and the detail: "next escalation", claiming and Ctrl+Shift+U bring them
        # forward. Tabbed after the sizing: Qt ignores resizeDocks on tabbed docks.
        self.tabifyDockWidget(self.feed_dock, self.queue_dock)
        self.tabifyDockWidget(self.feed_dock, self.rules_dock)
        self.tabifyDockWidget(self.detail_dock, self.escalation_dock)
        self.feed_dock.raise_()
        self.detail_dock.raise_()

    def _action(self, text: str, shortcut: QKeySequence | str | None = None, *,
                tip: str = "", checkable: bool = False,
                icon: QStyle.StandardPixmap | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(f"{tip} ({action.shortcut().toString()})" if shortcut else tip)
        action.setCheckable(checkable)
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        self.addAction(action)  # shortcuts work even with the menu bar hidden
        return action

    def _build_actions(self) -> None:
        sp = QStyle.StandardPixmap
        self.act_settings = self._action("&Settings…", "Ctrl+,",
                                         tip="LLM endpoint, models, bounds, breaker")
        self.act_quit = self._action("&Quit", "Ctrl+Q")
        self.act_new = self._action("&New request", "Ctrl+N", tip="Type a request by hand")
        self.act_send = self._action("Se&nd request", "Ctrl+Return",
                                     tip="Send the composed request")
        self.act_traffic = self._action("&Start traffic", "Ctrl+R", checkable=True,
                                        tip="Replay the sample corpus at the set rate",
                                        icon=sp.SP_MediaPlay)
        self.act_find = self._action("&Find in feed", "Ctrl+F",
                                     tip="Search the feed")
        self.act_clear_filters = self._action("Clear &filters", "Ctrl+Shift+F",
                                              tip="Show every row again")
        self.act_clear_feed = self._action("Clear the feed", tip="Forget the rows shown")
        self.act_theme = self._action("&Dark theme", "Ctrl+T", checkable=True,
                                      tip="Switch between the dark and the light theme")
        self.act_reset_layout = self._action("&Reset layout", tip="Put every panel back")
        self.act_force_open = self._action("Force breaker &open", tip="Stop calling the LLM")
        self.act_force_closed = self._action("Force breaker &closed",
                                             tip="Call the LLM whatever fails")
        self.act_release = self._action("Breaker &automatic", tip="Let failures decide again")
        self.act_shortcuts = self._action("&Keyboard shortcuts", "F1")
        # The escalation actions belong to their panels (their buttons show them);
        # added here too so their shortcuts work wherever the focus is.
        self.escalation_actions = [self.escalations.act_next,
                                   *self.escalation.actions_in_order]
        self.addActions(self.escalation_actions)
        self.act_rules = self._action("R&ules", "Ctrl+Shift+U",
                                      tip="Edit, backtest and apply the rules")

    def _build_menus_and_toolbar(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        file.addAction(self.act_settings)
        file.addSeparator()
        file.addAction(self.act_quit)
        request = bar.addMenu("&Request")
        request.addActions([self.act_new, self.act_send])
        traffic = bar.addMenu("&Traffic")
        traffic.addAction(self.act_traffic)
        traffic.addAction(self.act_rules)
        feed = bar.addMenu("F&eed")
        feed.addActions([self.act_find, self.act_clear_filters, self.act_clear_feed])
        escalations = bar.addMenu("E&scalations")
        escalations.addActions(self.escalation_actions[:3])  # next, claim, release
        escalations.addSeparator()
        escalations.addActions(self.escalation_actions[3:])
        llm = bar.addMenu("&LLM")
        llm.addActions([self.act_force_open, self.act_force_closed, self.act_release])
        view = bar.addMenu("&View")
        view.addActions([dock.toggleViewAction() for dock in self.docks])
        view.addSeparator()
        view.addActions([self.act_theme, self.act_reset_layout])
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.act_shortcuts)

        toolbar = QToolBar("Main toolbar", self)
        toolbar.setObjectName("main toolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.setMovable(False)
        toolbar.addActions([self.act_traffic, self.act_new, self.act_settings])
        self.addToolBar(toolbar)

    def _wire(self) -> None:
        """Every connection between panels, the bridge and the actions, in one place."""
        bridge, feed, traffic = self.bridge, self.feed, self.traffic
        bridge.outcome.connect(self.feed_model.add)
        feed.selected.connect(self.detail.show_outcome)
        self.compose.answered.connect(self._show_composed)
        traffic.running_changed.connect(self._on_traffic_running)
        self.traffic_panel.rate.valueChanged.connect(
            lambda rate: self.store.setValue(KEY_RATE, rate))
        self.errors.user_error.connect(lambda text: self.statusBar().showMessage(text, 10_000))

        self.act_settings.triggered.connect(self.open_settings)
        self.act_quit.triggered.connect(self.close)
        self.act_new.triggered.connect(self._focus_compose)
        self.act_send.triggered.connect(self.compose.send)
        self.act_traffic.triggered.connect(
            lambda checked: traffic.start() if checked else traffic.pause())
        self.act_find.triggered.connect(feed.focus_search)
        self.act_clear_filters.triggered.connect(feed.clear_filters)
        self.act_clear_feed.triggered.connect(self._clear_feed)
        self.act_theme.toggled.connect(
            lambda dark: self.set_theme(Theme.DARK if dark else Theme.LIGHT))
        self.act_reset_layout.triggered.connect(self.reset_layout)
        breaker = self.engine.breaker
        self.act_force_open.triggered.connect(lambda: breaker.force_open())
        self.act_force_closed.triggered.connect(lambda: breaker.force_closed())
        self.act_release.triggered.connect(lambda: breaker.release())
        self.act_shortcuts.triggered.connect(self._show_shortcuts)
        self.act_rules.triggered.connect(self.show_rules)
        self.rules.message.connect(lambda text: self.statusBar().showMessage(text, 8000))

        self.escalations.selected.connect(self.escalation.show_item)
        self.escalations.selected.connect(lambda _id: self._raise(self.escalation_dock))
        self.escalations.act_next.triggered.connect(lambda: self._raise(self.queue_dock))
        self.queue_dock.visibilityChanged.connect(self.escalations.set_in_view)
        # A bound method, not a lambda: the bridge outlives a closed window.
        message.global_bridge.shown.connect(self._show_message)
        bridge.escalation_changed.connect(self.escalation.on_changed)
        self.escalation.changed.connect(self._settle_in_feed)
        self.escalations.resolved.connect(self._settle_in_feed)  # by another console, too

    # -- state kept between runs -----------------------------------------------------

    def _restore(self) -> None:
        geometry = self.store.value(KEY_GEOMETRY)
        if isinstance(geometry, QByteArray | bytes) and not self.restoreGeometry(geometry):
            log.warning("saved window geometry ignored: unreadable")
        state = self.store.value(KEY_STATE)
        if isinstance(state, QByteArray | bytes) and not self.restoreState(state, STATE_VERSION):
            log.warning("saved dock layout ignored: from another version")
        self.set_theme(_stored(self.store, KEY_THEME, Theme, Theme.DARK))

    def save_layout(self) -> None:
        self.store.setValue(KEY_GEOMETRY, self.saveGeometry())
        self.store.setValue(KEY_STATE, self.saveState(STATE_VERSION))
        self.store.setValue(KEY_THEME, self.theme.value)
        self.store.sync()

    def reset_layout(self) -> None:
        for dock in self.docks:
            dock.show()
        self.restoreState(self._default_state, STATE_VERSION)

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, theme)
        if self.act_theme.isChecked() != (theme is Theme.DARK):
            self.act_theme.setChecked(theme is Theme.DARK)
        self.store.setValue(KEY_THEME, theme.value)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        self.traffic.pause()
        self.escalations_segment.stop()
        self.escalations.stop()
        self.escalation.stop()
        if isinstance(self.notifier, DesktopNotifier):
            self.notifier.close()
        self.rules.close_runner()  # its worker thread reads the engine's database
        log.info("window closed")
        super().closeEvent(event)
        self.closed.emit()

    # -- slots --------------------------------------------------------------------

    def _show_message(self, level: str, text: str) -> None:
        self.statusBar().showMessage(text, SHOWN_MS[Level(level)])

    def _show_queue(self) -> None:
        self.showNormal()
        self.activateWindow()
        self._raise(self.queue_dock)

    def _raise(self, dock: QDockWidget) -> None:
        dock.show()
        dock.raise_()

    def _settle_in_feed(self, item: Escalation | None) -> None:
        """An item an operator resolved (here or in another console): its request's row
        in the feed says so."""
        if item is None or item.state is not EscalationState.RESOLVED or not item.outcome:
            return
        settled = item.outcome
        self.feed_model.settle(item.request_id, lambda shown: dataclasses.replace(
            shown, route=settled.route, status=settled.status, answer=settled.answer,
            latency_ms=settled.latency_ms, intent=settled.intent or shown.intent))

    def _focus_compose(self) -> None:
        self.compose_dock.show()
        self.compose_dock.raise_()
        self.compose.focus()

    def show_rules(self) -> None:
        self.rules_dock.show()
        self.rules_dock.raise_()
        self.rules.table.setFocus()

    def _show_composed(self, outcome: Outcome) -> None:
        # The operator sent it to watch it: select it, unless a filter hides it.
        self.feed_model.flush()
        self.feed.select_outcome(outcome)

    def _on_traffic_running(self, running: bool) -> None:
        self.act_traffic.setChecked(running)
        self.act_traffic.setText("Pause traffic" if running else "Start traffic")
        sp = QStyle.StandardPixmap
        icon = sp.SP_MediaPause if running else sp.SP_MediaPlay
        self.act_traffic.setIcon(self.style().standardIcon(icon))

    def _clear_feed(self) -> None:
        self.feed_model.clear()
        self.detail.show_outcome(None)

    def open_settings(self) -> SettingsDialog:
        if self.settings_dialog is None:
            dialog = SettingsDialog(self.engine, self.settings_path, self.credentials, self)
            dialog.applied.connect(self._on_settings_applied)
            dialog.finished.connect(lambda _result: self._settings_closed())
            self.settings_dialog = dialog
        # open(), not exec(): a nested event loop would re-enter the asyncio loop.
        self.settings_dialog.open()
        return self.settings_dialog

    def _settings_closed(self) -> None:
        if self.settings_dialog is not None:
            self.settings_dialog.deleteLater()
            self.settings_dialog = None

    def _on_settings_applied(self, settings: Settings) -> None:
        self._update_title(settings)
        self.rules.operator = settings.escalations.operator  # who rule versions name
        self.statusBar().showMessage(
            f"Settings applied: LLM {settings.llm.base_url or 'mock (demo)'}", 8000)

    def _update_title(self, settings: Settings) -> None:
        where = settings.llm.base_url or "demo, mock LLM"
        self.setWindowTitle(f"Hybrid Agent Console — {where}")

    def _show_shortcuts(self) -> None:
        native = QKeySequence.SequenceFormat.NativeText
        rows = [(a.text().replace("&", ""), a.shortcut().toString(native))
                for a in self.actions() if not a.shortcut().isEmpty()]
        text = "".join(f"<tr><td>{name}</td><td>&nbsp;&nbsp;<b>{keys}</b></td></tr>"
                       for name, keys in rows)
        box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts",
                          f"<table>{text}</table>", QMessageBox.StandardButton.Close, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
