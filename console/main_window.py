"""The main window: four workspaces (watch, rules, escalations, audit;
`console.workspaces`) switched with Ctrl+1/2/3/4, menus with shortcuts, status-bar
segments, messages from any module (`console.message`), a remembered layout and theme.

The window builds its widgets over the controllers the composition root
(`console.app.build_console`) built, and connects them in `_wire`, the one place
signals are wired. It owns no engine state: the root creates and closes the engine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QByteArray, QSettings, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QMainWindow,
    QStyle,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from agentcore import (
    Engine,
    Escalation,
    EscalationState,
    KeyringCredentials,
    Outcome,
    Request,
    Settings,
    StorageError,
    database_name,
)
from console import message, window_menus
from console.audit_model import AuditListing
from console.audit_view import AuditView
from console.bridge import EngineBridge
from console.compose import ComposePanel
from console.controllers import Controllers
from console.detail import DetailPanel
from console.detail_model import RequestDetail
from console.errors import ErrorReporter
from console.escalation_context import EscalationContextPanel
from console.escalations_view import QueuePanel
from console.exports import Exporter
from console.feed import FeedModel
from console.feed_backfill import recent
from console.feed_panel import SHOW_NEW_KEYS, FeedPanel
from console.intake_host import IntakeHost, IntakeSegment
from console.learned_panel import LearnedPanel
from console.notifier import DesktopNotifier, Notifier
from console.outage_banner import OutageBanner
from console.rules_view import RulesView
from console.settings_dialog import SettingsDialog
from console.station import AttachedSegment, LinkBanner
from console.statusbar import (
    BreakerSegment,
    DollarsSegment,
    EscalationsSegment,
    RateSegment,
    ToolsSegment,
)
from console.theme import Theme, apply_theme
from console.traffic import TrafficPanel
from console.workspaces import SHORTCUTS, TIPS, TITLES, Workspace, Workspaces

if TYPE_CHECKING:
    from console.charts import ChartsPanel

log = logging.getLogger("console.window")
T = TypeVar("T")

KEY_GEOMETRY = "window/geometry"
KEY_WORKSPACE = "window/workspace"
KEY_SPLITTERS = "window/splitters/"  # + a splitter's name: its sizes
KEY_THEME = "window/theme"
KEY_RULES_TAB = "window/rules_tab"  # the Rules workspace's tab: rule set or learned tier
KEY_RATE = "traffic/rate"


def stored(store: QSettings, key: str, convert: Callable[[Any], T], default: T) -> T:
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
    charts_ready = Signal()  # built, after the window's first frame

    def __init__(self, engine: Engine, bridge: EngineBridge, parts: Controllers, *,
                 store: QSettings, settings_path: Path, credentials: KeyringCredentials,
                 errors: ErrorReporter | None = None, spent_today: float = 0.0,
                 notifier: Notifier | None = None, parent: QWidget | None = None) -> None:
        """`parts`: the controllers the composition root built (`console.app`); the
        window builds the widgets over them, lays them out and wires them."""
        super().__init__(parent)
        self.engine = engine
        self.bridge = bridge
        self.parts = parts
        self.store = store
        self.settings_path = settings_path
        self.credentials = credentials
        self.errors = errors if errors is not None else ErrorReporter(self)
        self.errors.window = self
        self.settings_dialog: SettingsDialog | None = None
        self.setObjectName("main window")

        self.feed_model = FeedModel(parent=self)
        self.feed = FeedPanel(self.feed_model)
        self.detail_model = RequestDetail()
        self.detail = DetailPanel(self.detail_model)
        self.compose = ComposePanel(engine.submit)
        self.traffic = parts.traffic
        self.traffic_panel = TrafficPanel(self.traffic)
        # The charts are built once the window has shown its first frame: pyqtgraph
        # (and numpy under it) is a third of the start-up, and nothing else needs it.
        self._charts: ChartsPanel | None = None
        self.charts_slot = QWidget()
        QVBoxLayout(self.charts_slot).setContentsMargins(0, 0, 0, 0)
        self.notifier = notifier if notifier is not None else DesktopNotifier(
            self, self.statusBar().showMessage, on_click=self._show_queue)
        self.escalations = QueuePanel(parts.queue_watcher, bridge, engine.clock,
                                      parts.escalation_settings, self.notifier)
        self.escalation = EscalationContextPanel(parts.claim_session,
                                                 engine.escalations.limits_for,
                                                 parts.saved_replies)
        self.rules = RulesView(parts.rule_session, parts.backtests)
        self.exporter = Exporter(self, engine.store, self.feed.proxy, self.escalations)
        self.learned = LearnedPanel(parts.learned)
        self.audit = AuditView(AuditListing(engine.store.audit, engine.clock.now))
        # One banner for an LLM outage, not a notice per request (issue 13, item 4).
        self.outage_banner = OutageBanner(parts.outage, engine.escalations,
                                          parts.escalation_settings, engine.clock.now,
                                          show_items=self._show_outage_items)

        self.breaker_segment = BreakerSegment(bridge, engine.breaker)
        self.rate_segment = RateSegment(bridge)
        self.escalations_segment = EscalationsSegment(bridge, engine.escalations)
        self.dollars_segment = DollarsSegment(bridge, spent_today=spent_today)
        self.tools_segment = ToolsSegment(bridge, parts.tool_states,
                                          on_click=self.open_tool_servers)
        self.intake_host = IntakeHost(engine, credentials)  # Settings > Intake API
        self.intake_segment = IntakeSegment(self.intake_host,
                                            on_click=self.open_intake_settings)
        for segment in (self.tools_segment, self.breaker_segment, self.rate_segment,
                        self.escalations_segment, self.dollars_segment, self.intake_segment):
            self.statusBar().addPermanentWidget(segment)
        # An attached station (`--attach`): the services answer, the shared database is
        # what it shows; the link to it is watched (`console.station`).
        self.link_banner = LinkBanner()
        self.attached_segment: AttachedSegment | None = None
        self._refill: asyncio.Task[None] | None = None
        self._select_when_seen: Outcome | None = None  # composed, its row not in yet
        if engine.attach_to is not None:
            self.attached_segment = AttachedSegment(database_name(engine.settings),
                                                    engine.attach_to)
            self.statusBar().addPermanentWidget(self.attached_segment)
            self.intake_segment.hide()  # it hosts none: the segment above names the one

        self._build_workspaces()
        self._build_actions()
        window_menus.build_menus_and_toolbar(self)
        self._wire()
        self.theme = Theme.DARK
        self._theme_applied = False
        self._restore()
        self._update_title(engine.settings)
        if engine.attached:
            self._as_station()

    # -- construction ------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._charts is None:  # once the first frame is out
            QTimer.singleShot(0, self, self._build_charts)  # not if the window is gone

    def _build_charts(self) -> None:
        self.charts  # noqa: B018 (the property builds them)

    @property
    def charts(self) -> ChartsPanel:
        """The charts panel, built now if the window has not built it yet."""
        if self._charts is None:
            from console.charts import ChartsPanel  # the first use imports pyqtgraph

            engine = self.engine
            self._charts = ChartsPanel(self.bridge, now=engine.clock.now,
                                       breaker_state=str(engine.breaker.state),
                                       history=engine.store.requests.history)
            layout = self.charts_slot.layout()
            assert layout is not None
            layout.addWidget(self._charts)
            self.charts_ready.emit()
        return self._charts

    def _build_workspaces(self) -> None:
        # The rules and the learned tier answer the same traffic before the LLM: one
        # workspace, a tab each (the learned tier's figures need the whole page).
        self.rules_tabs = QTabWidget()
        self.rules_tabs.setObjectName("rules tabs")
        self.rules_tabs.setDocumentMode(True)
        self.rules_tabs.addTab(self.rules, "Rule set")
        self.rules_tabs.addTab(self.learned, "Learned tier")
        self.workspaces = Workspaces(
            feed=self.feed, charts=self.charts_slot, detail=self.detail, compose=self.compose,
            traffic=self.traffic_panel, rules=self.rules_tabs, queue=self.escalations,
            context=self.escalation, audit=self.audit)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        # Banners (an LLM outage) sit above whichever workspace is shown.
        self.banners = QVBoxLayout()
        self.banners.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.banners)
        self.banners.addWidget(self.link_banner)
        self.banners.addWidget(self.outage_banner)
        layout.addWidget(self.workspaces, 1)
        self.setCentralWidget(central)
        self.resize(1560, 960)

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
        self.act_export_feed = self._action("&Export feed…", tip="Every recorded request the "
                                            "feed's filters choose, as CSV or JSONL")
        self.act_export_queue = self._action("Export &escalations…", tip="The queue's listing "
                                             "as shown (waiting or resolved), as CSV or JSONL")
        self.act_export_audit = self._action("Export &audit listing…", tip="Who did what, as "
                                             "the Audit workspace shows it, as CSV or JSONL")
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
        self.act_show_new = self._action("Show &new requests", SHOW_NEW_KEYS,
                                         tip="Let in the requests waiting behind the "
                                             "'N new' pill and go to the newest")
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
        # One key per job: each workspace uses the whole window.
        self.workspace_actions: dict[Workspace, QAction] = {}
        group = QActionGroup(self)
        for workspace in Workspace:
            action = self._action(TITLES[workspace], SHORTCUTS[workspace],
                                  tip=TIPS[workspace], checkable=True)
            group.addAction(action)
            self.workspace_actions[workspace] = action
        self.workspace_actions[Workspace.WATCH].setChecked(True)
        self.act_rules = self.workspace_actions[Workspace.RULES]
        self.act_learned = self._action("&Learned tier",
                                        tip="The learned intent tier: train, backtest, "
                                            "switch on, versions")

    def _wire(self) -> None:
        """Every connection between panels, the bridge and the actions, in one place."""
        bridge, feed, traffic = self.bridge, self.feed, self.traffic
        bridge.outcome.connect(self.feed_model.add)
        feed.selected.connect(self.detail.show_outcome)
        detail = self.detail_model
        bridge.accepted.connect(detail.on_accepted)
        bridge.span_finished.connect(detail.on_span)
        bridge.outcome.connect(detail.on_outcome)
        feed.hidden_by_filter.connect(detail.set_hidden_by_filter)
        self.detail.clear_filters.connect(feed.clear_filters)
        self.compose.submitted.connect(self._follow_composed)
        self.compose.answered.connect(self._show_composed)
        self.feed_model.rows_changed.connect(self._select_composed_row)
        traffic.running_changed.connect(self._on_traffic_running)
        self.traffic_panel.rate.valueChanged.connect(
            lambda rate: self.store.setValue(KEY_RATE, rate))

        self.act_settings.triggered.connect(self.open_settings)
        self.act_quit.triggered.connect(self.close)
        self.act_new.triggered.connect(self._focus_compose)
        self.act_send.triggered.connect(self.compose.send)
        self.act_traffic.triggered.connect(
            lambda checked: traffic.start() if checked else traffic.pause())
        self.act_find.triggered.connect(feed.focus_search)
        self.act_clear_filters.triggered.connect(feed.clear_filters)
        self.act_clear_feed.triggered.connect(self._clear_feed)
        self.act_show_new.triggered.connect(self._show_new_requests)
        self.act_export_feed.triggered.connect(self.exporter.choose_feed)
        self.act_export_queue.triggered.connect(self.exporter.choose_escalations)
        self.act_export_audit.triggered.connect(self._export_audit)
        self.audit.export_button.clicked.connect(self._export_audit)
        self.act_theme.toggled.connect(
            lambda dark: self.set_theme(Theme.DARK if dark else Theme.LIGHT))
        self.act_reset_layout.triggered.connect(self.reset_layout)
        breaker = self.engine.breaker
        self.act_force_open.triggered.connect(lambda: breaker.force_open())
        self.act_force_closed.triggered.connect(lambda: breaker.force_closed())
        self.act_release.triggered.connect(lambda: breaker.release())
        self.act_shortcuts.triggered.connect(lambda: window_menus.show_shortcuts(self))
        self.act_learned.triggered.connect(self.show_learned)
        # Ctrl+2 opens the Rules workspace at the tab the operator left it on.
        self.act_rules.triggered.connect(
            lambda: self.show_rules() if self.rules_tabs.currentWidget() is self.rules
            else self.show_learned())

        self.escalations.selected.connect(self.escalation.show_item)
        self.escalations.act_next.triggered.connect(
            lambda: self.show_workspace(Workspace.ESCALATIONS))
        for workspace, action in self.workspace_actions.items():
            action.triggered.connect(lambda _checked, w=workspace: self.show_workspace(w))
        self.workspaces.changed.connect(self._on_workspace)
        # A bound method, not a lambda: the bridge outlives a closed window.
        message.global_bridge.shown.connect(self._show_message)
        bridge.escalation_changed.connect(self.escalation.on_changed)
        self.escalation.changed.connect(self._settle_in_feed)
        self.escalations.resolved.connect(self._settle_in_feed)  # by another console, too

        bridge.rules_changed.connect(self.rules.on_rules_changed)
        bridge.store_changed.connect(self._on_store_changed)
        bridge.database_link.connect(self._on_database_link)

    def _as_station(self) -> None:
        """An attached station makes no traffic of its own (the services' clients do),
        and its feed starts from the shared database's recent rows."""
        why = "An attached station sends no demo traffic: the services answer their " \
              "own clients' requests, and this feed shows them"
        self.traffic.pause()
        self.traffic_panel.setEnabled(False)
        self.traffic_panel.setToolTip(why)
        self.act_traffic.setEnabled(False)
        self.act_traffic.setToolTip(why)
        self.act_traffic.setStatusTip(why)
        QTimer.singleShot(0, self, self.refill_feed)  # once the loop runs: the window first

    def refill_feed(self) -> asyncio.Task[None] | None:
        """Reads the store's recent rows into the feed (in a worker thread); a read
        already under way is replaced. None without a running loop (no read)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.info("no running event loop: the feed is not filled from the store")
            return None
        if self._refill is not None and not self._refill.done():
            self._refill.cancel()
        self._refill = loop.create_task(self._read_recent())
        return self._refill

    async def _read_recent(self) -> None:
        try:
            stored = await recent(self.engine.store.requests, now=self.engine.clock.now())
        except StorageError as exc:
            message.warning(f"The feed shows only new requests: the recent ones could "
                            f"not be read ({exc})")
            return
        self.feed_model.reload(stored)

    def _on_store_changed(self, kind: str) -> None:
        """Another process changed what a view reads from the shared database."""
        if kind == "replies" and self.escalation.saved_replies is not None:
            self.escalation.saved_replies.reload()
        elif kind == "learned":
            self.learned.refresh()
        elif kind == "audit":
            self.audit.store_changed()

    def _on_database_link(self, up: bool, problem: str | None) -> None:
        self.link_banner.set_link(up, problem)
        if self.attached_segment is not None:
            self.attached_segment.set_link(up, problem)
        if not up:
            log.warning("live link to the database lost: %s", problem)
            return
        log.info("live link to the database back: every view reads the store again")
        self.resync()

    def resync(self) -> None:
        """Every view read from the store again: after a lost link, nothing of what
        changed meanwhile was announced."""
        self.refill_feed()
        if self._charts is not None:  # else built later, reading the store then
            self._charts.reload_history()
        self.escalations.refresh()
        self.escalations_segment.refresh()
        self.rules.on_rules_changed(None)
        for kind in ("replies", "learned", "audit"):
            self._on_store_changed(kind)

    def _show_new_requests(self) -> None:
        self.show_workspace(Workspace.WATCH)
        self.feed.show_new()

    # -- state kept between runs -----------------------------------------------------

    def _restore(self) -> None:
        geometry = self.store.value(KEY_GEOMETRY)
        if isinstance(geometry, QByteArray | bytes) and not self.restoreGeometry(geometry):
            log.warning("saved window geometry ignored: unreadable")
        for name in self.workspaces.splitters:
            self.workspaces.restore(name, self.store.value(KEY_SPLITTERS + name))
        self.show_workspace(stored(self.store, KEY_WORKSPACE, Workspace, Workspace.WATCH))
        tab = stored(self.store, KEY_RULES_TAB, int, 0)
        if 0 <= tab < self.rules_tabs.count():
            self.rules_tabs.setCurrentIndex(tab)
        self.set_theme(stored(self.store, KEY_THEME, Theme, Theme.DARK))

    def save_layout(self) -> None:
        self.store.setValue(KEY_GEOMETRY, self.saveGeometry())
        for name, state in self.workspaces.states():
            self.store.setValue(KEY_SPLITTERS + name, state)
        self.store.setValue(KEY_WORKSPACE, self.workspaces.current.value)
        self.store.setValue(KEY_RULES_TAB, self.rules_tabs.currentIndex())
        self.store.setValue(KEY_THEME, self.theme.value)
        self.store.sync()

    def reset_layout(self) -> None:
        self.workspaces.reset_sizes()

    def set_theme(self, theme: Theme) -> None:
        if theme is self.theme and self._theme_applied:
            return  # the action's toggled signal, echoing the call that checked it
        self.theme = theme
        self._theme_applied = True
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
        self.audit.stop()
        if self._refill is not None:
            self._refill.cancel()
        if isinstance(self.notifier, DesktopNotifier):
            self.notifier.close()
        self.rules.close_runner()  # its worker thread reads the engine's database
        self.learned.stop()  # so does a training
        log.info("window closed")
        super().closeEvent(event)
        self.closed.emit()

    # -- slots --------------------------------------------------------------------

    def _show_queue(self) -> None:
        self.showNormal()
        self.activateWindow()
        self.show_workspace(Workspace.ESCALATIONS)

    def _show_outage_items(self, ids: Sequence[int]) -> None:
        self.escalations.show_only(ids, "the outage's")
        self.show_workspace(Workspace.ESCALATIONS)

    def show_workspace(self, workspace: Workspace) -> None:
        self.workspaces.show_workspace(workspace)
        self._on_workspace(workspace.value)

    def _on_workspace(self, name: str) -> None:
        workspace = Workspace(name)
        self.workspace_actions[workspace].setChecked(True)
        # Behind another workspace the queue only announces what is new.
        self.escalations.set_in_view(workspace is Workspace.ESCALATIONS)
        self.audit.set_in_view(workspace is Workspace.AUDIT)

    def _show_message(self, level: str, text: str) -> None:
        self.statusBar().showMessage(text, message.SHOWN_MS[message.Level(level)])

    def _settle_in_feed(self, item: Escalation | None) -> None:
        """An item an operator resolved (here or in another console): its request's row
        in the feed says so."""
        if item is None or item.state is not EscalationState.RESOLVED or not item.outcome:
            return
        settled = item.outcome
        self.feed_model.settle(item.request_id, lambda shown: dataclasses.replace(
            shown, route=settled.route, status=settled.status, answer=settled.answer,
            latency_ms=settled.latency_ms, intent=settled.intent or shown.intent))

    def _export_audit(self) -> None:
        self.show_workspace(Workspace.AUDIT)  # what is exported is what it shows
        self.exporter.choose_audit(self.audit.listing)

    def _focus_compose(self) -> None:
        self.show_workspace(Workspace.WATCH)
        self.compose.focus()

    def show_rules(self) -> None:
        self.show_workspace(Workspace.RULES)
        self.rules_tabs.setCurrentWidget(self.rules)
        self.rules.table.setFocus()

    def show_learned(self) -> None:
        self.show_workspace(Workspace.RULES)
        self.rules_tabs.setCurrentWidget(self.learned)
        self.learned.refresh()

    def _follow_composed(self, request: Request) -> None:
        # The operator sent it to watch it: open it now, filled in as it runs.
        self.detail_model.follow(request)
        self.show_workspace(Workspace.WATCH)

    def _show_composed(self, sent_id: str, outcome: Outcome) -> None:
        # Select it in the feed too (or say a filter hides it), unless the operator
        # has picked another request since. On an attached station the service's
        # intake answered it under an id of its own, and its row comes from the store,
        # maybe after this: the detail shows the outcome now, the row is selected when
        # it arrives.
        rid = outcome.request.id
        if not (self.detail_model.is_showing(sent_id) or self.detail_model.is_showing(rid)):
            return
        if rid != sent_id:
            self.detail.show_outcome(outcome)
        self.feed_model.flush()
        self._select_when_seen = None if self.feed.select_outcome(outcome) else outcome

    def _select_composed_row(self) -> None:
        waiting = self._select_when_seen
        if waiting is None or self.feed_model.changing:
            return
        self._select_when_seen = None  # selecting lets held rows in: no second try inside
        if self.detail_model.is_showing(waiting.request.id) and not self.feed.select_outcome(
                waiting):
            self._select_when_seen = waiting  # its row is not in yet

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
            dialog = SettingsDialog(self.engine.settings, self.engine.apply_settings,
                                    self.settings_path, self.credentials, self,
                                    test_server=self.parts.test_server,
                                    intake=self.intake_host)
            dialog.applied.connect(self._on_settings_applied)
            dialog.finished.connect(lambda _result: self._settings_closed())
            self.settings_dialog = dialog
        # open(), not exec(): a nested event loop would re-enter the asyncio loop.
        self.settings_dialog.open()
        return self.settings_dialog

    def open_tool_servers(self) -> SettingsDialog:
        dialog = self.open_settings()
        dialog.show_tool_servers()
        return dialog

    def open_intake_settings(self) -> SettingsDialog:
        dialog = self.open_settings()
        dialog.show_intake()
        return dialog

    def _settings_closed(self) -> None:
        if self.settings_dialog is not None:
            self.settings_dialog.deleteLater()
            self.settings_dialog = None

    def _on_settings_applied(self, settings: Settings) -> None:
        self._update_title(settings)
        self.parts.tool_states.reload()  # servers added or removed: the engine's list
        self.intake_segment.refresh()  # the dialog's Apply started, stopped or restarted it
        self.rules.operator = settings.escalations.operator  # who rule versions name
        self.learned.refresh()  # the learned tier reads the operator at each action

    def _update_title(self, settings: Settings) -> None:
        where = settings.llm.base_url or "demo, mock LLM"
        if self.attached_segment is not None:
            where = self.attached_segment.where
        self.setWindowTitle(f"Hybrid Agent Console — {where}")

    def shortcut_sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """Every action with a key, grouped by where it works (`window_menus`)."""
        return window_menus.shortcut_sections(self)
