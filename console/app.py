"""The composition root: builds the engine, the bridge and the window, runs them on
one event loop, and shuts them down in order.

Start-up is one straight, logged sequence:

    logging -> arguments -> QApplication -> qasync loop (the only event loop)
    -> error reporter (sys.excepthook + the loop's exception handler)
    -> settings (file, --data-dir, demo defaults) -> engine -> bridge -> window
    -> demo traffic -> run until the window closes

Shutdown is explicit: traffic stops and what is in flight finishes (an accepted
request is never left half-done), the bridge unsubscribes, and
`engine.close()` closes the LLM clients and the databases.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import logging.handlers
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtCore import QSettings, QTimer, qVersion
from PySide6.QtWidgets import QApplication, QMessageBox

from agentcore import (
    ClaimSession,
    Clock,
    Engine,
    EscalationSettings,
    KeyringCredentials,
    OutageTracker,
    QueueWatcher,
    RedactingFilter,
    RejectedSuggestions,
    RuleBook,
    RuleSession,
    SavedReplies,
    Settings,
    SettingsError,
    ShopOverMcp,
    UserFacingError,
    add_database_flag,
    database_name,
    database_url,
    default_settings_path,
    demo_shop_over_mcp,
    install_log_redaction,
    load_corpus,
    redact,
    start_tracing,
    test_server,
)
from console.backtest_runner import BacktestRunner
from console.bridge import EngineBridge
from console.controllers import Controllers
from console.errors import ErrorReporter
from console.learned_session import LearnedSession
from console.main_window import KEY_RATE, MainWindow, stored
from console.notifier import Notifier
from console.reply_draft import drafter
from console.statusbar import spent_today
from console.system_check import check_before_qt
from console.tool_servers_model import ServerStates
from console.traffic import TrafficGenerator

log = logging.getLogger("console.app")

APP_NAME = "Hybrid Agent Console"
# The demo's mock LLM answers after a realistic delay unless the settings file
# says otherwise: with 0 ms the slow path would look as fast as a rule.
DEMO_LLM_LATENCY_MS = 400.0
DEMO_SHOP_LATENCY_MS = 40.0  # each tool call's round trip: parallel calls show in the trace


ATTACH_FROM_SETTINGS = ""  # --attach without a URL: the settings' intake address


def attach_url(settings: Settings, given: str) -> str:
    """The services' intake an attached station sends through (`given`, or the
    settings' intake address). SettingsError on a private SQLite file: a station there
    would see no other station's work, nor the services'."""
    if not settings.uses_postgres:
        raise SettingsError(
            "--attach makes this console an operator station on the team's shared "
            "database, and this one is the private SQLite file in the data folder: give "
            "--database postgresql://user@host:port/database (the one the services use)")
    if given:
        return given.rstrip("/")
    host = settings.intake.host
    if host in ("0.0.0.0", "::", ""):  # a service bound to every address: reach it here
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.intake.port}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="agent-console", description=__doc__.split("\n")[0])
    parser.add_argument("--settings", type=Path, default=None,
                        help=f"settings file (default: {default_settings_path()})")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder of the engine's databases (default: from the settings)")
    add_database_flag(parser, default=None)
    parser.add_argument("--corpus", type=Path, default=None,
                        help="JSONL requests the traffic generator replays (default: the "
                             "domain's sample requests)")
    parser.add_argument("--domain", default=None, metavar="MODULE:FACTORY",
                        help="the agent's world: module:factory or an installed domain's "
                             "name (default: from the settings, else the demo shop)")
    parser.add_argument("--rate", type=float, default=None,
                        help="traffic rate in requests/s (default: the last one used)")
    parser.add_argument("--attach", nargs="?", const=ATTACH_FROM_SETTINGS, default=None,
                        metavar="INTAKE_URL",
                        help="an operator station on the team's PostgreSQL --database: the "
                             "services behind this intake answer what it sends (default: "
                             "the settings' intake address, http://127.0.0.1:8088)")
    parser.add_argument("--no-traffic", action="store_true",
                        help="do not start the demo traffic at start-up")
    parser.add_argument("--quit-after", type=float, default=None, metavar="SECONDS",
                        help="close the window after this long (smoke tests, benchmarks)")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--shop-over-mcp", nargs="?", const="stdio", choices=("stdio", "http"),
                        default=None, help="the demo shop's tools from its MCP server over "
                        "stdio (the default) or Streamable HTTP on loopback")
    return parser.parse_args(list(argv) if argv is not None else None)


def load_settings(path: Path, data_dir: Path | None, domain: str | None = None,
                  database: str | None = None) -> Settings:
    """The settings file, the command line's data folder, domain and database, and the
    demo's realism."""
    settings = Settings.load(path)
    if data_dir is not None:
        settings.data_dir = data_dir
    if domain is not None:
        settings.domain = domain
    if database is not None:
        settings.database_url = database_url(database)
    if settings.llm.base_url is None:  # demo mode: the in-process mock LLM
        if "latency_median_ms" not in settings.mock.model_fields_set:
            settings.mock.latency_median_ms = DEMO_LLM_LATENCY_MS
        if "shop_latency_ms" not in settings.model_fields_set:
            settings.shop_latency_ms = DEMO_SHOP_LATENCY_MS
    return settings


def window_store() -> QSettings:
    """Window geometry, dock layout, theme and traffic rate: beside the settings file."""
    path = default_settings_path().parent / "window.ini"
    return QSettings(str(path), QSettings.Format.IniFormat)


class Console:
    """Everything the composition root built, in the order it must be closed."""

    def __init__(self, engine: Engine, bridge: EngineBridge, window: MainWindow,
                 stop_tracing: Callable[[], None] = lambda: None) -> None:
        self.engine = engine
        self.stop_tracing = stop_tracing
        self.bridge = bridge
        self.window = window
        # Connected now, not when the loop starts: a window closed before the first
        # await (a very early quit) must still end the run.
        self.closed = asyncio.Event()
        window.closed.connect(self.closed.set)

    async def run_until_closed(self) -> None:
        await self.closed.wait()

    async def shutdown(self) -> None:
        log.info("shutting down: stopping traffic")
        await self.window.traffic.stop()
        await self.window.compose.drain()
        self.bridge.close()
        self.window.escalations_segment.stop()  # its timer must not read a closed database
        self.window.escalations.stop()
        self.window.escalation.stop()
        self.window.outage_banner.stop()  # a hand-back in flight must not outlive the queue
        self.window.intake_segment.stop()
        await self.window.intake_host.stop()  # in-flight HTTP requests finish first
        await asyncio.to_thread(self.stop_tracing)  # flushing may wait on the collector
        await self.engine.close()
        log.info("engine closed")


def build_console(settings: Settings, *, store: QSettings, settings_path: Path,
                  credentials: KeyringCredentials, rows: Sequence[dict[str, Any]] | None,
                  errors: ErrorReporter | None = None, clock: Clock | None = None,
                  notifier: Notifier | None = None, attach_to: str | None = None) -> Console:
    """The one place the app is composed: the engine, the bridge, the controllers and
    the window over them. `rows` None replays the domain's sample requests. `clock` and
    `notifier` are for tests: a fake clock moves leases and waiting times without
    sleeping; a recording notifier shows what would pop up. `attach_to`, a service's
    intake URL, makes it an operator station (`--attach`): on PostgreSQL only."""
    if attach_to is not None:
        attach_to = attach_url(settings, attach_to)
    engine = Engine(settings, credentials=credentials, clock=clock, attach_to=attach_to)
    if rows is None:
        rows = engine.domain.sample_requests()
    bridge = EngineBridge(engine)
    parts = build_controllers(engine, store, rows)
    window = MainWindow(engine, bridge, parts, store=store, settings_path=settings_path,
                        credentials=credentials, errors=errors,
                        spent_today=spent_today(engine.store.requests), notifier=notifier)
    # Qt owns them with the window: their timers die with it, not tick on into a
    # closed console (a timer left running once crashed a later test's event loop).
    for owned in (parts.traffic, parts.backtests):
        owned.setParent(window)
    # Each request's trace over OTLP when OTEL_EXPORTER_OTLP_* asks for it (else nothing).
    return Console(engine, bridge, window, start_tracing(engine, settings))


def build_controllers(engine: Engine, store: QSettings,
                      rows: Sequence[dict[str, Any]]) -> Controllers:
    def escalation_settings() -> EscalationSettings:
        return engine.settings.escalations  # read at each use: Settings may change it

    queue, now = engine.escalations, engine.clock.now
    outage = OutageTracker(now, queue.of_request)
    engine.subscribe(outage.observe)
    return Controllers(
        traffic=TrafficGenerator(engine.submit, rows, store=store,
                                 rate=stored(store, KEY_RATE, float, 5.0)),
        queue_watcher=QueueWatcher(queue, engine.domain.at_stake),
        claim_session=ClaimSession(
            queue, engine.clock, escalation_settings,
            draft=drafter(lambda: escalation_settings().operator, queue.limits_for)),
        saved_replies=SavedReplies(engine.store.replies, engine.clock),
        rule_session=RuleSession(RuleBook(engine), RejectedSuggestions(engine.store.rules),
                                 now=now, operator=engine.settings.escalations.operator),
        backtests=BacktestRunner(lambda: engine.router, engine.store.traffic, now=now,
                                 sample_size=lambda: engine.settings.backtest.sample),
        learned=LearnedSession(engine.learned, engine.store.traffic,
                               operator=lambda: escalation_settings().operator,
                               answerable=lambda: engine.router.answerable_intents(),
                               settings=lambda: engine.settings.learned, now=now),
        outage=outage,
        tool_states=ServerStates(engine.tool_servers.reports),
        test_server=test_server,
        escalation_settings=escalation_settings,
    )


class GuiThreadCollector:
    """The storage writer, the history reader and the HTTP client run threads of their
    own, and Python collects cycles on whichever thread allocates past the threshold.
    A cycle holding a widget, collected there, deletes it off the GUI thread, and Qt
    crashes later in an unrelated event (a segfault in processEvents). So automatic
    collection is off and a GUI-thread timer collects, each generation when it is past
    its usual threshold: pyqtgraph's GarbageCollector, which importing pyqtgraph
    (336 ms) before the first frame would cost too much to reuse."""

    def __init__(self, interval_ms: int = 1000) -> None:
        self.thresholds = gc.get_threshold()
        self.timer = QTimer()
        self.timer.timeout.connect(self.collect)
        gc.disable()
        self.timer.start(interval_ms)

    def collect(self) -> None:
        for generation, (count, threshold) in enumerate(
                zip(gc.get_count(), self.thresholds, strict=True)):
            if count <= threshold:
                return  # an older generation is only due after a younger one
            gc.collect(generation)

    def stop(self) -> None:
        self.timer.stop()
        gc.enable()


def freeze_startup_heap() -> None:
    """Everything built by start-up (modules, Qt wrappers, pydantic schemas) lives as
    long as the app: out of the collector's sight, a full collection under load
    pauses the GUI for ~55 ms instead of ~140 ms. No collection first: it would
    find under a hundred objects of garbage and add 60 ms to the start."""
    gc.freeze()


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    install_log_redaction()  # a safety net: texts are redacted where they enter already
    # One line per HTTP call to the LLM drowns everything else at demo rates.
    for noisy in ("httpx", "httpx2", "openai"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def _log_to_file(data_dir: Path) -> None:
    # A desktop app has no terminal: the log also goes beside the data.
    data_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(data_dir / "console.log", maxBytes=2_000_000,
                                                   backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    logging.getLogger().addHandler(handler)


def _fatal(title: str, message: str) -> int:
    message = redact(message)  # any exception's text, shown in a box
    log.error("%s: %s", title, message)
    QMessageBox.critical(None, title, message)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    args = parse_args(argv)
    setup_logging(args.log_level)
    log.info("starting %s", APP_NAME)
    if QApplication.instance() is None and (status := check_before_qt()):
        return status  # Qt would abort naming the wrong package; the check named the right

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName("agent-console")
    # The window's close starts an async shutdown; Qt must not end the loop before it.
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    errors = ErrorReporter()
    errors.install(loop)
    log.info("event loop: qasync on Qt %s", qVersion())

    settings_path = args.settings or default_settings_path()
    shop_over_mcp: ShopOverMcp | None = None
    try:
        settings = load_settings(settings_path, args.data_dir, args.domain, args.database)
        shop_over_mcp = demo_shop_over_mcp(settings, args.shop_over_mcp)
        settings = shop_over_mcp.open()  # over HTTP: its server started, stopped at the end
        _log_to_file(settings.data_dir)
        log.info("settings: %s; data: %s; LLM: %s", settings_path, settings.data_dir,
                 settings.llm.base_url or f"mock ({settings.mock.latency_median_ms:g} ms)")
        rows = load_corpus(args.corpus) if args.corpus is not None else None
        if args.attach is not None:
            log.info("attached station: %s via %s", database_name(settings),
                     attach_url(settings, args.attach))
        console = build_console(settings, store=window_store(), settings_path=settings_path,
                                credentials=KeyringCredentials(), rows=rows, errors=errors,
                                attach_to=args.attach)
    except (UserFacingError, OSError, ValueError) as exc:  # the operator can fix these
        errors.uninstall()
        loop.close()
        if shop_over_mcp is not None:
            shop_over_mcp.close()
        return _fatal("The console cannot start", str(exc))
    except Exception as exc:  # a bug: the log has the traceback, the operator a message
        log.exception("start-up failed")
        errors.uninstall()
        loop.close()
        if shop_over_mcp is not None:
            shop_over_mcp.close()
        return _fatal("The console cannot start", f"{type(exc).__name__}: {exc} (see the log)")

    window = console.window
    if args.rate is not None:
        window.traffic_panel.rate.setValue(args.rate)
    window.show()
    freeze_startup_heap()
    collector = GuiThreadCollector()
    log.info("window ready in %.2f s", time.perf_counter() - started)
    window.charts_ready.connect(  # built after the first frame: the window is up without them
        lambda: log.info("charts ready in %.2f s", time.perf_counter() - started))
    if (settings.llm.base_url is None and not args.no_traffic and window.traffic.rows
            and not console.engine.attached):  # a station's services make the traffic
        window.traffic.start()  # demo mode shows the agent at work from the first second
    if args.quit_after is not None:
        QTimer.singleShot(int(args.quit_after * 1000), window.close)
    # Ctrl+C in the terminal closes the window like the Quit action does (where the
    # platform's loop supports signal handlers).
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, window.close)

    async def run() -> None:
        # The tool servers connect with the window up (each bounded by its start
        # timeout); a request that comes first waits for them, one that fails to start
        # leaves its tools out until it is back.
        servers = asyncio.ensure_future(console.engine.start())
        await window.intake_host.apply(settings.intake)  # Settings > Intake API, if on
        window.intake_segment.refresh()
        await console.run_until_closed()
        await console.shutdown()
        with contextlib.suppress(Exception):
            await servers

    try:
        loop.run_until_complete(run())
    finally:
        errors.uninstall()
        loop.close()
        if shop_over_mcp is not None:
            shop_over_mcp.close()
    collector.stop()
    log.info("bye")
    return 0
