"""Fixtures for the console's GUI tests: real widgets, offscreen, the engine on the Qt loop.

How asyncio and Qt meet in these tests
--------------------------------------
The app runs the engine on a qasync loop that *is* the Qt event loop. Tests do
the same: `qasync_loop` builds a `qasync.QEventLoop` over pytest-qt's `qapp`
and makes it the running asyncio loop (`asyncio.get_running_loop()` returns
it), without entering `exec()`. Qt is then driven the pytest-qt way, with
`qtbot.waitUntil` / `qtbot.wait`: each turn of the Qt loop also runs whatever
asyncio callbacks are due (qasync schedules them as Qt timers and socket
notifiers), so `engine.submit` tasks make progress while a test waits for what
a user would see. The `run_async` fixture waits for one coroutine that way.

Why not `QEventLoop(already_running=True)`: its only way back, `stop()`, calls
`QCoreApplication.exit()`, which emits `aboutToQuit` and makes every later
`QEventLoop.exec()` (pytest-qt's waits) return at once for the rest of the
session. Marking the loop running with asyncio's `_set_running_loop` (the hook
loop implementations use, and what qasync itself calls) and unmarking it at
teardown leaves the application as it found it.

Errors raised in asyncio tasks and callbacks would only be logged by asyncio;
the fixture collects them and fails the test that caused them.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported anywhere

import asyncio
import gc
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import qasync
from PySide6.QtCore import QSettings

from agentcore import Engine, KeyringCredentials, Settings
from agentcore.demo_shop.domain import CORPUS
from agentcore.replay import load_corpus
from console.app import Console, build_console

# The escalation desk's fixtures, shared by the workspace tests.
from tests.console.desk import clock, desk, notifier, tight  # noqa: F401

T = TypeVar("T")


@pytest.fixture(autouse=True)
def collect_on_the_gui_thread(qapp) -> Iterator[None]:
    """As the app does (`GuiThreadCollector`): no automatic collection during a GUI test,
    whose engine threads would otherwise collect its widgets' cycles off the GUI
    thread (the full suite then crashed later, in another test's processEvents); the
    test's garbage is collected here, on the GUI thread, once its widgets are closed."""
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        gc.enable()


@pytest.fixture
def qasync_loop(qapp) -> Iterator[qasync.QEventLoop]:
    loop = qasync.QEventLoop(qapp)
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    asyncio.set_event_loop(loop)
    asyncio.events._set_running_loop(loop)
    try:
        yield loop
        _settle(qapp, loop)
    finally:
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(None)
        loop.close()
    if errors:
        pytest.fail(f"errors in asyncio tasks or callbacks: {errors}")


def _settle(qapp, loop: asyncio.AbstractEventLoop) -> None:
    """Cancels what a test left running and lets the cancellations finish."""
    from PySide6.QtTest import QTest

    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    for _ in range(500):
        if all(t.done() for t in tasks):
            return
        QTest.qWait(10)


def run(qtbot, awaitable: Awaitable[T], timeout_ms: int = 15_000) -> T:
    """Waits, turning the Qt loop, until `awaitable` is done; returns its result."""
    future = asyncio.ensure_future(awaitable)
    qtbot.waitUntil(future.done, timeout=timeout_ms)
    return future.result()


@pytest.fixture
def run_async(qtbot, qasync_loop):
    """`run_async(coroutine)`: runs it on the test's qasync loop and returns its result."""
    return lambda awaitable, timeout_ms=15_000: run(qtbot, awaitable, timeout_ms)


@pytest.fixture
def corpus() -> list[dict[str, Any]]:
    return load_corpus(CORPUS)


@pytest.fixture
def window_store_path(tmp_path: Path) -> Path:
    """A QSettings file of the test's own: layout tests never touch the user's."""
    return tmp_path / "window.ini"


class ConsoleFactory:
    """Builds consoles the way the app does (`build_console`), with the test's own
    QSettings file; closes each as a user would and runs the app's shutdown."""

    def __init__(self, qtbot, store_path: Path, settings_path: Path,
                 corpus: list[dict[str, Any]]) -> None:
        self.qtbot = qtbot
        self.store_path = store_path
        self.settings_path = settings_path
        self.corpus = corpus
        self.open: list[Console] = []

    def __call__(self, settings: Settings, *,
                 rows: list[dict[str, Any]] | None = None, **kwargs: Any) -> Console:
        """`kwargs` go to `build_console` (a fake clock, a recording notifier)."""
        store = QSettings(str(self.store_path), QSettings.Format.IniFormat)
        console = build_console(settings, store=store, settings_path=self.settings_path,
                                credentials=KeyringCredentials(),
                                rows=self.corpus if rows is None else rows, **kwargs)
        self.open.append(console)
        return console

    def close(self, console: Console) -> None:
        if console in self.open:
            self.open.remove(console)
            console.window.close()
            run(self.qtbot, console.shutdown())
            # Gone, not just hidden: a closed window's timers must not tick through later tests.
            console.window.deleteLater()
            self.qtbot.wait(1)


@pytest.fixture
def make_console(qtbot, qasync_loop, tmp_path: Path, window_store_path: Path,
                 corpus) -> Iterator[ConsoleFactory]:
    factory = ConsoleFactory(qtbot, window_store_path, tmp_path / "settings.json", corpus)
    yield factory
    for console in list(factory.open):
        factory.close(console)


@pytest.fixture
def console(make_console: ConsoleFactory, settings: Settings) -> Console:
    return make_console(settings)



@pytest.fixture
def engine(settings: Settings, run_async: Any) -> Iterator[Engine]:
    """An engine of its own (no window), closed on the test's loop."""
    engine = Engine(settings, credentials=KeyringCredentials())
    yield engine
    run_async(engine.close())


@pytest.fixture
def settings_path(tmp_path: Path) -> Path:
    return tmp_path / "config" / "settings.json"
